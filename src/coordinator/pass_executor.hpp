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
  std::vector<PartitionOutcome> outcomes; ///< ascending unit index
  bool is_stopped = false;
  /// Under dynamic assignment (first pass): the rank that read each unit, on every rank.
  std::vector<int> readers;
};

/// Collective. Runs the trainer's current pass over this rank's work units (pass.reader == rank),
/// with the job's threads: whole partitions per
/// thread when there are at least as many as threads, else threads share each block. Bad
/// partitions follow the job's policy; in the first pass each finished partition goes to the
/// partial cache (when given) as soon as it is done; any failure is agreed on by every rank before returning.
/// `open_readers` (first pass): files this rank already has open; the first split of each is
/// read through that handle instead of opening the file again.
PassWork run_pass(const mpi::Communicator& comm, const job::JobSpec& job,
                  const model::Trainer& trainer,
                  const std::vector<lake::PartitionInfo>& partitions,
                  const std::vector<WorkUnit>& units, const PassPlan& pass,
                  const RunOptions& options, int num_threads, RankCache& cache,
                  const PartialCache* partial_cache, Progress& progress,
                  OpenReaders* open_readers = nullptr);

} // namespace sluice::coordinator
