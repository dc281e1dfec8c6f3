// Discover, inspect and plan: which partitions take part, their rows, and which rank reads each.
#pragma once

#include "partial_cache.hpp"
#include "partition_worker.hpp"

#include "sluice/coordinator/partition_check.hpp"
#include "sluice/job/job_spec.hpp"
#include "sluice/lake/partition_info.hpp"
#include "sluice/mpi/communicator.hpp"
#include "sluice/snapshot/snapshot.hpp"
#include "sluice/transform/pipeline.hpp"

#include <map>
#include <vector>

namespace sluice::coordinator {

struct Plan {
  std::vector<int> owner;              ///< reading rank per partition; -1: skipped (bad)
  /// Rows per partition: known once the first pass has opened every file (from the partial
  /// cache for cached ones), 0 before.
  std::vector<std::int64_t> rows;
  std::vector<char> is_cached;         ///< first pass's partial comes from the partial cache
  std::map<std::size_t, PartitionOutcome> cached;  ///< root only, with partials
  double imbalance = 1.0;
};

/// Collective: rank 0 lists the lake's partitions, every rank gets the list.
std::vector<lake::PartitionInfo> discover(const mpi::Communicator& comm, const job::JobSpec& job);

/// Collective: looks every partition up in the partial cache (if any) and balances the partitions over the ranks by file size
/// (largest first to the least-loaded rank). No file is opened here: each partition is opened
/// once, by the rank that reads it, which checks its schema then.
Plan make_plan(const mpi::Communicator& comm, const std::vector<lake::PartitionInfo>& partitions,
               const PartialCache* cache);

/// Collective, after the first pass: every rank learns each partition's rows and which were
/// skipped while reading (they take no part in later passes). Throws on every rank when every
/// partition was skipped.
void complete_plan(const mpi::Communicator& comm,
                   const std::map<std::size_t, PartitionOutcome>& outcomes, Plan& plan);

/// One pass's share-out: the rank reading each partition (-1: none this pass) and each
/// partition's weight for progress and largest-first ordering.
struct PassPlan {
  std::vector<int> reader;
  std::vector<std::int64_t> weight;
  bool is_first = false; ///< the first pass: where bad partitions may be skipped
};

/// The first pass leaves out cached partitions (their partials come from the cache) and,
/// rows being unknown until files are opened, weighs partitions by file size; later passes read
/// every partition that was not skipped and weigh it by its rows.
PassPlan plan_pass(const Plan& plan, const std::vector<lake::PartitionInfo>& partitions,
                   bool is_first_pass);

/// Collective: rank 0 opens the first partition's group (its member list only, no data) and
/// checks the pipeline against it: no derived column shadows a column of the lake and, unless bad
/// partitions are skipped, every raw input exists. A file that cannot be opened is left to the
/// reader (and the bad-partition policy). Under `[lake] isolate = true` the group is first listed
/// by `checker` in another process, and a file it refuses is not opened here either.
void check_pipeline_columns(const mpi::Communicator& comm, const job::JobSpec& job,
                            const std::vector<lake::PartitionInfo>& partitions,
                            const transform::Pipeline& pipeline,
                            const PartitionChecker& checker);

/// Runs fn on the root only; a failure there becomes the same AgreedError on every rank.
void on_root(const mpi::Communicator& comm, const std::function<void()>& fn);

} // namespace sluice::coordinator
