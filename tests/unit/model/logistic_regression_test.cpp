// Logistic regression fitted in-process: a dense Newton reference, thread-count bits, bad labels,
// non-convergence, the exact AUC, key validation and huge margins.
#include "sluice/model/model_kinds.hpp"
#include "sluice/model/parameter_map.hpp"

#include "in_process_engine.hpp"
#include "model_test_support.hpp"

#include "sluice/error.hpp"

#include <Eigen/Dense>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>

using namespace sluice;
using testing_support::fit_in_process;

namespace {

const std::vector<int> uneven_rows = {3000, 17, 5000, 1};

// SplitMix64 with Box–Muller: the same data under every standard library (std::*_distribution
// are implementation-defined), so the cases that need a line search stay the same.
class Random {
public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  double uniform() { // [0, 1)
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  }
  double normal() { return std::sqrt(-2 * std::log1p(-uniform())) * std::cos(2 * std::numbers::pi * uniform()); }

private:
  std::uint64_t state_;
};

job::ModelSpec spec_of(int num_features, nlohmann::json params = nlohmann::json::object(),
                       const std::string& label = "y") {
  return testing_support::model_spec("logistic", num_features, label, std::move(params));
}

double sigmoid(double m) { return m >= 0 ? 1 / (1 + std::exp(-m)) : std::exp(m) / (1 + std::exp(m)); }

// Features N(0, scale_j²), labels drawn from a logistic model with unit effects per scale.
std::vector<Eigen::MatrixXd> logistic_partitions(const std::vector<double>& scales,
                                                 const std::vector<int>& rows, int seed) {
  Random random(static_cast<std::uint64_t>(seed));
  const auto d = static_cast<Eigen::Index>(scales.size());
  std::vector<Eigen::MatrixXd> partitions;
  for (int n : rows) {
    Eigen::MatrixXd data(n, d + 1);
    for (Eigen::Index i = 0; i < n; ++i) {
      double margin = 0.3;
      for (Eigen::Index j = 0; j < d; ++j) {
        const double z = random.normal();
        data(i, j) = z * scales[static_cast<std::size_t>(j)];
        margin += (j % 2 == 0 ? 1.0 : -0.7) * z;
      }
      data(i, d) = random.uniform() < sigmoid(margin) ? 1.0 : 0.0;
    }
    partitions.push_back(std::move(data));
  }
  return partitions;
}

// Independent reference: dense Newton on [X 1] (or X) to full convergence, with Jacobi-scaled QR
// solves and step halving while the objective C·Σ log-loss + ½‖w‖² does not decrease.
// Returns [w; b], b = 0 without an intercept.
Eigen::VectorXd dense_newton(const Eigen::MatrixXd& data, double C, bool fit_intercept = true) {
  const Eigen::Index d = data.cols() - 1;
  Eigen::MatrixXd a(data.rows(), fit_intercept ? d + 1 : d);
  a.leftCols(d) = data.leftCols(d);
  if (fit_intercept) a.col(d).setOnes();
  const Eigen::VectorXd y = data.col(d);
  const auto objective = [&](const Eigen::VectorXd& theta) {
    const Eigen::VectorXd m = a * theta;
    double loss = 0.0;
    for (Eigen::Index i = 0; i < m.size(); ++i) {
      const double z = y(i) == 1.0 ? m(i) : -m(i);
      loss += std::max(-z, 0.0) + std::log1p(std::exp(-std::abs(z)));
    }
    return C * loss + theta.head(d).squaredNorm() / 2;
  };
  Eigen::VectorXd theta = Eigen::VectorXd::Zero(a.cols());
  for (int iteration = 0; iteration < 200; ++iteration) {
    const Eigen::VectorXd p = (a * theta).unaryExpr([](double m) { return sigmoid(m); });
    Eigen::VectorXd gradient = a.transpose() * (p - y);
    gradient.head(d) += theta.head(d) / C;
    Eigen::MatrixXd hessian = a.transpose() * (p.array() * (1 - p.array())).matrix().asDiagonal() * a;
    hessian.diagonal().head(d).array() += 1 / C;
    const Eigen::VectorXd scale = hessian.diagonal().cwiseSqrt().cwiseInverse();
    const Eigen::MatrixXd scaled = scale.asDiagonal() * hessian * scale.asDiagonal();
    Eigen::VectorXd step = -(scale.asDiagonal() * scaled.colPivHouseholderQr().solve(scale.asDiagonal() * gradient));
    while (objective(theta + step) > objective(theta) && step.norm() > 1e-12 * theta.norm()) step /= 2;
    theta += step;
    if ((step.array().abs() <= 1e-16 * theta.array().abs()).all()) break;
  }
  if (!fit_intercept) theta.conservativeResizeLike(Eigen::VectorXd::Zero(d + 1));
  return theta;
}

model::ParameterMap saved(const model::FittedModel& fitted) {
  model::ParameterMap parameters;
  fitted.save(parameters);
  return parameters;
}

std::vector<double> scores_of(const model::FittedModel& fitted, const Eigen::MatrixXd& x) {
  std::vector<double> out(static_cast<std::size_t>(x.rows() * 2));
  fitted.score(x.data(), x.rows(), x.rows(), out.data(), x.rows());
  return out;
}

void expect_matches_dense(const std::vector<double>& scales, double C, double tol,
                          bool fit_intercept = true) {
  auto partitions = logistic_partitions(scales, uneven_rows, 5);
  auto trainer = model::make_trainer(spec_of(
      static_cast<int>(scales.size()), {{"C", C}, {"tol", tol}, {"fit_intercept", fit_intercept}}));
  fit_in_process(*trainer, partitions, {.block_rows = 4096});
  const Eigen::MatrixXd all = testing_support::stack_partitions(partitions);
  const Eigen::VectorXd expected = dense_newton(all, C, fit_intercept);
  const model::ParameterMap parameters = saved(*trainer->model());
  const Eigen::VectorXd w = parameters.vector("coefficients", static_cast<Eigen::Index>(scales.size()));
  for (Eigen::Index j = 0; j < w.size(); ++j) {
    EXPECT_NEAR(w(j), expected(j), 1e-8 * std::abs(expected(j))) << "coefficient " << j;
  }
  const double b = expected(w.size());
  EXPECT_NEAR(parameters.scalar("intercept"), b, 1e-8 * std::abs(b)); // exactly 0 without one
  EXPECT_EQ(testing_support::metric_of(*trainer, "num_rows"), static_cast<double>(all.rows()));
  // The metrics are the unpenalised fit at the final point; accuracy counts the model's classes.
  const Eigen::Index d = w.size();
  const std::vector<double> scores = scores_of(*trainer->model(), all.leftCols(d));
  double loss = 0.0, correct = 0.0;
  for (Eigen::Index i = 0; i < all.rows(); ++i) {
    const double m = all.row(i).head(d).dot(w) + parameters.scalar("intercept");
    const double z = all(i, d) == 1.0 ? m : -m;
    loss += std::log1p(std::exp(-z));
    correct += scores[static_cast<std::size_t>(all.rows() + i)] == all(i, d) ? 1.0 : 0.0;
  }
  const auto n = static_cast<double>(all.rows());
  EXPECT_NEAR(testing_support::metric_of(*trainer, "log_loss"), loss / n, 1e-12);
  EXPECT_EQ(testing_support::metric_of(*trainer, "accuracy"), correct / n);
}

} // namespace

