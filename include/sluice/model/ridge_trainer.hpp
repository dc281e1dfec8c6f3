// RidgeTrainer: ridge / ordinary least squares with intercept, solved from SufficientStats.
#pragma once

#include "sluice/model/sufficient_stats.hpp"

#include <Eigen/Core>

namespace sluice::model {

struct RidgeOptions {
  double alpha = 0.0;        ///< L2 penalty on the coefficients (not on the intercept)
  bool fit_intercept = true;
};

/// The numerical outcome of a fit: a value, not an exception (like Eigen's ComputationInfo).
enum class FitStatus { success, singular, no_data };

struct RidgeFit {
  FitStatus status = FitStatus::no_data;
  Eigen::VectorXd coefficients;  ///< one per feature, in feature order
  double intercept = 0.0;
  double rmse = 0.0;             ///< training root mean squared error
  double r2 = 0.0;               ///< training coefficient of determination
  double rcond = 0.0;            ///< reciprocal condition estimate of the scaled system
  std::int64_t num_rows = 0;
};

/// Minimises Σ (y − Xw − b)² + alpha‖w‖² exactly from the statistics (the objective of
/// scikit-learn's Ridge). The system is Jacobi-scaled and solved by LDLᵀ; training RMSE and R²
/// follow from the statistics without another pass over the rows.
class RidgeTrainer {
public:
  explicit RidgeTrainer(const RidgeOptions& options) : options_(options) {}

  /// stats has columns [features..., label].
  RidgeFit fit(const SufficientStats& stats) const;

  /// The largest reciprocal condition number still treated as singular when alpha is 0.
  static constexpr double singular_rcond = 1e-13;

private:
  RidgeOptions options_;
};

} // namespace sluice::model
