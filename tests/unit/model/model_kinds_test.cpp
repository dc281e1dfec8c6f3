// Ridge and PCA as engine plug-ins, fitted in-process: dense references, thread-count bits, keys.
#include "sluice/model/model_kinds.hpp"

#include "in_process_engine.hpp"

#include "sluice/error.hpp"

#include <Eigen/Dense>
#include <gtest/gtest.h>

#include <random>

using namespace sluice;
using testing_support::fit_in_process;

namespace {

job::ModelSpec spec_of(const std::string& kind, int num_features, const std::string& label,
                       nlohmann::json params = nlohmann::json::object()) {
  job::ModelSpec spec;
  spec.kind = kind;
  for (int j = 0; j < num_features; ++j) spec.features.push_back("x" + std::to_string(j));
  spec.label = label;
  spec.params = job::ModelParams(std::move(params), "job.toml");
  return spec;
}

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

Eigen::MatrixXd stack(const std::vector<Eigen::MatrixXd>& partitions) {
  Eigen::Index rows = 0;
  for (const auto& p : partitions) rows += p.rows();
  Eigen::MatrixXd all(rows, partitions.front().cols());
  Eigen::Index at = 0;
  for (const auto& p : partitions) {
    all.middleRows(at, p.rows()) = p;
    at += p.rows();
  }
  return all;
}

std::string error_of(const job::ModelSpec& spec) {
  try {
    model::make_trainer(spec);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "no error";
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
  auto trainer = model::make_trainer(spec_of("ridge", 4, "y", {{"alpha", 0.5}}));
  EXPECT_EQ(fit_in_process(*trainer, partitions, {.block_rows = 4096}), 1);
  Eigen::MatrixXd all = stack(partitions);
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
  auto threaded = model::make_trainer(spec_of("ridge", 4, "y", {{"alpha", 0.5}}));
  fit_in_process(*threaded, partitions, {.block_rows = 4096, .num_threads = 2});
  EXPECT_EQ(scores_of(*threaded->model(), x), scores_of(*fitted, x));
}

TEST(ModelKindsTest, pca_matches_dense_svd_with_fixed_signs) {
  auto partitions = random_partitions(6, {5000, 2500, 123}, 9);
  auto trainer = model::make_trainer(spec_of("pca", 6, "", {{"components", 3}}));
  fit_in_process(*trainer, partitions);
  Eigen::MatrixXd all = stack(partitions);
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
  EXPECT_NE(error_of(spec_of("forest", 2, "y")).find("'model.kind' must be one of 'ridge'"), std::string::npos);
  EXPECT_NE(error_of(spec_of("ridge", 2, "y", {{"alpah", 1}})).find("unknown key 'model.alpah'"), std::string::npos);
  EXPECT_NE(error_of(spec_of("ridge", 2, "")).find("'model.label' is missing"), std::string::npos);
  EXPECT_NE(error_of(spec_of("ols", 2, "y", {{"alpha", 1}})).find("'model.alpha' must be 0"), std::string::npos);
  EXPECT_NE(error_of(spec_of("ridge", 2, "y", {{"alpha", -1}})).find("'model.alpha' must be a finite number >= 0"), std::string::npos);
  EXPECT_NE(error_of(spec_of("pca", 2, "", {{"components", 3}})).find("'model.components' must be 1..2"), std::string::npos);
  EXPECT_NE(error_of(spec_of("pca", 2, "", {{"components", 0}})).find("'model.components' must be 1..2"), std::string::npos);
  EXPECT_NE(error_of(spec_of("pca", 2, "y")).find("'model.label' is not used"), std::string::npos);
}
