// k-means fitted in-process: recovery of blobs, a dense Lloyd reference, bits across threads and
// block sizes, too few rows, empty clusters and key validation.
#include "sluice/model/model_kinds.hpp"
#include "sluice/model/parameter_map.hpp"

#include "in_process_engine.hpp"
#include "model_test_support.hpp"

#include "sluice/error.hpp"

#include <Eigen/Dense>
#include <gtest/gtest.h>

#include <random>

using namespace sluice;
using testing_support::fit_in_process;

namespace {

job::ModelSpec kmeans_spec_of(int num_features, nlohmann::json params, const std::string& label = "") {
  return testing_support::model_spec("kmeans", num_features, label, std::move(params));
}

// Rows scattered (σ = sigma) around `centers`, each row's blob drawn uniformly.
std::vector<Eigen::MatrixXd> blobs(const Eigen::MatrixXd& centers, double sigma,
                                   const std::vector<int>& rows, int seed) {
  std::mt19937_64 random(static_cast<std::uint64_t>(seed));
  std::normal_distribution<double> normal(0.0, sigma);
  std::uniform_int_distribution<Eigen::Index> blob(0, centers.rows() - 1);
  std::vector<Eigen::MatrixXd> partitions;
  for (int n : rows) {
    Eigen::MatrixXd data(n, centers.cols());
    for (Eigen::Index i = 0; i < n; ++i) {
      const Eigen::Index b = blob(random);
      for (Eigen::Index j = 0; j < centers.cols(); ++j) data(i, j) = centers(b, j) + normal(random);
    }
    partitions.push_back(std::move(data));
  }
  return partitions;
}

model::ParameterMap saved(const model::Trainer& trainer) {
  model::ParameterMap parameters;
  trainer.model()->save(parameters);
  return parameters;
}

struct DenseFit {
  Eigen::MatrixXd centers;
  int iterations = 0;
  double inertia = 0.0;
};

Eigen::VectorXi dense_labels(const Eigen::MatrixXd& x, const Eigen::MatrixXd& centers,
                             double* inertia = nullptr) {
  Eigen::VectorXi labels(x.rows());
  if (inertia != nullptr) *inertia = 0.0;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    Eigen::Index best = 0;
    const double distance = (centers.rowwise() - x.row(i)).rowwise().squaredNorm().minCoeff(&best);
    labels(i) = static_cast<int>(best);
    if (inertia != nullptr) *inertia += distance;
  }
  return labels;
}

// Plain Lloyd from given centres, scikit-learn's rule: stop once Σ‖c_new − c_old‖² ≤ tol × the
// mean per-feature variance. The test data leave no cluster empty.
DenseFit dense_lloyd(const Eigen::MatrixXd& x, Eigen::MatrixXd centers, double tol, int max_iter) {
  const Eigen::MatrixXd centred = x.rowwise() - x.colwise().mean();
  const double threshold =
      tol * (centred.array().square().colwise().sum() / static_cast<double>(x.rows())).mean();
  DenseFit fit;
  for (fit.iterations = 1; fit.iterations <= max_iter; ++fit.iterations) {
    const Eigen::VectorXi labels = dense_labels(x, centers);
    Eigen::MatrixXd sums = Eigen::MatrixXd::Zero(centers.rows(), centers.cols());
    Eigen::VectorXd counts = Eigen::VectorXd::Zero(centers.rows());
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      sums.row(labels(i)) += x.row(i);
      counts(labels(i)) += 1;
    }
    EXPECT_GT(counts.minCoeff(), 0) << "the reference does not relocate empty clusters";
    const Eigen::MatrixXd next = sums.array().colwise() / counts.array();
    const double shift = (next - centers).squaredNorm();
    centers = next;
    if (shift <= threshold) break;
  }
  fit.centers = centers;
  dense_labels(x, centers, &fit.inertia);
  return fit;
}

} // namespace

