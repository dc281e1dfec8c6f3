// PartitionCache: a rank's partition columns kept in memory between the passes of iterative kinds.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <vector>

namespace sluice::coordinator {

/// One work unit's columns (a partition, or a split of one), column-major with leading dimension rows, plus what reading it
/// established (its content checksum), so later passes neither open nor re-hash the file.
struct CachedColumns {
  std::vector<double> values;
  std::int64_t rows = -1; ///< -1: not filled yet
  std::vector<std::uint64_t> checksums; ///< per segment of the split grid

  bool is_refused = false; ///< did not fit the budget: re-read every pass
  bool is_all_usable = false; ///< the pass that filled it met no NaN, Inf or huge value

  bool is_filled() const noexcept { return rows >= 0; }
};

/// A rank's partitions kept in memory between the passes of iterative kinds: each partition
/// when it is first read, as long as the rank's total stays within the budget; the others are
/// re-read every pass.
struct RankCache {
  bool is_enabled = false;
  std::int64_t budget_bytes = 0;
  std::atomic<std::int64_t> used_bytes{0};    ///< reserved by the partitions held
  std::atomic<std::int64_t> refused_bytes{0}; ///< of the partitions that did not fit
  std::map<std::size_t, CachedColumns> columns; ///< by partition index, made before threads run

  /// Reserves `bytes` for one partition; false (and counted as refused) when over the budget.
  bool reserve(std::int64_t bytes);

  /// Whether every partition this rank reads is held in memory.
  bool is_holding_all() const noexcept { return is_enabled && refused_bytes == 0; }
  /// For the run report: in_memory, held/refused bytes, budget.
  nlohmann::json describe() const;
};



/// Half the node's physical memory divided by the ranks sharing the node: the default budget.
std::int64_t default_memory_budget(int ranks_on_node);

} // namespace sluice::coordinator