TEST(LogisticRegressionTest, fit_matches_dense_newton_on_standardised_features) {
  expect_matches_dense({1, 1, 1, 1}, 1.0, 1e-8);
  expect_matches_dense({1, 1, 1, 1}, 0.01, 1e-8);
  expect_matches_dense({1, 1, 1, 1}, 1.0, 1e-8, false);
}

TEST(LogisticRegressionTest, fit_matches_dense_newton_on_raw_scales) {
  expect_matches_dense({1e-3, 1e4, 1.0, 30.0, 0.1}, 1.0, 1e-8);
  // Down to rounding: the last step changes the objective by less than its rounding error.
  expect_matches_dense({1e-3, 1e4, 1.0, 30.0, 0.1}, 1e3, 1e-12);
}

TEST(LogisticRegressionTest, fit_has_the_same_bits_for_any_thread_count) {
  auto partitions = logistic_partitions({1, 2, 0.5}, {9000, 17, 5000, 1}, 7);
  auto one = model::make_trainer(spec_of(3));
  auto two = model::make_trainer(spec_of(3));
  fit_in_process(*one, partitions, {.block_rows = 4096, .num_threads = 1});
  fit_in_process(*two, partitions, {.block_rows = 4096, .num_threads = 2});
  const model::ParameterMap a = saved(*one->model());
  const model::ParameterMap b = saved(*two->model());
  EXPECT_EQ(a.vector("coefficients"), b.vector("coefficients"));
  EXPECT_EQ(a.scalar("intercept"), b.scalar("intercept"));
  const Eigen::MatrixXd x = testing_support::stack_partitions(partitions).leftCols(3);
  EXPECT_EQ(scores_of(*one->model(), x), scores_of(*two->model(), x));
  EXPECT_EQ(one->metrics(), two->metrics());
  ASSERT_EQ(one->history().rows.size(), two->history().rows.size());
  for (std::size_t r = 0; r < one->history().rows.size(); ++r) {
    EXPECT_EQ(one->history().rows[r][1], two->history().rows[r][1]) << "objective of pass " << r;
  }
}

