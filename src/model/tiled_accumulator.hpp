// TiledAccumulator: the tile bookkeeping every model kind shares (slots, non-finite rows, tile
// order), around a kind's Kernel that computes one tile and folds tiles into its partial.
#pragma once

#include "sluice/model/trainer.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

namespace sluice::model {

using ConstTile = Eigen::Map<const Eigen::MatrixXd, 0, Eigen::OuterStride<>>;

/// The rows of a tile a kernel may use: the tile itself when every value is finite, else (under
/// drop_rows) a compacted copy of its finite rows with their row numbers within the partition.
struct FiniteRows {
  ConstTile rows;
  std::span<const std::int64_t> row_numbers; ///< empty: row i is first_row + i
  std::int64_t first_row = 0;

  std::int64_t row_number(Eigen::Index i) const {
    return row_numbers.empty() ? first_row + i : row_numbers[static_cast<std::size_t>(i)];
  }
};

/// Scratch for compacting a tile, reused from block to block.
struct FiniteScratch {
  Eigen::MatrixXd kept;
  std::vector<std::int64_t> row_numbers;
};

/// Counts unusable values (NaN, ±Inf, |x| > max_abs_value) into `report` (which must start empty
/// for this tile). Returns false when the tile must be left out (error policy: the job fails on
/// the report anyway).
bool select_finite_rows(const ConstTile& tile, std::int64_t first_row, NonFinitePolicy policy,
                        NonFiniteReport& report, FiniteScratch& scratch, FiniteRows& out);

/// Adds a tile's report to a partition's, keeping the first location.
void add_report(NonFiniteReport& into, const NonFiniteReport& tile);

/// Kernel requirements:
///   struct State;                           per-tile result, reused across blocks
///   State make_state() const;
///   void compute(const FiniteRows&, State&) const;   thread-safe for distinct states
///   void clear(State&) const;               a tile left out
///   void fold(const State&);                in tile order
///   Partial finish();
template <typename Kernel>
class TiledAccumulator final : public PartialAccumulator {
public:
  TiledAccumulator(Kernel kernel, Eigen::Index num_columns, const AccumulatorOptions& options)
      : kernel_(std::move(kernel)), num_columns_(num_columns), options_(options),
        rows_seen_(options.first_row) {}

  std::int64_t begin_block(std::int64_t rows) override {
    const std::int64_t num_tiles = (rows + tile_rows - 1) / tile_rows;
    while (static_cast<std::int64_t>(slots_.size()) < num_tiles) {
      slots_.push_back(Slot{kernel_.make_state(), {}, {}});
    }
    return num_tiles;
  }

  void compute_tile(std::int64_t t, const double* data, std::int64_t leading_dimension,
                    std::int64_t rows) override {
    const std::int64_t begin = t * tile_rows;
    const std::int64_t count = std::min(tile_rows, rows - begin);
    ConstTile tile(data + begin, count, num_columns_, Eigen::OuterStride<>(leading_dimension));
    Slot& slot = slots_[static_cast<std::size_t>(t)];
    slot.report = NonFiniteReport{};
    FiniteRows finite{tile, {}, rows_seen_ + begin};
    if (options_.is_known_usable ||
        select_finite_rows(tile, rows_seen_ + begin, options_.nonfinite, slot.report,
                           slot.scratch, finite)) {
      kernel_.compute(finite, slot.state);
    } else {
      kernel_.clear(slot.state);
    }
  }

  void end_block(std::int64_t rows) override {
    const std::int64_t num_tiles = (rows + tile_rows - 1) / tile_rows;
    for (std::int64_t t = 0; t < num_tiles; ++t) {
      const Slot& slot = slots_[static_cast<std::size_t>(t)];
      kernel_.fold(slot.state);
      add_report(nonfinite_, slot.report);
    }
    rows_seen_ += rows;
  }

  Partial finish() override { return kernel_.finish(); }
  NonFiniteReport nonfinite() const override { return nonfinite_; }

private:
  struct Slot {
    typename Kernel::State state;
    NonFiniteReport report;
    FiniteScratch scratch;
  };

  Kernel kernel_;
  Eigen::Index num_columns_;
  AccumulatorOptions options_;
  std::vector<Slot> slots_;
  NonFiniteReport nonfinite_;
  std::int64_t rows_seen_ = 0;
};

} // namespace sluice::model
