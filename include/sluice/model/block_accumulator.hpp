// BlockAccumulator: turns blocks of rows into SufficientStats, threaded, with fixed tile order.
#pragma once

#include "sluice/model/sufficient_stats.hpp"

#include <cstdint>
#include <vector>

namespace sluice::model {

/// The largest magnitude a value may have: beyond it, squares and sums of squares of a partition
/// could overflow double precision, so such values are treated like NaN and ±Inf.
inline constexpr double max_abs_value = 1e100;

/// What to do with rows that hold NaN, ±Inf or a value beyond ±max_abs_value in a used column.
enum class NonFinitePolicy { error, drop_rows };

/// Where the first non-finite value of a partition sits, and how many there were.
struct NonFiniteReport {
  std::int64_t num_values = 0;    ///< non-finite values seen
  std::int64_t num_rows = 0;      ///< rows holding at least one
  std::int64_t first_row = -1;    ///< row index within the partition, -1 if none
  Eigen::Index first_column = -1; ///< column index within the block
};

struct AccumulatorOptions {
  NonFinitePolicy nonfinite = NonFinitePolicy::error;
  int num_threads = 1;
  /// The rows were already checked (e.g. a partition kept in memory whose first pass found no
  /// unusable value): kinds may skip the per-tile check.
  bool is_known_usable = false;
  /// The row of the partition where these blocks start: a partition is accumulated in segments
  /// of the split grid (a large one by several ranks), and row-keyed choices (folds, samples,
  /// validation rows) and non-finite reports use row numbers within the whole partition.
  std::int64_t first_row = 0;
};

/// Accumulates the statistics of one partition. Each block is cut into tiles of tile_rows rows
/// counted from the block's start; tiles are processed by any number of OpenMP threads and merged
/// in tile order, so the result has the same bits whatever the thread count.
class BlockAccumulator {
public:
  static constexpr std::int64_t tile_rows = 2048;

  BlockAccumulator(Eigen::Index num_columns, const AccumulatorOptions& options);

  /// Adds a column-major block of `rows` rows (leading dimension ld). Under the error policy, tiles
  /// with non-finite values are counted in nonfinite() and left out of the statistics.
  void add_block(const double* data, std::int64_t leading_dimension, std::int64_t rows);

  /// The same work split up, for callers that overlap reading the next block with computing this
  /// one: begin_block, then compute_tile for every tile index below the count it returned (from
  /// any threads, in any order), then end_block from one thread.
  std::int64_t begin_block(std::int64_t rows);
  void compute_tile(std::int64_t tile, const double* data, std::int64_t leading_dimension,
                    std::int64_t rows);
  void end_block(std::int64_t rows);

  const SufficientStats& stats() const noexcept { return stats_; }
  const NonFiniteReport& nonfinite() const noexcept { return nonfinite_; }

private:
  struct Tile {
    SufficientStats stats;
    NonFiniteReport nonfinite;
    Eigen::MatrixXd centred; // scratch, reused across blocks
  };

  Eigen::Index num_columns_;
  AccumulatorOptions options_;
  SufficientStats stats_;
  NonFiniteReport nonfinite_;
  std::int64_t rows_seen_ = 0;
  std::vector<Tile> tiles_;
};

} // namespace sluice::model
