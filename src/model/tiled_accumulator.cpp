// Shared tile plumbing: threaded blocks, and the finite-row selection every kernel relies on.
#include "tiled_accumulator.hpp"

#include <omp.h>

namespace sluice::model {

void PartialAccumulator::add_block(const double* data, std::int64_t leading_dimension,
                                   std::int64_t rows, int num_threads) {
  const std::int64_t num_tiles = prepare_block(data, leading_dimension, rows);
#pragma omp parallel for schedule(static) num_threads(num_threads) if (num_threads > 1)
  for (std::int64_t t = 0; t < num_tiles; ++t) compute_tile(t, data, leading_dimension, rows);
  end_block(rows);
}

void add_report(NonFiniteReport& into, const NonFiniteReport& tile) {
  if (tile.num_values == 0) return;
  if (into.first_row < 0) {
    into.first_row = tile.first_row;
    into.first_column = tile.first_column;
  }
  into.num_values += tile.num_values;
  into.num_rows += tile.num_rows;
}

namespace {

bool is_usable(double value) { return std::abs(value) <= max_abs_value; } // false for NaN

// Two vectorised reductions per column: x·0 is NaN exactly for NaN and ±Inf, and the largest
// |x| of the finite ones is compared with the bound once.
bool is_all_usable(const ConstTile& tile) {
  for (Eigen::Index j = 0; j < tile.cols(); ++j) {
    const double* column = tile.data() + j * tile.outerStride();
    double probe = 0.0;
    double largest = 0.0;
#pragma omp simd reduction(+ : probe) reduction(max : largest)
    for (Eigen::Index i = 0; i < tile.rows(); ++i) {
      probe += column[i] * 0.0;
      largest = std::max(largest, std::abs(column[i]));
    }
    if (probe != 0.0 || !(largest <= max_abs_value)) return false;
  }
  return true;
}

} // namespace

bool select_finite_rows(const ConstTile& tile, std::int64_t first_row, NonFinitePolicy policy,
                        NonFiniteReport& report, FiniteScratch& scratch, FiniteRows& out) {
  if (is_all_usable(tile)) return true;
  scratch.kept.resize(tile.rows(), tile.cols());
  scratch.row_numbers.clear();
  Eigen::Index num_kept = 0;
  for (Eigen::Index i = 0; i < tile.rows(); ++i) {
    Eigen::Index bad_in_row = 0;
    for (Eigen::Index j = 0; j < tile.cols(); ++j) {
      if (is_usable(tile(i, j))) continue;
      if (report.first_row < 0) {
        report.first_row = first_row + i;
        report.first_column = j;
      }
      ++bad_in_row;
    }
    report.num_values += bad_in_row;
    if (bad_in_row > 0) {
      ++report.num_rows;
    } else {
      scratch.kept.row(num_kept++) = tile.row(i);
      scratch.row_numbers.push_back(first_row + i);
    }
  }
  if (policy == NonFinitePolicy::error) return false;
  new (&out.rows) ConstTile(scratch.kept.data(), num_kept, tile.cols(),
                            Eigen::OuterStride<>(scratch.kept.rows()));
  out.row_numbers = scratch.row_numbers;
  return true;
}

} // namespace sluice::model
