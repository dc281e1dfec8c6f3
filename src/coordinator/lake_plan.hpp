// Discover, inspect and plan: which partitions take part, their rows, and which rank reads each.
#pragma once

#include "partition_worker.hpp"

#include "sluice/job/job_spec.hpp"
#include "sluice/lake/partition_info.hpp"
#include "sluice/mpi/communicator.hpp"
#include "sluice/snapshot/snapshot.hpp"

#include <map>
#include <vector>

namespace sluice::coordinator {

struct Plan {
  std::vector<int> owner;              ///< reading rank per partition; -1: skipped (bad)
  std::vector<std::int64_t> rows;
  std::vector<char> is_resumed;        ///< first pass's partial comes from the checkpoint
  std::vector<snapshot::SkippedPartition> skipped;  ///< root only
  std::map<std::size_t, PartitionOutcome> resumed;  ///< root only, with partials
  double imbalance = 1.0;
};

/// Collective: rank 0 lists the lake's partitions, every rank gets the list.
std::vector<lake::PartitionInfo> discover(const mpi::Communicator& comm, const job::JobSpec& job);

/// Collective: inspects the partitions' schema for `columns` (spread over the ranks), applies
/// the bad-partition policy, loads the checkpoint and balances the rows over the ranks.
Plan make_plan(const mpi::Communicator& comm, const job::JobSpec& job,
               const std::vector<std::string>& columns,
               const std::vector<lake::PartitionInfo>& partitions);

/// Runs fn on the root only; a failure there becomes the same AgreedError on every rank.
void on_root(const mpi::Communicator& comm, const std::function<void()>& fn);

} // namespace sluice::coordinator