TEST(KMeansTest, fit_recovers_well_separated_blobs) {
  Eigen::MatrixXd truth = Eigen::MatrixXd::Zero(5, 4);
  for (int c = 1; c < 5; ++c) truth(c, c - 1) = 10.0;
  const double sigma = 0.5;
  const auto partitions = blobs(truth, sigma, {7000, 1, 9000, 0, 3999}, 11);
  auto trainer = model::make_trainer(kmeans_spec_of(4, {{"k", 5}, {"seed", 3}}));
  const int passes = fit_in_process(*trainer, partitions);
  ASSERT_TRUE(trainer->model() != nullptr);
  const model::ParameterMap parameters = saved(*trainer);
  const Eigen::MatrixXd centers = parameters.matrix("centers", 5, 4);
  for (Eigen::Index c = 0; c < truth.rows(); ++c) {
    const double error =
        (centers.rowwise() - truth.row(c)).cwiseAbs().rowwise().maxCoeff().minCoeff();
    EXPECT_LT(error, 0.05) << "true centre " << c;
  }
  const double n = 20000;
  EXPECT_NEAR(testing_support::metric_of(*trainer, "inertia") / (n * 4 * sigma * sigma), 1.0, 0.03);
  EXPECT_EQ(testing_support::metric_of(*trainer, "num_rows"), n);
  EXPECT_EQ(testing_support::metric_of(*trainer, "converged"), 1.0);
  EXPECT_EQ(parameters.vector("cluster_sizes", 5).sum(), n);
  // sample, 2 rounds (the default), weights, the Lloyd passes, evaluate.
  const auto history = trainer->history();
  EXPECT_EQ(history.columns,
            (std::vector<std::string>{"iteration", "inertia", "shift", "seconds"}));
  EXPECT_EQ(static_cast<double>(history.rows.size()), testing_support::metric_of(*trainer, "iterations"));
  EXPECT_EQ(passes, 1 + 2 + 1 + static_cast<int>(history.rows.size()) + 1);
  EXPECT_EQ(parameters.integer("oversampling"), 10);
  EXPECT_EQ(trainer->model()->describe(), "k=5, seed=3");

  // Scoring and a load round trip: the nearest centre and its distance.
  auto loaded = model::load_fitted_model("kmeans", trainer->model()->features(), parameters);
  const Eigen::MatrixXd x = testing_support::stack_partitions(partitions).topRows(50);
  Eigen::MatrixXd out(50, 2);
  loaded->score(x.data(), x.rows(), x.rows(), out.data(), out.rows());
  const Eigen::VectorXi labels = dense_labels(x, centers);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    EXPECT_EQ(out(i, 0), labels(i));
    EXPECT_NEAR(out(i, 1), (x.row(i) - centers.row(labels(i))).norm(), 1e-12);
  }
}

TEST(KMeansTest, lloyd_matches_dense_reference_from_stored_initial_centers) {
  Eigen::MatrixXd truth(4, 3);
  truth << 0, 0, 0, 3, 0, 0, 0, 3, 0, 2, 2, 3;
  const auto partitions = blobs(truth, 1.2, {2500, 4100, 37, 6000}, 5);
  const double tol = 1e-6;
  auto trainer = model::make_trainer(kmeans_spec_of(3, {{"k", 4}, {"tol", tol}, {"seed", 17}}));
  fit_in_process(*trainer, partitions, {.block_rows = 4096});
  const model::ParameterMap parameters = saved(*trainer);
  const DenseFit reference =
      dense_lloyd(testing_support::stack_partitions(partitions), parameters.matrix("initial_centers", 4, 3), tol, 300);
  EXPECT_GT(reference.iterations, 3);
  EXPECT_EQ(testing_support::metric_of(*trainer, "iterations"), reference.iterations);
  EXPECT_EQ(testing_support::metric_of(*trainer, "converged"), 1.0);
  EXPECT_LT((parameters.matrix("centers") - reference.centers).cwiseAbs().maxCoeff(), 1e-9);
  EXPECT_NEAR(testing_support::metric_of(*trainer, "inertia"), reference.inertia, 1e-9 * reference.inertia);
}

TEST(KMeansTest, centers_keep_their_bits_across_threads_and_block_sizes) {
  Eigen::MatrixXd truth(6, 3);
  truth << 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 4, 4, 0, 4, 4, 4;
  const auto partitions = blobs(truth, 1.5, {9000, 5000, 20000, 123}, 23);
  const auto fit = [&](testing_support::InProcessOptions options) {
    auto trainer =
        model::make_trainer(kmeans_spec_of(3, {{"k", 6}, {"seed", 1}, {"oversampling", 7}}));
    fit_in_process(*trainer, partitions, options);
    return saved(*trainer);
  };
  const model::ParameterMap one = fit({.block_rows = 16384, .num_threads = 1});
  for (const auto& options :
       {testing_support::InProcessOptions{.block_rows = 4096, .num_threads = 1},
        testing_support::InProcessOptions{.block_rows = 4096, .num_threads = 2},
        testing_support::InProcessOptions{.block_rows = 16384, .num_threads = 2}}) {
    const model::ParameterMap other = fit(options);
    EXPECT_EQ(other.matrix("initial_centers"), one.matrix("initial_centers"));
    EXPECT_EQ(other.matrix("centers"), one.matrix("centers"));
    EXPECT_EQ(other.vector("cluster_sizes"), one.vector("cluster_sizes"));
  }
  // Another seed chooses other candidates.
  auto reseeded = model::make_trainer(kmeans_spec_of(3, {{"k", 6}, {"seed", 2}, {"oversampling", 7}}));
  fit_in_process(*reseeded, partitions);
  EXPECT_NE(saved(*reseeded).matrix("initial_centers"), one.matrix("initial_centers"));
}

