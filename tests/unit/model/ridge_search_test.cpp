// The ridge alpha search: CV table against dense per-fold solves, refit bits, threads, keys.
#include "model/ridge_search.hpp"

#include "in_process_engine.hpp"
#include "model_test_support.hpp"

#include "sluice/error.hpp"
#include "sluice/model/model_kinds.hpp"

#include <Eigen/Dense>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

using namespace sluice;
using testing_support::fit_in_process;

namespace {

constexpr int num_features = 4;

job::ModelSpec spec_of(nlohmann::json params, const std::string& label = "y") {
  return testing_support::model_spec("ridge", num_features, label, std::move(params));
}

// Uneven partitions of [x0..x3, y] with y = x·w + 3 + noise.
std::vector<Eigen::MatrixXd> make_partitions(std::vector<int> rows = {3000, 17, 5000, 1, 700, 2500, 40, 900}) {
  std::mt19937_64 random(11);
  std::normal_distribution<double> normal;
  std::vector<Eigen::MatrixXd> partitions;
  for (int n : rows) {
    Eigen::MatrixXd data(n, num_features + 1);
    for (Eigen::Index i = 0; i < data.size(); ++i) data.data()[i] = normal(random);
    data.col(0).array() += 5.0;
    data.col(2) *= 3.0;
    data.col(num_features) = data.leftCols(num_features) * Eigen::Vector4d(1, -2, 0.5, 0.01) +
                             Eigen::VectorXd::Constant(n, 3.0) + 0.5 * data.col(num_features);
    partitions.push_back(std::move(data));
  }
  return partitions;
}

// Every saved value, flattened column-major (texts apart).
struct Recorder final : model::ParameterWriter {
  std::map<std::string, std::vector<double>> values;
  std::map<std::string, std::string> texts;
  void scalar(const std::string& name, double value) override { values[name] = {value}; }
  void integer(const std::string& name, std::int64_t value) override {
    values[name] = {static_cast<double>(value)};
  }
  void text(const std::string& name, const std::string& value) override { texts[name] = value; }
  void vector(const std::string& name, const Eigen::VectorXd& v) override {
    values[name].assign(v.data(), v.data() + v.size());
  }
  void matrix(const std::string& name, const Eigen::MatrixXd& m) override {
    values[name].assign(m.data(), m.data() + m.size());
    values[name + ".rows"] = {static_cast<double>(m.rows())};
  }
  void strings(const std::string&, const std::vector<std::string>&) override {}
};

Recorder saved(const model::Trainer& trainer) {
  Recorder recorder;
  trainer.model()->save(recorder);
  return recorder;
}

// Rows of every fold, with the hash fit_in_process's partition keys give.
std::vector<Eigen::MatrixXd> rows_by_fold(const std::vector<Eigen::MatrixXd>& partitions,
                                          std::uint64_t seed, model::FoldBy fold_by, int folds) {
  std::vector<std::vector<Eigen::RowVectorXd>> rows(static_cast<std::size_t>(folds));
  for (std::size_t p = 0; p < partitions.size(); ++p) {
    const std::uint64_t path_hash = 0x9e3779b97f4a7c15ULL * (p + 1);
    for (Eigen::Index i = 0; i < partitions[p].rows(); ++i) {
      if (!partitions[p].row(i).allFinite()) continue;
      const auto f = model::fold_of(seed, path_hash, i, fold_by, folds);
      rows[static_cast<std::size_t>(f)].push_back(partitions[p].row(i));
    }
  }
  std::vector<Eigen::MatrixXd> out;
  for (const auto& fold : rows) {
    Eigen::MatrixXd m(static_cast<Eigen::Index>(fold.size()), num_features + 1);
    for (std::size_t i = 0; i < fold.size(); ++i) m.row(static_cast<Eigen::Index>(i)) = fold[i];
    out.push_back(std::move(m));
  }
  return out;
}

// Dense reference: ridge on the other folds' rows, MSE on fold f's rows.
double dense_validation_mse(const std::vector<Eigen::MatrixXd>& folds, std::size_t f, double alpha,
                            bool fit_intercept) {
  Eigen::Index rows = 0;
  for (std::size_t g = 0; g < folds.size(); ++g) rows += g == f ? 0 : folds[g].rows();
  Eigen::MatrixXd train(rows, num_features + 1);
  Eigen::Index at = 0;
  for (std::size_t g = 0; g < folds.size(); ++g) {
    if (g == f) continue;
    train.middleRows(at, folds[g].rows()) = folds[g];
    at += folds[g].rows();
  }
  Eigen::MatrixXd x = train.leftCols(num_features);
  Eigen::VectorXd y = train.col(num_features);
  Eigen::RowVectorXd x_mean = Eigen::RowVectorXd::Zero(num_features);
  double y_mean = 0;
  if (fit_intercept) {
    x_mean = x.colwise().mean();
    y_mean = y.mean();
  }
  Eigen::MatrixXd xc = x.rowwise() - x_mean;
  Eigen::MatrixXd system = xc.transpose() * xc;
  system.diagonal().array() += alpha;
  Eigen::VectorXd w = system.ldlt().solve(xc.transpose() * (y.array() - y_mean).matrix());
  const double b = y_mean - x_mean.dot(w);
  Eigen::VectorXd residual = (folds[f].col(num_features).array() - b).matrix() -
                             folds[f].leftCols(num_features) * w;
  return residual.squaredNorm() / static_cast<double>(folds[f].rows());
}

} // namespace