TEST(LogisticRegressionTest, fit_refuses_a_label_other_than_0_or_1) {
  auto partitions = logistic_partitions({1, 1}, uneven_rows, 3);
  partitions[2](17, 2) = 2.5;
  partitions[2](4000, 2) = 3.0; // a later one in another tile: the first is reported
  partitions[2](5, 0) = std::nan(""); // dropped rows keep the numbering of the partition
  for (int threads : {1, 2}) {
    auto trainer = model::make_trainer(spec_of(2));
    try {
      fit_in_process(*trainer, partitions, {.block_rows = 4096, .num_threads = threads,
                                            .nonfinite = model::NonFinitePolicy::drop_rows});
      ADD_FAILURE() << "no error";
    } catch (const DataError& error) {
      EXPECT_STREQ(error.what(), "label column 'y' holds 2.5 at row 17; kind 'logistic' needs 0 or 1");
    }
  }
}

TEST(LogisticRegressionTest, fit_refuses_a_label_of_one_class) {
  auto partitions = logistic_partitions({1, 1}, uneven_rows, 3);
  for (double only : {0.0, 1.0}) {
    for (auto& partition : partitions) partition.col(2).setConstant(only);
    auto trainer = model::make_trainer(spec_of(2));
    try {
      fit_in_process(*trainer, partitions);
      ADD_FAILURE() << "no error for a label of only " << only;
    } catch (const DataError& error) {
      EXPECT_STREQ(error.what(), fmt::format("label column 'y' holds only {}s in the 8018 usable "
                                             "rows: logistic regression needs rows of both classes",
                                             only).c_str());
    }
  }
}

TEST(LogisticRegressionTest, fit_fails_without_convergence_unless_allowed) {
  auto partitions = logistic_partitions({1, 1}, uneven_rows, 4);
  auto strict = model::make_trainer(spec_of(2, {{"max_iter", 1}}));
  try {
    fit_in_process(*strict, partitions);
    ADD_FAILURE() << "no error";
  } catch (const NumericalError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("did not converge in 1 iterations"), std::string::npos) << message;
    EXPECT_NE(message.find("model.allow_no_convergence = true"), std::string::npos) << message;
  }
  auto lenient = model::make_trainer(spec_of(2, {{"max_iter", 1}, {"allow_no_convergence", true}}));
  EXPECT_EQ(fit_in_process(*lenient, partitions), 3); // start, one Newton step, evaluation
  EXPECT_EQ(testing_support::metric_of(*lenient, "iterations"), 1.0);
  EXPECT_TRUE(std::isfinite(testing_support::metric_of(*lenient, "auc")));
  const model::History history = lenient->history();
  EXPECT_EQ(history.columns,
            (std::vector<std::string>{"iteration", "objective", "gradient_norm", "step", "seconds"}));
  ASSERT_EQ(history.rows.size(), 2U);
  EXPECT_LT(history.rows[1][1], history.rows[0][1]);
}