TEST(KMeansTest, fit_with_fewer_rows_than_clusters_fails) {
  const auto partitions = blobs(Eigen::MatrixXd::Zero(1, 2), 1.0, {4, 0, 6}, 2);
  auto trainer = model::make_trainer(kmeans_spec_of(2, {{"k", 11}}));
  try {
    fit_in_process(*trainer, partitions);
    FAIL() << "no error";
  } catch (const DataError& error) {
    EXPECT_NE(std::string(error.what()).find("model.k = 11 is larger than the 10 usable rows"),
              std::string::npos)
        << error.what();
  }
}

TEST(KMeansTest, empty_clusters_from_duplicated_points_finish_deterministically) {
  // Three distinct points, 100 copies each, and k = 5: two clusters can only hold duplicates.
  Eigen::MatrixXd points(3, 2);
  points << 0, 0, 5, 1, -2, 7;
  std::vector<Eigen::MatrixXd> partitions;
  for (int n : {120, 80, 100}) {
    Eigen::MatrixXd data(n, 2);
    for (int i = 0; i < n; ++i) data.row(i) = points.row((i * 7 + n) % 3);
    partitions.push_back(std::move(data));
  }
  const auto fit = [&] {
    auto trainer = model::make_trainer(kmeans_spec_of(2, {{"k", 5}}));
    fit_in_process(*trainer, partitions);
    EXPECT_EQ(testing_support::metric_of(*trainer, "converged"), 1.0);
    return saved(*trainer);
  };
  const model::ParameterMap first = fit();
  const Eigen::MatrixXd centers = first.matrix("centers", 5, 2);
  EXPECT_TRUE(centers.allFinite());
  for (Eigen::Index p = 0; p < points.rows(); ++p) {
    EXPECT_LT((centers.rowwise() - points.row(p)).rowwise().squaredNorm().minCoeff(), 1e-20) << p;
  }
  EXPECT_EQ(first.vector("cluster_sizes").sum(), 300);
  EXPECT_EQ(fit().matrix("centers"), centers);
}

TEST(KMeansTest, keys_are_validated_and_named) {
  const auto has = [](const std::string& message, const std::string& part) {
    return message.find(part) != std::string::npos;
  };
  EXPECT_TRUE(has(testing_support::config_error_of(kmeans_spec_of(2, nlohmann::json::object())), "'model.k' is missing"));
  EXPECT_TRUE(has(testing_support::config_error_of(kmeans_spec_of(2, {{"k", 0}})), "'model.k' must be 1..1000000, got 0"));
  EXPECT_TRUE(has(testing_support::config_error_of(kmeans_spec_of(2, {{"k", 1000001}})), "'model.k' must be 1..1000000"));
  EXPECT_TRUE(has(testing_support::config_error_of(kmeans_spec_of(2, {{"k", 2.5}})), "'model.k' must be an integer"));
  EXPECT_TRUE(has(testing_support::config_error_of(kmeans_spec_of(2, {{"k", 2}, {"tol", -1}})),
                  "'model.tol' must be a finite number >= 0"));
  EXPECT_TRUE(has(testing_support::config_error_of(kmeans_spec_of(2, {{"k", 2}, {"max_iter", 0}})),
                  "'model.max_iter' must be an integer >= 1, got 0"));
  EXPECT_TRUE(has(testing_support::config_error_of(kmeans_spec_of(2, {{"k", 2}, {"seed", -1}})),
                  "'model.seed' must be an integer >= 0"));
  EXPECT_TRUE(
      has(testing_support::config_error_of(kmeans_spec_of(2, {{"k", 2}, {"init_rounds", 0}})), "'model.init_rounds'"));
  EXPECT_TRUE(
      has(testing_support::config_error_of(kmeans_spec_of(2, {{"k", 2}, {"oversampling", 0}})), "'model.oversampling'"));
  EXPECT_TRUE(has(testing_support::config_error_of(kmeans_spec_of(2, {{"k", 2}, {"n_clusters", 2}})),
                  "unknown key 'model.n_clusters'"));
  EXPECT_TRUE(has(testing_support::config_error_of(kmeans_spec_of(2, {{"k", 2}}, "y")),
                  "'model.label' is not used by kind = 'kmeans'"));
  EXPECT_EQ(testing_support::config_error_of(kmeans_spec_of(2, {{"k", 2}, {"tol", 0}, {"seed", 9}})), "no error");
}
