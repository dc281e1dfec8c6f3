// SufficientStats: count, means and centred co-moments of [features..., label], mergeable exactly.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <span>
#include <vector>

namespace sluice::model {

/// Sufficient statistics of a linear least-squares problem over the columns z = [x_1..x_d, y]:
/// n, the mean of z and the centred co-moment matrix Σ (z − mean)(z − mean)ᵀ (lower triangle).
/// They hold the same information as n, Σx, Σy, XᵀX, Xᵀy and yᵀy, but centred, so that merging
/// and solving do not lose precision when the data are far from the origin.
struct SufficientStats {
  std::int64_t count = 0;
  Eigen::VectorXd mean;      ///< size k = d + 1
  Eigen::MatrixXd comoment;  ///< k×k; only the lower triangle is meaningful

  /// Statistics of zero rows over k columns.
  static SufficientStats empty(Eigen::Index num_columns);

  Eigen::Index num_columns() const noexcept { return mean.size(); }

  /// Adds other's rows (Chan, Golub and LeVeque's pairwise update). Not commutative in the last
  /// bits: callers merge in a fixed order (tile order, then partition order) for reproducibility.
  void merge(const SufficientStats& other);

  /// Flat form for messages and checkpoints: [count, mean(k), lower triangle of the comoment,
  /// column by column] — a symmetric matrix travels as one triangle.
  std::vector<double> to_buffer() const;
  /// Throws Error unless the buffer has buffer_size(num_columns) values.
  static SufficientStats from_buffer(std::span<const double> buffer, Eigen::Index num_columns);
  static std::size_t buffer_size(Eigen::Index num_columns);
  /// The column count k of a buffer of `size` values, or -1 if no k fits.
  static Eigen::Index columns_of_buffer(std::size_t size);
};

} // namespace sluice::model
