// Helpers the model kinds' unit tests share: job specs, stacked partitions, metrics, key errors.
#pragma once

#include "sluice/error.hpp"
#include "sluice/model/model_kinds.hpp"

#include <Eigen/Core>

#include <cmath>
#include <string>
#include <vector>

namespace sluice::testing_support {

/// A [model] table of `kind` over features x0..x{n-1}, with the kind's own keys in `params`.
inline job::ModelSpec model_spec(const std::string& kind, int num_features, const std::string& label,
                                 nlohmann::json params = nlohmann::json::object()) {
  job::ModelSpec spec;
  spec.kind = kind;
  for (int j = 0; j < num_features; ++j) spec.features.push_back("x" + std::to_string(j));
  spec.label = label;
  spec.params = job::ModelParams(std::move(params), "job.toml");
  return spec;
}

/// The partitions' rows one after another, as one process would hold the whole lake.
inline Eigen::MatrixXd stack_partitions(const std::vector<Eigen::MatrixXd>& partitions) {
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

/// The trainer's metric `name`, NaN when it has none.
inline double metric_of(const model::Trainer& trainer, const std::string& name) {
  for (const auto& [key, value] : trainer.metrics()) {
    if (key == name) return value;
  }
  return std::nan("");
}

/// The ConfigError message make_trainer gives for the spec, or "no error".
inline std::string config_error_of(const job::ModelSpec& spec) {
  try {
    model::make_trainer(spec);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "no error";
}

} // namespace sluice::testing_support
