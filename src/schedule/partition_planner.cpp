// Longest-processing-time-first assignment of partitions to ranks.
#include "sluice/schedule/partition_planner.hpp"

#include <algorithm>
#include <numeric>
#include <queue>

namespace sluice::schedule {

double Assignment::imbalance() const {
  if (rows.empty()) return 1.0;
  const double total = static_cast<double>(std::reduce(rows.begin(), rows.end(), std::int64_t{0}));
  if (total == 0) return 1.0;
  const double mean = total / static_cast<double>(rows.size());
  return static_cast<double>(*std::max_element(rows.begin(), rows.end())) / mean;
}

Assignment plan_partitions(std::span<const std::int64_t> rows_per_partition, int num_ranks,
                           std::span<const int> pinned_owner) {
  const std::size_t num_partitions = rows_per_partition.size();
  Assignment assignment{.owner = std::vector<int>(num_partitions, 0),
                        .partitions = std::vector<std::vector<std::size_t>>(num_ranks),
                        .rows = std::vector<std::int64_t>(num_ranks, 0)};
  std::vector<std::size_t> order(num_partitions);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return rows_per_partition[a] > rows_per_partition[b];
  });
  const auto assign = [&](std::size_t index, int rank) {
    assignment.owner[index] = rank;
    assignment.partitions[static_cast<std::size_t>(rank)].push_back(index);
    assignment.rows[static_cast<std::size_t>(rank)] += rows_per_partition[index];
  };
  const auto is_pinned = [&](std::size_t index) {
    return index < pinned_owner.size() && pinned_owner[index] >= 0 && pinned_owner[index] < num_ranks;
  };
  for (std::size_t index = 0; index < num_partitions; ++index) {
    if (is_pinned(index)) assign(index, pinned_owner[index]);
  }
  // Min-heap of (load, rank): the least-loaded rank, lowest rank first on ties.
  using Load = std::pair<std::int64_t, int>;
  std::priority_queue<Load, std::vector<Load>, std::greater<>> loads;
  for (int rank = 0; rank < num_ranks; ++rank) {
    loads.emplace(assignment.rows[static_cast<std::size_t>(rank)], rank);
  }
  for (std::size_t index : order) {
    if (is_pinned(index)) continue;
    auto [load, rank] = loads.top();
    loads.pop();
    assign(index, rank);
    loads.emplace(load + rows_per_partition[index], rank);
  }
  for (auto& partitions : assignment.partitions) std::sort(partitions.begin(), partitions.end());
  return assignment;
}

} // namespace sluice::schedule
