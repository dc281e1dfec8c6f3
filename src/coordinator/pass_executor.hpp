// run_pass: one rank's share of one pass — its partitions, its threads, progress, failures.
#pragma once

#include "lake_plan.hpp"
#include "partition_cache.hpp"
#include "partition_worker.hpp"
#include "progress.hpp"

#include "sluice/coordinator/run_job.hpp"
#include "sluice/model/trainer.hpp"

#include <map>
#include <vector>

namespace sluice::coordinator {

struct PassWork {
  std::vector<PartitionOutcome> outcomes; ///< ascending partition index
  bool is_stopped = false;
};

/// Collective. Runs the trainer's current pass over this rank's partitions (plan.owner == rank,
/// leaving out resumed ones when `is_first_pass`), with the job's threads: whole partitions per
/// thread when there are at least as many as threads, else threads share each block. Bad
/// partitions follow the job's policy; any failure is agreed on by every rank before returning.
PassWork run_pass(const mpi::Communicator& comm, const job::JobSpec& job,
                  const model::Trainer& trainer,
                  const std::vector<lake::PartitionInfo>& partitions, const Plan& plan,
                  bool is_first_pass, const RunOptions& options, int num_threads,
                  RankCache& cache, Progress& progress);

/// The partitions this rank reads in a pass, ascending.
std::vector<std::size_t> partitions_of(const mpi::Communicator& comm, const Plan& plan,
                                       bool is_first_pass);

} // namespace sluice::coordinator
