// Tests of RidgeTrainer against dense least-squares solves and closed forms.
#include "sluice/model/ridge_trainer.hpp"

#include "direct_stats.hpp"

#include <Eigen/Dense>
#include <gtest/gtest.h>

using namespace sluice::model;

namespace {

SufficientStats stats_of(const Eigen::MatrixXd& x, const Eigen::VectorXd& y) {
  Eigen::MatrixXd z(x.rows(), x.cols() + 1);
  z << x, y;
  return sluice::testing_support::direct_stats(z);
}

double relative_error(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return (a - b).norm() / b.norm();
}

} // namespace

TEST(RidgeTrainerTest, fit_matches_dense_qr_with_intercept) {
  const Eigen::Index n = 2000, d = 7;
  Eigen::MatrixXd x = Eigen::MatrixXd::Random(n, d);
  x.col(3).array() += 50.0; // offset features are where the intercept and centring matter
  Eigen::VectorXd w = Eigen::VectorXd::LinSpaced(d, -1, 2);
  Eigen::VectorXd y = (x * w).array() + 3.5 + 0.01 * Eigen::ArrayXd::Random(n);
  for (double alpha : {0.0, 0.5, 100.0}) {
    Eigen::MatrixXd system = Eigen::MatrixXd::Zero(n + d, d + 1);
    system.topLeftCorner(n, d) = x;
    system.topRightCorner(n, 1).setOnes();
    system.bottomLeftCorner(d, d) = std::sqrt(alpha) * Eigen::MatrixXd::Identity(d, d);
    Eigen::VectorXd rhs = Eigen::VectorXd::Zero(n + d);
    rhs.head(n) = y;
    Eigen::VectorXd reference = system.colPivHouseholderQr().solve(rhs);
    RidgeFit fit = RidgeTrainer({.alpha = alpha}).fit(stats_of(x, y));
    ASSERT_EQ(fit.status, FitStatus::success);
    EXPECT_LT(relative_error(fit.coefficients, reference.head(d)), 1e-10) << "alpha " << alpha;
    EXPECT_NEAR(fit.intercept, reference(d), 1e-10 * std::abs(reference(d)));
    Eigen::VectorXd residual = y - x * fit.coefficients - Eigen::VectorXd::Constant(n, fit.intercept);
    const double rmse = std::sqrt(residual.squaredNorm() / static_cast<double>(n));
    const double r2 = 1 - residual.squaredNorm() / (y.array() - y.mean()).matrix().squaredNorm();
    EXPECT_NEAR(fit.rmse, rmse, 1e-8 * rmse);
    EXPECT_NEAR(fit.r2, r2, 1e-10);
  }
}

TEST(RidgeTrainerTest, fit_without_intercept_matches_dense_qr) {
  Eigen::MatrixXd x = Eigen::MatrixXd::Random(500, 4);
  x.array() += 2.0;
  Eigen::VectorXd y = x * Eigen::Vector4d(1, -2, 3, 0.5) + 0.1 * Eigen::VectorXd::Random(500);
  Eigen::VectorXd reference = x.colPivHouseholderQr().solve(y);
  RidgeFit fit = RidgeTrainer({.alpha = 0.0, .fit_intercept = false}).fit(stats_of(x, y));
  ASSERT_EQ(fit.status, FitStatus::success);
  EXPECT_LT(relative_error(fit.coefficients, reference), 1e-10);
  EXPECT_EQ(fit.intercept, 0.0);
}

TEST(RidgeTrainerTest, fit_reports_singular_systems_as_a_status) {
  Eigen::MatrixXd x = Eigen::MatrixXd::Random(100, 3);
  x.col(2) = 2.0 * x.col(0) - x.col(1); // exactly collinear
  Eigen::VectorXd y = Eigen::VectorXd::Random(100);
  EXPECT_EQ(RidgeTrainer({.alpha = 0.0}).fit(stats_of(x, y)).status, FitStatus::singular);
  EXPECT_EQ(RidgeTrainer({.alpha = 1e-3}).fit(stats_of(x, y)).status, FitStatus::success);

  Eigen::MatrixXd constant = Eigen::MatrixXd::Random(100, 2);
  constant.col(1).setConstant(4.0);
  EXPECT_EQ(RidgeTrainer({.alpha = 0.0}).fit(stats_of(constant, y)).status, FitStatus::singular);
  EXPECT_EQ(RidgeTrainer({}).fit(SufficientStats::empty(3)).status, FitStatus::no_data);
}

TEST(RidgeTrainerTest, fit_of_exact_data_recovers_the_truth) {
  Eigen::MatrixXd x = Eigen::MatrixXd::Random(64, 3);
  Eigen::VectorXd y = (x * Eigen::Vector3d(0.5, -0.25, 2.0)).array() - 1.0;
  RidgeFit fit = RidgeTrainer({.alpha = 0.0}).fit(stats_of(x, y));
  EXPECT_LT((fit.coefficients - Eigen::Vector3d(0.5, -0.25, 2.0)).norm(), 1e-12);
  EXPECT_NEAR(fit.intercept, -1.0, 1e-12);
  EXPECT_NEAR(fit.r2, 1.0, 1e-12);
  EXPECT_LT(fit.rmse, 1e-7);
}
