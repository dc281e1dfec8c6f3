// publish_run: on the coordinator, turn a finished fit into a validated snapshot and run report.
#pragma once

#include "lake_plan.hpp"
#include "run_report.hpp"

#include "sluice/job/job_spec.hpp"
#include "sluice/model/trainer.hpp"
#include "sluice/transform/pipeline.hpp"

#include <filesystem>

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
  const std::vector<PassRecord>& passes;
  const nlohmann::json& rank_stages;
  const nlohmann::json& rank_cache;
  StageTimer& timer;
};

struct PublishOutput {
  std::int64_t version = 0;
  std::filesystem::path path;
  std::int64_t num_rows = 0;
};

/// Root only. Refuses (NumericalError) a model whose parameters or metrics are not finite, so
/// nothing non-finite is ever published; then, when `is_publishing`, writes the snapshot and the
/// report atomically into the registry and removes the checkpoint.
PublishOutput publish_run(const PublishInput& input, bool is_publishing);

} // namespace sluice::coordinator
