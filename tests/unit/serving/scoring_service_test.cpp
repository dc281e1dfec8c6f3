// Tests of ScoringService: every model kind against closed forms, named-column checks, and
// version moves (refresh, a refused version kept out, the watcher, concurrent scoring).
#include "sluice/serving/scoring_service.hpp"

#include "serving_fixtures.hpp"
#include "sluice/error.hpp"
#include "sluice/serving/model_watcher.hpp"
#include "sluice/serving/request_error.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

using namespace sluice;
using namespace sluice::serving;
using sluice::testing_support::TempDir;

namespace {

// Three rows of a, b, c.
const std::vector<double> column_a{1.0, -1.0, 5.0};
const std::vector<double> column_b{2.0, 0.5, 0.0};
const std::vector<double> column_c{3.0, 4.0, 0.0};

std::vector<NamedColumn> abc() {
  // Not in the model's order: the service must place them by name.
  return {{"c", column_c}, {"a", column_a}, {"b", column_b}};
}

std::filesystem::path write_file(const TempDir& dir, const snapshot::Snapshot& s) {
  std::filesystem::path file = dir / (s.model_kind + ".h5");
  snapshot::write_snapshot(file, s);
  return file;
}

double ridge(double intercept, std::size_t i) {
  return intercept + column_a[i] - 2.0 * column_b[i] + 0.5 * column_c[i];
}

} // namespace

TEST(ScoringServiceTest, score_ridge_from_file_places_columns_by_name) {
  TempDir dir;
  auto s = testing_support::serving_snapshot("ridge", testing_support::ridge_parameters(0.25));
  ScoringService service(ModelSource::from_file(write_file(dir, s)));
  EXPECT_EQ(service.model()->raw_columns(), (std::vector<std::string>{"a", "b", "c"}));
  Scores scores = service.score(abc());
  ASSERT_EQ(scores.outputs.rows(), 3);
  ASSERT_EQ(scores.outputs.cols(), 1);
  EXPECT_EQ(scores.model->outputs(), std::vector<std::string>{"prediction"});
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_DOUBLE_EQ(scores.outputs(static_cast<Eigen::Index>(i), 0), ridge(0.25, i)) << "row " << i;
    EXPECT_EQ(scores.kept[i], 1);
  }
}

TEST(ScoringServiceTest, score_logistic_gives_probability_and_class) {
  TempDir dir;
  ScoringService service(ModelSource::from_file(
      write_file(dir, testing_support::serving_snapshot("logistic", testing_support::logistic_parameters()))));
  Scores scores = service.score(abc());
  EXPECT_EQ(scores.model->outputs(), (std::vector<std::string>{"probability", "class"}));
  for (Eigen::Index i = 0; i < 3; ++i) {
    const auto r = static_cast<std::size_t>(i);
    const double margin = -0.25 + 0.75 * column_a[r] - 0.5 * column_b[r] + 2.0 * column_c[r];
    const double probability = 1.0 / (1.0 + std::exp(-margin));
    EXPECT_NEAR(scores.outputs(i, 0), probability, 1e-15) << "row " << i;
    EXPECT_EQ(scores.outputs(i, 1), probability >= 0.5 ? 1.0 : 0.0) << "row " << i;
  }
}

TEST(ScoringServiceTest, score_kmeans_gives_nearest_centre_lowest_on_ties) {
  TempDir dir;
  ScoringService service(ModelSource::from_file(
      write_file(dir, testing_support::serving_snapshot("kmeans", testing_support::kmeans_parameters()))));
  const std::vector<double> a{1.0, 7.0, 5.0}, b{0.0, 3.0, 0.0}, c{0.0, 4.0, 0.0};
  Scores scores = service.score(std::vector<NamedColumn>{{"a", a}, {"b", b}, {"c", c}});
  EXPECT_EQ(scores.model->outputs(), (std::vector<std::string>{"cluster", "distance"}));
  EXPECT_EQ(scores.outputs(0, 0), 0.0);
  EXPECT_DOUBLE_EQ(scores.outputs(0, 1), 1.0);
  EXPECT_EQ(scores.outputs(1, 0), 1.0);
  EXPECT_DOUBLE_EQ(scores.outputs(1, 1), std::sqrt(34.0));
  EXPECT_EQ(scores.outputs(2, 0), 0.0); // 5 from both centres
  EXPECT_DOUBLE_EQ(scores.outputs(2, 1), 5.0);
}

