// Static plan: partitions balanced over ranks by rows, longest-processing-time first.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace sluice::schedule {

/// Which rank reads which partition. Every rank processes its partitions in ascending index
/// order; the owner table lets the coordinator receive partial results in partition order.
struct Assignment {
  std::vector<int> owner;                           ///< per partition index
  std::vector<std::vector<std::size_t>> partitions; ///< per rank, ascending
  std::vector<std::int64_t> rows;                   ///< per rank

  /// max(rows) / mean(rows): 1 is perfect balance.
  double imbalance() const;
};

/// Greedy LPT: partitions in decreasing row count (ties by index) go to the least-loaded rank
/// (ties by rank). Pure and deterministic, so every rank could compute it; rank 0 does and
/// broadcasts. More ranks than partitions leaves ranks idle.
/// `pinned_owner` (empty, or one entry per partition): a partition with an owner >= 0 there goes
/// to that rank, before the others are balanced around it.
Assignment plan_partitions(std::span<const std::int64_t> rows_per_partition, int num_ranks,
                           std::span<const int> pinned_owner = {});

} // namespace sluice::schedule
