// Tile kernels: column sums and XᵀX per tile of rows (gram_lower), centred exactly.
#include "sluice/model/block_accumulator.hpp"

#include "sluice/model/gram.hpp"

#include "tiled_accumulator.hpp"

#include <omp.h>

#include <cmath>

namespace sluice::model {
namespace {

using ConstBlock = Eigen::Map<const Eigen::MatrixXd, 0, Eigen::OuterStride<>>;

using Rows = Eigen::Ref<const Eigen::MatrixXd, 0, Eigen::OuterStride<>>;

// One pass over the rows: the lower triangle of comoment becomes rowsᵀ·rows (the upper one is
// zeroed and never read), and the column sums come back, in an order fixed by the shape alone.
Eigen::VectorXd gram_and_sums(const Rows& rows, Eigen::MatrixXd& comoment) {
  Eigen::VectorXd sums(rows.cols());
  comoment.setZero();
  gram_lower(rows.data(), rows.outerStride(), rows.rows(), rows.cols(), comoment.data(),
             comoment.outerStride(), sums.data());
  return sums;
}

// The raw products ZᵀZ − n·m·mᵀ lose about log10(ZᵀZ_jj / C_jj) digits to cancellation. Up to
// this ratio (|mean| up to ~32 standard deviations) the loss stays near 1e-13 relative and the
// centring copy can be skipped; beyond it the rows are centred first. The choice depends only on
// the data, so it keeps results reproducible.
constexpr double max_cancellation_ratio = 1024.0;

// Turns the raw products in stats.comoment into the centred comoment; false if too imprecise.
bool centre_products(const Eigen::VectorXd& sums, SufficientStats& stats) {
  const double n = static_cast<double>(stats.count);
  const Eigen::VectorXd raw_diagonal = stats.comoment.diagonal();
  stats.comoment.selfadjointView<Eigen::Lower>().rankUpdate(sums / n, -n);
  for (Eigen::Index j = 0; j < stats.comoment.cols(); ++j) {
    const double centred = stats.comoment(j, j);
    if (raw_diagonal(j) == 0.0) continue; // an all-zero column: exact either way
    if (!(centred * max_cancellation_ratio >= raw_diagonal(j))) return false;
  }
  return true;
}

// Statistics of finite rows whose raw products and sums gram_and_sums has just computed.
void finish_statistics(const Rows& rows, const Eigen::VectorXd& sums, SufficientStats& stats,
                       Eigen::MatrixXd& centred) {
  const Eigen::Index n = rows.rows();
  stats.count = n;
  if (n == 0) {
    stats.mean.setZero();
    return;
  }
  stats.mean = sums / static_cast<double>(n);
  if (centre_products(sums, stats)) return;
  centred = rows.rowwise() - stats.mean.transpose();
  gram_and_sums(centred, stats.comoment);
}

void accumulate_tile(const ConstBlock& tile, std::int64_t first_row, NonFinitePolicy policy,
                     SufficientStats& stats, NonFiniteReport& report, Eigen::MatrixXd& scratch) {
  report = NonFiniteReport{};
  // Any NaN or Inf makes its column's sum non-finite, so a finite sum proves a clean tile cheaply;
  // a sum that overflowed only sends us down the exact (slow) path, which then finds nothing.
  Eigen::VectorXd sums = gram_and_sums(tile, stats.comoment);
  // Σx² ≤ max² bounds every |x| by max, so a tile passing this needs no per-value check.
  if (sums.allFinite() &&
      (stats.comoment.diagonal().array() <= max_abs_value * max_abs_value).all()) {
    finish_statistics(tile, sums, stats, scratch);
    return;
  }
  FiniteScratch finite_scratch;
  FiniteRows finite{tile, {}, first_row};
  if (!select_finite_rows(tile, first_row, policy, report, finite_scratch, finite)) {
    stats.count = 0;
    return;
  }
  sums = gram_and_sums(finite.rows, stats.comoment);
  finish_statistics(finite.rows, sums, stats, scratch);
}

} // namespace

BlockAccumulator::BlockAccumulator(Eigen::Index num_columns, const AccumulatorOptions& options)
    : num_columns_(num_columns), options_(options), stats_(SufficientStats::empty(num_columns)),
      rows_seen_(options.first_row) {}

void BlockAccumulator::add_block(const double* data, std::int64_t leading_dimension,
                                 std::int64_t rows) {
  const std::int64_t num_tiles = begin_block(rows);
#pragma omp parallel for schedule(static) num_threads(options_.num_threads)
  for (std::int64_t t = 0; t < num_tiles; ++t) compute_tile(t, data, leading_dimension, rows);
  end_block(rows);
}

std::int64_t BlockAccumulator::begin_block(std::int64_t rows) {
  const std::int64_t num_tiles = (rows + tile_rows - 1) / tile_rows;
  if (static_cast<std::int64_t>(tiles_.size()) < num_tiles) {
    tiles_.resize(static_cast<std::size_t>(num_tiles),
                  Tile{SufficientStats::empty(num_columns_), {}, {}});
  }
  return num_tiles;
}

void BlockAccumulator::compute_tile(std::int64_t t, const double* data,
                                    std::int64_t leading_dimension, std::int64_t rows) {
  const std::int64_t begin = t * tile_rows;
  const std::int64_t count = std::min(tile_rows, rows - begin);
  ConstBlock tile(data + begin, count, num_columns_, Eigen::OuterStride<>(leading_dimension));
  Tile& slot = tiles_[static_cast<std::size_t>(t)];
  accumulate_tile(tile, rows_seen_ + begin, options_.nonfinite, slot.stats, slot.nonfinite,
                  slot.centred);
}

void BlockAccumulator::end_block(std::int64_t rows) {
  const std::int64_t num_tiles = (rows + tile_rows - 1) / tile_rows;
  // Merging in tile order is what makes the bits independent of the thread count.
  for (std::int64_t t = 0; t < num_tiles; ++t) {
    const Tile& slot = tiles_[static_cast<std::size_t>(t)];
    stats_.merge(slot.stats);
    if (slot.nonfinite.num_values > 0) {
      if (nonfinite_.first_row < 0) {
        nonfinite_.first_row = slot.nonfinite.first_row;
        nonfinite_.first_column = slot.nonfinite.first_column;
      }
      nonfinite_.num_values += slot.nonfinite.num_values;
      nonfinite_.num_rows += slot.nonfinite.num_rows;
    }
  }
  rows_seen_ += rows;
}

} // namespace sluice::model
