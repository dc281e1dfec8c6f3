// Ridge and PCA as engine plug-ins, fitted in-process: dense references, thread-count bits, keys.
#include "sluice/model/model_kinds.hpp"

#include "in_process_engine.hpp"
#include "model_test_support.hpp"

#include "sluice/error.hpp"

#include <Eigen/Dense>
#include <gtest/gtest.h>

#include <random>

using namespace sluice;
using testing_support::fit_in_process;

namespace {

std::vector<Eigen::MatrixXd> random_partitions(int num_columns, std::vector<int> rows, int seed) {
  std::mt19937_64 random(static_cast<std::uint64_t>(seed));
  std::normal_distribution<double> normal;
  std::vector<Eigen::MatrixXd> partitions;
  for (int n : rows) {
    Eigen::MatrixXd data(n, num_columns);
    for (Eigen::Index i = 0; i < data.size(); ++i) data.data()[i] = normal(random);
    for (int j = 0; j < num_columns; ++j) data.col(j) *= 1.0 + j; // distinct variances
    data.col(0).array() += 5.0;
    partitions.push_back(std::move(data));
  }
  return partitions;
}

std::vector<double> scores_of(const model::FittedModel& fitted, const Eigen::MatrixXd& x) {
  std::vector<double> out(static_cast<std::size_t>(x.rows() * fitted.outputs().size()));
  fitted.score(x.data(), x.rows(), x.rows(), out.data(), x.rows());
  return out;
}

} // namespace

TEST(ModelKindsTest, ridge_plugin_matches_dense_solve_and_threads_keep_bits) {
  auto partitions = random_partitions(5, {3000, 17, 9000, 1}, 3);
  for (auto& p : partitions) p.col(4) = p.leftCols(4) * Eigen::Vector4d(1, -2, 0.5, 3) + p.col(4) * 0.01;
  auto trainer = model::make_trainer(testing_support::model_spec("ridge", 4, "y", {{"alpha", 0.5}}));
  EXPECT_EQ(fit_in_process(*trainer, partitions, {.block_rows = 4096}), 1);
  Eigen::MatrixXd all = testing_support::stack_partitions(partitions);
  Eigen::MatrixXd x = all.leftCols(4);
  Eigen::VectorXd y = all.col(4);
  Eigen::RowVectorXd mean = x.colwise().mean();
  Eigen::MatrixXd centred = x.rowwise() - mean;
  Eigen::MatrixXd system = centred.transpose() * centred + 0.5 * Eigen::MatrixXd::Identity(4, 4);
  Eigen::VectorXd w = system.ldlt().solve(centred.transpose() * (y.array() - y.mean()).matrix());
  auto fitted = trainer->model();
  std::vector<double> predicted = scores_of(*fitted, x.topRows(3));
  for (int i = 0; i < 3; ++i) {
    const double expected = y.mean() + (x.row(i) - mean).dot(w);
    EXPECT_NEAR(predicted[static_cast<std::size_t>(i)], expected, 1e-10 * std::abs(expected));
  }
  auto threaded = model::make_trainer(testing_support::model_spec("ridge", 4, "y", {{"alpha", 0.5}}));
  fit_in_process(*threaded, partitions, {.block_rows = 4096, .num_threads = 2});
  EXPECT_EQ(scores_of(*threaded->model(), x), scores_of(*fitted, x));
}

TEST(ModelKindsTest, pca_matches_dense_svd_with_fixed_signs) {
  auto partitions = random_partitions(6, {5000, 2500, 123}, 9);
  auto trainer = model::make_trainer(testing_support::model_spec("pca", 6, "", {{"components", 3}}));
  fit_in_process(*trainer, partitions);
  Eigen::MatrixXd all = testing_support::stack_partitions(partitions);
  Eigen::MatrixXd centred = all.rowwise() - all.colwise().mean();
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(centred, Eigen::ComputeThinV);
  const double n = static_cast<double>(all.rows());
  auto metrics = trainer->metrics();
  std::vector<double> scores = scores_of(*trainer->model(), all.topRows(1));
  for (int c = 0; c < 3; ++c) {
    Eigen::VectorXd axis = svd.matrixV().col(c);
    Eigen::Index largest = 0;
    axis.cwiseAbs().maxCoeff(&largest);
    if (axis(largest) < 0) axis = -axis;
    const double score = centred.row(0).dot(axis);
    EXPECT_NEAR(scores[static_cast<std::size_t>(c)], score, 1e-8 * (1 + std::abs(score))) << c;
    (void)n;
  }
  EXPECT_EQ(metrics.back().first, "num_rows");
  EXPECT_EQ(metrics.back().second, 7623.0);
}

TEST(ModelKindsTest, keys_are_validated_by_their_kind) {
  EXPECT_NE(testing_support::config_error_of(testing_support::model_spec("forest", 2, "y")).find("'model.kind' must be one of 'ridge'"), std::string::npos);
  EXPECT_NE(testing_support::config_error_of(testing_support::model_spec("ridge", 2, "y", {{"alpah", 1}})).find("unknown key 'model.alpah'"), std::string::npos);
  EXPECT_NE(testing_support::config_error_of(testing_support::model_spec("ridge", 2, "")).find("'model.label' is missing"), std::string::npos);
  EXPECT_NE(testing_support::config_error_of(testing_support::model_spec("ols", 2, "y", {{"alpha", 1}})).find("'model.alpha' must be 0"), std::string::npos);
  EXPECT_NE(testing_support::config_error_of(testing_support::model_spec("ridge", 2, "y", {{"alpha", -1}})).find("'model.alpha' must be a finite number >= 0"), std::string::npos);
  EXPECT_NE(testing_support::config_error_of(testing_support::model_spec("pca", 2, "", {{"components", 3}})).find("'model.components' must be 1..2"), std::string::npos);
  EXPECT_NE(testing_support::config_error_of(testing_support::model_spec("pca", 2, "", {{"components", 0}})).find("'model.components' must be 1..2"), std::string::npos);
  EXPECT_NE(testing_support::config_error_of(testing_support::model_spec("pca", 2, "y")).find("'model.label' is not used"), std::string::npos);
}
