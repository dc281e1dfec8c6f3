// Closed-form ridge regression from centred sufficient statistics.
#include "sluice/model/ridge_trainer.hpp"

#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>

namespace sluice::model {

RidgeFit RidgeTrainer::fit(const SufficientStats& stats) const {
  RidgeFit fit;
  fit.num_rows = stats.count;
  const Eigen::Index d = stats.num_columns() - 1;
  if (stats.count == 0 || d < 0) return fit;

  const double n = static_cast<double>(stats.count);
  Eigen::MatrixXd full = stats.comoment.selfadjointView<Eigen::Lower>();
  Eigen::MatrixXd gram = full.topLeftCorner(d, d);
  Eigen::VectorXd cross = full.col(d).head(d);
  double label_ss = full(d, d);
  const Eigen::VectorXd feature_mean = stats.mean.head(d);
  const double label_mean = stats.mean(d);
  if (!options_.fit_intercept) {
    // Without an intercept the problem is about raw (uncentred) moments.
    gram += n * feature_mean * feature_mean.transpose();
    cross += n * label_mean * feature_mean;
    label_ss += n * label_mean * label_mean;
  }

  Eigen::MatrixXd system = gram;
  system.diagonal().array() += options_.alpha;
  // Jacobi scaling makes the condition estimate independent of the features' units.
  Eigen::VectorXd scale = system.diagonal().array().max(0.0).sqrt().inverse();
  if (!scale.allFinite()) {
    fit.status = FitStatus::singular; // a constant (or all-zero) feature and no penalty
    return fit;
  }
  Eigen::MatrixXd scaled = scale.asDiagonal() * system * scale.asDiagonal();
  Eigen::LDLT<Eigen::MatrixXd> ldlt(scaled);
  fit.rcond = d == 0 ? 1.0 : ldlt.rcond();
  // An exactly singular matrix can leave a zero pivot and a NaN estimate: test the pivots too,
  // and write the comparisons so that NaN counts as singular.
  const Eigen::VectorXd pivots = ldlt.vectorD();
  const double pivot_ratio = d == 0 ? 1.0 : pivots.minCoeff() / pivots.maxCoeff();
  const bool is_well_posed = fit.rcond >= singular_rcond && pivot_ratio >= singular_rcond;
  if (ldlt.info() != Eigen::Success || !ldlt.isPositive() ||
      (options_.alpha == 0.0 && !is_well_posed)) {
    fit.status = FitStatus::singular;
    return fit;
  }
  fit.coefficients = scale.asDiagonal() * ldlt.solve(scale.asDiagonal() * cross);
  fit.intercept = options_.fit_intercept ? label_mean - feature_mean.dot(fit.coefficients) : 0.0;

  // Σ(y − ŷ)² expanded in the statistics; cancellation can leave a tiny negative for exact fits.
  const Eigen::VectorXd& w = fit.coefficients;
  double sse = label_ss - 2.0 * w.dot(cross) + w.dot(gram * w);
  sse = std::max(sse, 0.0);
  const double total_ss = full(d, d);
  fit.rmse = std::sqrt(sse / n);
  fit.r2 = total_ss > 0.0 ? 1.0 - sse / total_ss : 0.0;
  fit.status = FitStatus::success;
  return fit;
}

} // namespace sluice::model