TEST(LogisticRegressionTest, auc_counts_every_pair_with_ties_as_half) {
  // Small integer features: many rows share a margin, within and across partitions.
  Random random(11);
  std::vector<Eigen::MatrixXd> partitions;
  for (int n : {40, 3, 25, 1}) {
    Eigen::MatrixXd data(n, 3);
    for (int i = 0; i < n; ++i) {
      data(i, 0) = std::floor(3 * random.uniform());
      data(i, 1) = std::floor(3 * random.uniform());
      data(i, 2) = random.uniform() < 0.4 || data(i, 0) == 2 ? 1.0 : 0.0;
    }
    partitions.push_back(std::move(data));
  }
  auto trainer = model::make_trainer(spec_of(2));
  fit_in_process(*trainer, partitions);
  const model::ParameterMap parameters = saved(*trainer->model());
  const Eigen::VectorXd w = parameters.vector("coefficients");
  const Eigen::MatrixXd all = testing_support::stack_partitions(partitions);
  std::vector<double> margin(static_cast<std::size_t>(all.rows()));
  for (Eigen::Index i = 0; i < all.rows(); ++i) {
    double m = parameters.scalar("intercept"); // the engine's order: b, then features in turn
    m += all(i, 0) * w(0);
    m += all(i, 1) * w(1);
    margin[static_cast<std::size_t>(i)] = m;
  }
  double pairs = 0.0, num_pairs = 0.0;
  for (Eigen::Index i = 0; i < all.rows(); ++i) {
    for (Eigen::Index k = 0; k < all.rows(); ++k) {
      if (all(i, 2) != 1.0 || all(k, 2) != 0.0) continue;
      const double mi = margin[static_cast<std::size_t>(i)], mk = margin[static_cast<std::size_t>(k)];
      pairs += mi > mk ? 1.0 : mi == mk ? 0.5 : 0.0;
      num_pairs += 1.0;
    }
  }
  EXPECT_DOUBLE_EQ(testing_support::metric_of(*trainer, "auc"), pairs / num_pairs);
  EXPECT_GT(testing_support::metric_of(*trainer, "auc"), 0.5);
}

TEST(LogisticRegressionTest, keys_are_validated_and_named) {
  EXPECT_NE(testing_support::config_error_of(spec_of(2, {{"C", 0}})).find("'model.C' must be a finite number > 0"), std::string::npos);
  EXPECT_NE(testing_support::config_error_of(spec_of(2, {{"C", -1.5}})).find("'model.C'"), std::string::npos);
  EXPECT_NE(testing_support::config_error_of(spec_of(2, {{"tol", 0}})).find("'model.tol' must be a finite number > 0"), std::string::npos);
  EXPECT_NE(testing_support::config_error_of(spec_of(2, {{"max_iter", 0}})).find("'model.max_iter' must be an integer >= 1"), std::string::npos);
  EXPECT_NE(testing_support::config_error_of(spec_of(2, {{"max_iter", 2.5}})).find("'model.max_iter' must be an integer"), std::string::npos);
  EXPECT_NE(testing_support::config_error_of(spec_of(2, {{"fit_intercept", 1}})).find("'model.fit_intercept' must be a boolean"), std::string::npos);
  EXPECT_NE(testing_support::config_error_of(spec_of(2, {{"alpha", 1}})).find("unknown key 'model.alpha'"), std::string::npos);
  EXPECT_NE(testing_support::config_error_of(spec_of(2, {}, "")).find("'model.label' is missing"), std::string::npos);
  EXPECT_EQ(testing_support::config_error_of(spec_of(2, {{"C", 2.0}, {"tol", 1e-6}, {"max_iter", 5}})), "no error");
}

