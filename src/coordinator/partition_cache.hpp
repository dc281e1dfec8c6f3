// PartitionCache: a rank's partition columns kept in memory between the passes of iterative kinds.
#pragma once

#include <cstdint>
#include <vector>

namespace sluice::coordinator {

/// One partition's columns, column-major with leading dimension rows, plus what reading it
/// established (content checksum, bytes), so later passes neither open nor re-hash the file.
struct CachedColumns {
  std::vector<double> values;
  std::int64_t rows = -1; ///< -1: not filled yet
  std::uint64_t checksum = 0;
  std::int64_t bytes = 0;

  bool is_filled() const noexcept { return rows >= 0; }
};

/// Half the node's physical memory divided by the ranks sharing the node: the default budget.
std::int64_t default_memory_budget(int ranks_on_node);

} // namespace sluice::coordinator
