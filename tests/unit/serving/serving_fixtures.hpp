// Snapshots of every model kind with small known parameters, written or published for serving tests.
#pragma once

#include "sluice/model/model_kinds.hpp"
#include "sluice/model/parameter_map.hpp"
#include "sluice/snapshot/registry.hpp"
#include "sluice/snapshot/snapshot.hpp"
#include "sluice/transform/pipeline.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sluice::testing_support {

/// A snapshot of `kind` over features a, b, c with the given parameters and an empty pipeline.
inline snapshot::Snapshot serving_snapshot(const std::string& kind, const model::ParameterMap& parameters,
                                           const std::string& name = "m") {
  snapshot::Snapshot s;
  s.model_name = name;
  s.version = 1;
  s.model_kind = kind;
  s.feature_names = {"a", "b", "c"};
  s.label = kind == "ridge" || kind == "logistic" ? "y" : "";
  s.model = model::load_fitted_model(kind, s.feature_names, parameters);
  s.pipeline_json = R"({"stages":[]})";
  std::vector<std::string> columns = s.feature_names;
  if (!s.label.empty()) columns.push_back(s.label);
  s.pipeline = std::make_shared<const transform::Pipeline>(
      transform::Pipeline::compile({}, std::nullopt, {}, columns));
  s.metrics = {{"rmse", 0.5}, {"r2", 0.75}};
  s.num_rows = 100;
  s.job_text = "[model]\n";
  s.sluice_version = "0.1.0";
  s.num_ranks = 1;
  s.threads_per_rank = 1;
  s.created_utc = "2026-11-25T00:00:00Z";
  s.lake_root = "/lake";
  return s;
}

/// Ridge: prediction = intercept + (1, -2, 0.5) · x.
inline model::ParameterMap ridge_parameters(double intercept) {
  model::ParameterMap p;
  p.vector("coefficients", Eigen::Vector3d(1.0, -2.0, 0.5));
  p.scalar("intercept", intercept);
  p.scalar("alpha", 1.0);
  p.integer("fit_intercept", 1);
  return p;
}

inline model::ParameterMap logistic_parameters() {
  model::ParameterMap p;
  p.vector("coefficients", Eigen::Vector3d(0.75, -0.5, 2.0));
  p.scalar("intercept", -0.25);
  p.scalar("C", 1.0);
  p.scalar("tol", 1e-8);
  p.integer("max_iter", 50);
  p.integer("fit_intercept", 1);
  return p;
}

/// Two centres, (0, 0, 0) and (10, 0, 0).
inline model::ParameterMap kmeans_parameters() {
  model::ParameterMap p;
  Eigen::MatrixXd centres(2, 3);
  centres << 0, 0, 0, 10, 0, 0;
  p.matrix("centers", centres);
  p.matrix("initial_centers", centres);
  p.vector("cluster_sizes", Eigen::Vector2d(50, 50));
  p.integer("k", 2);
  p.scalar("tol", 1e-6);
  p.integer("max_iter", 10);
  p.integer("seed", 1);
  p.integer("init_rounds", 2);
  p.integer("oversampling", 2);
  return p;
}

/// Mean (1, 2, 3); components e_b and e_a; variances 4 and 1.
inline model::ParameterMap pca_parameters(bool whiten) {
  model::ParameterMap p;
  Eigen::MatrixXd components(2, 3);
  components << 0, 1, 0, 1, 0, 0;
  p.vector("mean", Eigen::Vector3d(1, 2, 3));
  p.matrix("components", components);
  p.vector("explained_variance", Eigen::Vector2d(4, 1));
  p.vector("explained_variance_ratio", Eigen::Vector2d(0.8, 0.2));
  p.integer("whiten", whiten ? 1 : 0);
  return p;
}

/// Publishes the snapshot as the model's next version (which becomes CURRENT); returns it.
inline std::int64_t publish(const snapshot::SnapshotRegistry& registry, snapshot::Snapshot s) {
  snapshot::SnapshotRegistry writer(registry.root());
  return writer.publish(
      s.model_name,
      [&s](const std::filesystem::path& temporary, std::int64_t version) {
        s.version = version;
        snapshot::write_snapshot(temporary, s);
      },
      [](std::int64_t) { return std::string("{}"); });
}

} // namespace sluice::testing_support
