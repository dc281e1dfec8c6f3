// publish_run: on the coordinator, turn a finished fit into a validated snapshot and run report.
#pragma once

#include "lake_plan.hpp"
#include "run_report.hpp"

#include "sluice/coordinator/run_job.hpp"
#include "sluice/job/job_spec.hpp"
#include "sluice/model/trainer.hpp"
#include "sluice/transform/feature_profile.hpp"
#include "sluice/transform/pipeline.hpp"

#include <filesystem>
#include <functional>
#include <string_view>

namespace sluice::coordinator {

struct PublishInput {
  const job::JobSpec& job;
  const mpi::Communicator& comm;
  int threads;
  const std::vector<lake::PartitionInfo>& partitions;
  const Plan& plan;
  const std::map<std::size_t, PartitionOutcome>& outcomes;
  const model::Trainer& trainer;
  const transform::Pipeline& pipeline; ///< fitted
  const transform::FeatureProfile& profile; ///< of the columns read
  std::int64_t warm_start_version;          ///< 0: a cold start
  const std::vector<PassRecord>& passes;
  const nlohmann::json& rank_stages;
  const nlohmann::json& rank_cache;
  StageTimer& timer;
  std::function<void(std::string_view)> fault_point = {}; ///< RunOptions::fault_point
};

struct PublishOutput {
  std::int64_t version = 0; ///< 0: nothing published (a dry run, or the gate said no)
  std::filesystem::path path;
  std::int64_t num_rows = 0;
  std::optional<GateResult> gate;
};

/// Root only. Refuses (NumericalError) a model whose parameters or metrics are not finite, so
/// nothing non-finite is ever published; then, when `is_publishing`, writes the snapshot and the
/// report atomically into the registry. With a gate, it first compares the model's metric with
/// the alias's version: only a challenger that beats it by more than the margin is published
/// (and the alias moved to it); the decision is recorded in the history either way.
PublishOutput publish_run(const PublishInput& input, bool is_publishing);

} // namespace sluice::coordinator