TEST(ScoringServiceTest, score_pca_projects_and_whitens) {
  for (bool whiten : {false, true}) {
    TempDir dir;
    ScoringService service(ModelSource::from_file(
        write_file(dir, testing_support::serving_snapshot("pca", testing_support::pca_parameters(whiten)))));
    const std::vector<double> a{2.0}, b{5.0}, c{3.0};
    Scores scores = service.score(std::vector<NamedColumn>{{"a", a}, {"b", b}, {"c", c}});
    EXPECT_EQ(scores.model->outputs(), (std::vector<std::string>{"pc0", "pc1"}));
    // centred (1, 3, 0): pc0 = b - 2 = 3 (variance 4), pc1 = a - 1 = 1 (variance 1)
    EXPECT_DOUBLE_EQ(scores.outputs(0, 0), whiten ? 1.5 : 3.0) << "whiten " << whiten;
    EXPECT_DOUBLE_EQ(scores.outputs(0, 1), 1.0) << "whiten " << whiten;
  }
}

TEST(ScoringServiceTest, score_refuses_missing_unknown_repeated_and_ragged_columns) {
  TempDir dir;
  ScoringService service(ModelSource::from_file(
      write_file(dir, testing_support::serving_snapshot("ridge", testing_support::ridge_parameters(0)))));
  const std::vector<double> one{1.0}, two{1.0, 2.0};
  auto message = [&](std::vector<NamedColumn> columns) {
    try {
      service.score(columns);
    } catch (const RequestError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({{"a", one}, {"b", one}}), "missing column 'c'");
  EXPECT_EQ(message({{"a", one}, {"b", one}, {"c", one}, {"d", one}}),
            "unknown column 'd': model 'm' takes a, b, c");
  EXPECT_EQ(message({{"a", one}, {"a", one}, {"b", one}, {"c", one}}), "column 'a' is given twice");
  EXPECT_EQ(message({{"a", one}, {"b", two}, {"c", one}}), "column 'b' has 2 values, column 'a' has 1");
  EXPECT_EQ(message({}), "no columns given");
}

TEST(ScoringServiceTest, load_refuses_missing_files_registries_and_models) {
  TempDir dir;
  EXPECT_THROW(ScoringService(ModelSource::from_file(dir / "missing.h5")), DataError);
  std::ofstream(dir / "junk.h5") << "not a snapshot";
  EXPECT_THROW(ScoringService(ModelSource::from_file(dir / "junk.h5")), DataError);
  EXPECT_THROW(ScoringService(ModelSource::from_registry(dir / "no-registry", "m")), ConfigError);
  std::filesystem::create_directories(dir / "registry");
  EXPECT_THROW(ScoringService(ModelSource::from_registry(dir / "registry", "m")), Error);
  EXPECT_THROW(ScoringService(ModelSource::from_registry(dir / "registry", "bad name@")), ConfigError);
}

TEST(ScoringServiceTest, refresh_follows_current_and_fixed_versions_stay) {
  TempDir dir;
  snapshot::SnapshotRegistry registry(dir / "registry");
  testing_support::publish(registry, testing_support::serving_snapshot("ridge", testing_support::ridge_parameters(1)));
  ScoringService current(ModelSource::from_registry(registry.root(), "m"));
  ScoringService pinned(ModelSource::from_registry(registry.root(), "m@1"));
  EXPECT_EQ(current.refresh().outcome, RefreshResult::Outcome::unchanged);
  testing_support::publish(registry, testing_support::serving_snapshot("ridge", testing_support::ridge_parameters(2)));
  RefreshResult moved = current.refresh();
  EXPECT_EQ(moved.outcome, RefreshResult::Outcome::loaded);
  EXPECT_EQ(moved.version, 2);
  EXPECT_EQ(current.model()->version(), 2);
  EXPECT_DOUBLE_EQ(current.score(abc()).outputs(0, 0), ridge(2.0, 0));
  EXPECT_EQ(pinned.refresh().outcome, RefreshResult::Outcome::unchanged);
  EXPECT_EQ(pinned.model()->version(), 1);
  EXPECT_DOUBLE_EQ(pinned.score(abc()).outputs(0, 0), ridge(1.0, 0));
}

TEST(ScoringServiceTest, refresh_follows_an_alias) {
  TempDir dir;
  snapshot::SnapshotRegistry registry(dir / "registry");
  for (double b : {1.0, 2.0, 3.0}) {
    testing_support::publish(registry, testing_support::serving_snapshot("ridge", testing_support::ridge_parameters(b)));
  }
  registry.set_alias("m", "production", 1, "test");
  ScoringService service(ModelSource::from_registry(registry.root(), "m@production"));
  EXPECT_EQ(service.model()->version(), 1);
  registry.set_alias("m", "production", 3, "test");
  EXPECT_EQ(service.refresh().outcome, RefreshResult::Outcome::loaded);
  EXPECT_EQ(service.model()->version(), 3);
  EXPECT_DOUBLE_EQ(service.score(abc()).outputs(1, 0), ridge(3.0, 1));
  registry.set_alias("m", "production", 2, "roll back"); // moving back loads the older version
  EXPECT_EQ(service.refresh().outcome, RefreshResult::Outcome::loaded);
  EXPECT_EQ(service.model()->version(), 2);
}

TEST(ScoringServiceTest, refresh_keeps_serving_when_the_new_version_fails_to_verify) {
  TempDir dir;
  snapshot::SnapshotRegistry registry(dir / "registry");
  testing_support::publish(registry, testing_support::serving_snapshot("ridge", testing_support::ridge_parameters(1)));
  ScoringService service(ModelSource::from_registry(registry.root(), "m"));
  const std::int64_t bad = testing_support::publish(
      registry, testing_support::serving_snapshot("ridge", testing_support::ridge_parameters(2)));
  {
    // Damage the published file: its checksum no longer matches.
    std::fstream file(registry.snapshot_path("m", bad), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-64, std::ios::end);
    file.write("garbage!", 8);
  }
  RefreshResult refused = service.refresh();
  EXPECT_EQ(refused.outcome, RefreshResult::Outcome::failed);
  EXPECT_EQ(refused.version, 1);
  EXPECT_NE(refused.error.find("version 2 refused, still serving version 1"), std::string::npos)
      << refused.error;
  EXPECT_EQ(service.last_refresh_error(), refused.error);
  EXPECT_EQ(service.model()->version(), 1);
  EXPECT_DOUBLE_EQ(service.score(abc()).outputs(0, 0), ridge(1.0, 0));
  // Still refused on the next look; a good newer version is then taken.
  EXPECT_EQ(service.refresh().outcome, RefreshResult::Outcome::failed);
  testing_support::publish(registry, testing_support::serving_snapshot("ridge", testing_support::ridge_parameters(3)));
  EXPECT_EQ(service.refresh().outcome, RefreshResult::Outcome::loaded);
  EXPECT_EQ(service.model()->version(), 3);
  EXPECT_EQ(service.last_refresh_error(), "");
}

TEST(ScoringServiceTest, watcher_loads_a_new_version_while_callers_score) {
  TempDir dir;
  snapshot::SnapshotRegistry registry(dir / "registry");
  testing_support::publish(registry, testing_support::serving_snapshot("ridge", testing_support::ridge_parameters(1)));
  ScoringService service(ModelSource::from_registry(registry.root(), "m"));
  ModelWatcher watcher(service, std::chrono::milliseconds(20));
  std::atomic<bool> is_done{false};
  std::atomic<int> num_mismatches{0}, num_scored{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&] {
      while (!is_done.load()) {
        Scores scores = service.score(abc());
        // Version v has intercept v: every answer must match the version it reports.
        const double intercept = static_cast<double>(scores.model->version());
        for (Eigen::Index i = 0; i < 3; ++i) {
          if (scores.outputs(i, 0) != ridge(intercept, static_cast<std::size_t>(i))) ++num_mismatches;
        }
        ++num_scored;
      }
    });
  }
  for (double b : {2.0, 3.0}) {
    testing_support::publish(registry, testing_support::serving_snapshot("ridge", testing_support::ridge_parameters(b)));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (service.model()->version() != static_cast<std::int64_t>(b) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(service.model()->version(), static_cast<std::int64_t>(b));
  }
  is_done = true;
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(num_mismatches.load(), 0);
  EXPECT_GT(num_scored.load(), 0);
}