TEST(LogisticRegressionTest, huge_margins_keep_the_loss_finite) {
  // Mostly noisy rows, plus rows 1000× larger on the right side of the boundary: their margins
  // pass ±800, where e^{−m} underflows and a naive loss or sigmoid gives inf or NaN.
  auto partitions = logistic_partitions({1, 1}, {3000, 17, 5000, 1}, 6);
  Random random(2);
  Eigen::MatrixXd far(40, 3);
  for (int i = 0; i < far.rows(); ++i) {
    far(i, 0) = 1000 * random.normal();
    far(i, 1) = 1000 * random.normal();
    far(i, 2) = 0.3 + far(i, 0) - 0.7 * far(i, 1) > 0 ? 1.0 : 0.0;
  }
  partitions.push_back(far);
  auto trainer = model::make_trainer(spec_of(2, {{"C", 100.0}}));
  fit_in_process(*trainer, partitions);
  for (const auto& [name, value] : trainer->metrics()) EXPECT_TRUE(std::isfinite(value)) << name;
  const model::ParameterMap parameters = saved(*trainer->model());
  const Eigen::VectorXd w = parameters.vector("coefficients");
  const Eigen::VectorXd margins = (far.leftCols(2) * w).array() + parameters.scalar("intercept");
  EXPECT_GT(margins.cwiseAbs().maxCoeff(), 800.0);
  const Eigen::VectorXd expected = dense_newton(testing_support::stack_partitions(partitions), 100.0);
  EXPECT_NEAR(w(0), expected(0), 1e-8 * std::abs(expected(0)));
  for (double p : scores_of(*trainer->model(), far.leftCols(2))) EXPECT_TRUE(std::isfinite(p));

  // Scoring at |margin| = 1e4 gives exact 0 and 1; a save and load keeps every parameter.
  model::ParameterMap extreme = parameters;
  extreme.vector("coefficients", Eigen::Vector2d(10.0, 0.0));
  auto loaded = model::load_fitted_model("logistic", {"x0", "x1"}, extreme);
  const Eigen::MatrixXd x{{1000.0, 0.0}, {-1000.0, 0.0}, {0.0, 0.0}};
  const std::vector<double> scores = scores_of(*loaded, x);
  EXPECT_EQ(scores[0], 1.0);
  EXPECT_EQ(scores[1], 0.0);
  EXPECT_EQ(scores[3], 1.0);
  EXPECT_EQ(scores[4], 0.0);
  EXPECT_EQ(loaded->describe(), "C=100, fit_intercept=true");
  EXPECT_EQ(saved(*model::load_fitted_model("logistic", {"x0", "x1"}, parameters)).values(),
            parameters.values());
}

TEST(LogisticRegressionTest, line_search_halves_steps_that_do_not_decrease_the_objective) {
  // Near-separable data with a weak penalty: full Newton steps overshoot (plain Newton diverges).
  Random random(75);
  std::vector<Eigen::MatrixXd> partitions;
  for (int n : {30, 1}) {
    Eigen::MatrixXd data(n, 6);
    for (int i = 0; i < n; ++i) {
      double margin = 0.5;
      for (int j = 0; j < 5; ++j) {
        data(i, j) = random.normal() * (j + 1);
        margin += (j % 2 ? -5.0 : 4.0) * data(i, j) / (j + 1);
      }
      data(i, 5) = random.uniform() < sigmoid(margin) ? 1.0 : 0.0;
    }
    partitions.push_back(std::move(data));
  }
  auto trainer = model::make_trainer(spec_of(5, {{"C", 1e6}, {"tol", 1e-13}}));
  fit_in_process(*trainer, partitions);
  const model::History history = trainer->history();
  int num_halved = 0;
  double accepted = std::numeric_limits<double>::infinity();
  for (std::size_t r = 0; r < history.rows.size(); ++r) {
    const double objective = history.rows[r][1];
    const double step = history.rows[r][3];
    if (step > 0 && step < 1) ++num_halved;
    // A pass is accepted unless the next one halves its step.
    const bool is_rejected = r + 1 < history.rows.size() && history.rows[r + 1][3] == step / 2;
    if (!is_rejected) {
      // Armijo, or a change below the objective's rounding with a smaller gradient.
      EXPECT_LE(objective, accepted * (1 + 1e-14)) << "pass " << r;
      accepted = objective;
    }
  }
  EXPECT_GE(num_halved, 1);
  EXPECT_LE(history.rows.back()[2], 1e-13);
  const Eigen::VectorXd expected = dense_newton(testing_support::stack_partitions(partitions), 1e6);
  const Eigen::VectorXd w = saved(*trainer->model()).vector("coefficients");
  for (Eigen::Index j = 0; j < 5; ++j) EXPECT_NEAR(w(j), expected(j), 1e-8 * std::abs(expected(j))) << j;
}