TEST(RidgeSearchTest, fit_validation_table_matches_dense_per_fold_solves) {
  auto partitions = make_partitions();
  // Dropped rows keep their row numbers, so the other rows keep their folds.
  partitions[0](7, 1) = NAN;
  partitions[2](4000, 4) = INFINITY;
  partitions[2](4001, 0) = NAN;
  const std::vector<double> alphas = {1000, 0.1, 30, 0};
  struct Case { std::string fold_by; int folds; std::uint64_t seed; bool fit_intercept; };
  for (const Case& c : {Case{"row", 5, 7, true}, Case{"partition", 3, 1, false}}) {
    SCOPED_TRACE(c.fold_by);
    auto trainer = model::make_trainer(spec_of({{"alpha", alphas}, {"folds", c.folds},
                                                {"fold_by", c.fold_by}, {"seed", c.seed},
                                                {"fit_intercept", c.fit_intercept}}));
    fit_in_process(*trainer, partitions, {.block_rows = 1500, .nonfinite = model::NonFinitePolicy::drop_rows});
    const auto fold_by = c.fold_by == "row" ? model::FoldBy::row : model::FoldBy::partition;
    const auto folds = rows_by_fold(partitions, c.seed, fold_by, c.folds);
    const Recorder recorder = saved(*trainer);
    const std::vector<double>& table = recorder.values.at("search_validation_mse");
    ASSERT_EQ(table.size(), alphas.size() * static_cast<std::size_t>(c.folds));
    EXPECT_EQ(recorder.values.at("search_validation_mse.rows"), std::vector<double>{double(c.folds)});
    std::vector<double> mean(alphas.size(), 0.0);
    for (std::size_t a = 0; a < alphas.size(); ++a) {
      for (std::size_t f = 0; f < folds.size(); ++f) {
        ASSERT_GT(folds[f].rows(), 0) << "fold " << f;
        const double expected = dense_validation_mse(folds, f, alphas[a], c.fit_intercept);
        const double actual = table[a * folds.size() + f];
        EXPECT_NEAR(actual, expected, 1e-10 * expected) << "alpha " << alphas[a] << " fold " << f;
        mean[a] += actual / static_cast<double>(folds.size());
      }
      EXPECT_NEAR(recorder.values.at("search_mean_mse")[a], mean[a], 1e-14 * mean[a]);
    }
    const auto best = std::min_element(mean.begin(), mean.end()) - mean.begin();
    EXPECT_EQ(testing_support::metric_of(*trainer, "alpha"), alphas[static_cast<std::size_t>(best)]);
    EXPECT_EQ(recorder.values.at("alpha"), std::vector<double>{alphas[static_cast<std::size_t>(best)]});
    EXPECT_EQ(recorder.texts.at("search_fold_by"), c.fold_by);
    EXPECT_EQ(recorder.values.at("search_folds"), std::vector<double>{double(c.folds)});
    EXPECT_EQ(testing_support::metric_of(*trainer, "num_rows"), 12158.0 - 3);
  }
}

