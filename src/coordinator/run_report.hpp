// Stage timing and the JSON run report written beside each snapshot.
#pragma once

#include "lake_plan.hpp"
#include "partition_worker.hpp"

#include "sluice/job/job_spec.hpp"
#include "sluice/lake/partition_info.hpp"
#include "sluice/model/trainer.hpp"
#include "sluice/mpi/communicator.hpp"
#include "sluice/snapshot/snapshot.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace sluice::coordinator {

/// Wall time per stage on this rank; stages end in the order the flow reaches them.
class StageTimer {
public:
  explicit StageTimer(const mpi::Communicator& comm);
  void end_stage(const std::string& name);
  double total_seconds() const;
  /// Collective: every rank's stages, in rank order, on root (empty elsewhere).
  nlohmann::json gather(const mpi::Communicator& comm) const;
  const std::vector<std::pair<std::string, double>>& stages() const noexcept { return stages_; }

private:
  const mpi::Communicator& comm_;
  double start_;
  double last_;
  std::vector<std::pair<std::string, double>> stages_;
};

/// One pass of the engine: what it computed, its wall time, whether it ran from memory.
struct PassRecord {
  std::string name;
  double seconds = 0.0;
  bool is_from_memory = false;
};

struct RunReportInput {
  const job::JobSpec& job;
  int num_ranks;
  int threads;
  const std::vector<lake::PartitionInfo>& partitions;
  const std::vector<WorkUnit>& units;
  const std::map<std::size_t, PartitionOutcome>& outcomes; ///< by work unit
  /// Every skipped partition: at inspection and while reading.
  const std::vector<snapshot::SkippedPartition>& skipped;
  const nlohmann::json& rank_stages;
  const nlohmann::json& rank_cache; ///< per rank: describe_rank() (memory figures, placement)
  const std::vector<PassRecord>& passes;
  const StageTimer& root_timer;
  std::int64_t version;
  const model::Metrics& metrics;
};

/// This rank's memory figures (RankCache::describe) and where it ran: host name, the CPUs it may
/// run on (sched_getaffinity) and its thread count. Each rank gathers one to root for the report.
nlohmann::json describe_rank(const RankCache& cache, int threads);

/// The report (docs/run-report.md): per stage and per rank seconds, rows, bytes, load imbalance,
/// the passes and whether each rank kept its data in memory.
nlohmann::json make_run_report(const RunReportInput& input);

} // namespace sluice::coordinator