TEST(RidgeSearchTest, fit_refit_has_the_bits_of_plain_ridge_with_the_chosen_alpha) {
  const auto partitions = make_partitions();
  auto search = model::make_trainer(spec_of({{"alpha", {1000, 30, 1, 0.1}}, {"folds", 4}}));
  fit_in_process(*search, partitions, {.block_rows = 1500});
  const double chosen = testing_support::metric_of(*search, "alpha");
  EXPECT_NE(chosen, 1000.0);
  auto plain = model::make_trainer(spec_of({{"alpha", chosen}}));
  fit_in_process(*plain, partitions, {.block_rows = 1500});
  const Recorder a = saved(*search);
  const Recorder b = saved(*plain);
  EXPECT_EQ(search->model()->kind(), "ridge");
  EXPECT_EQ(a.values.at("coefficients"), b.values.at("coefficients"));
  EXPECT_EQ(a.values.at("intercept"), b.values.at("intercept"));
  EXPECT_EQ(testing_support::metric_of(*search, "rmse"), testing_support::metric_of(*plain, "rmse"));
  EXPECT_EQ(testing_support::metric_of(*search, "r2"), testing_support::metric_of(*plain, "r2"));
  EXPECT_EQ(search->statistics()->comoment, plain->statistics()->comoment);
  EXPECT_EQ(search->model()->describe().rfind(plain->model()->describe(), 0), 0u);
}

TEST(RidgeSearchTest, fit_threads_keep_bits) {
  const auto partitions = make_partitions();
  const nlohmann::json params = {{"alpha", {10, 1, 0.1}}, {"folds", 7}, {"seed", 3}};
  auto one = model::make_trainer(spec_of(params));
  fit_in_process(*one, partitions, {.num_threads = 1});
  auto two = model::make_trainer(spec_of(params));
  fit_in_process(*two, partitions, {.num_threads = 2});
  EXPECT_EQ(saved(*one).values, saved(*two).values);
  EXPECT_EQ(one->metrics(), two->metrics());
}

TEST(RidgeSearchTest, fit_singular_alpha_is_left_out_and_empty_fold_is_a_data_error) {
  auto partitions = make_partitions({500, 300});
  for (auto& p : partitions) p.col(1) = p.col(0); // alpha = 0 is singular on every fold
  auto trainer = model::make_trainer(spec_of({{"alpha", {0, 1}}, {"folds", 3}}));
  fit_in_process(*trainer, partitions);
  EXPECT_EQ(testing_support::metric_of(*trainer, "alpha"), 1.0);
  const Recorder recorder = saved(*trainer);
  EXPECT_EQ(recorder.values.at("search_mean_mse")[0], -1.0);
  EXPECT_EQ(recorder.values.at("search_validation_mse")[0], -1.0);
  EXPECT_GT(recorder.values.at("search_mean_mse")[1], 0.0);

  auto only_singular = model::make_trainer(spec_of({{"alpha", {0}}, {"folds", 3}}));
  EXPECT_THROW(fit_in_process(*only_singular, partitions), NumericalError);

  auto too_many = model::make_trainer(spec_of({{"alpha", {1}}, {"folds", 50}, {"fold_by", "partition"}}));
  try {
    fit_in_process(*too_many, partitions);
    ADD_FAILURE() << "no error";
  } catch (const DataError& error) {
    EXPECT_NE(std::string(error.what()).find("of 50 holds no rows; lower model.folds"), std::string::npos)
        << error.what();
  }
}

TEST(RidgeSearchTest, keys_are_validated) {
  auto error_of = [](nlohmann::json params, const std::string& label = "y") -> std::string {
    try {
      model::make_trainer(spec_of(std::move(params), label));
    } catch (const ConfigError& error) {
      return error.what();
    }
    return "no error";
  };
  const nlohmann::json empty = nlohmann::json::array();
  EXPECT_NE(error_of({{"alpha", empty}}).find("'model.alpha' must be an array of 1..1000 numbers"), std::string::npos);
  EXPECT_NE(error_of({{"alpha", {1, -1}}}).find("'model.alpha' must hold finite numbers >= 0"), std::string::npos);
  EXPECT_NE(error_of({{"alpha", {1}}, {"folds", 1}}).find("'model.folds' must be 2..100"), std::string::npos);
  EXPECT_NE(error_of({{"alpha", {1}}, {"fold_by", "diagonal"}}).find("'model.fold_by' must be 'row' or 'partition'"), std::string::npos);
  EXPECT_NE(error_of({{"alpha", {1}}, {"seed", -2}}).find("'model.seed' must be an integer >= 0"), std::string::npos);
  EXPECT_NE(error_of({{"alpha", {1}}, {"fold", 3}}).find("unknown key 'model.fold'"), std::string::npos);
  EXPECT_NE(error_of({{"alpha", {1}}}, "").find("'model.label' is missing"), std::string::npos);
  EXPECT_EQ(error_of({{"alpha", {1, 2}}, {"folds", 100}, {"fold_by", "partition"}}), "no error");
}
