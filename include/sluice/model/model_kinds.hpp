// The registry of model kinds: a job's [model] table becomes a Trainer, a snapshot's /model group
// a FittedModel. Adding a kind touches this registry and nothing in the engine.
#pragma once

#include "sluice/job/job_spec.hpp"
#include "sluice/model/trainer.hpp"

#include <memory>
#include <string>
#include <vector>

namespace sluice::model {

/// Validates the kind's keys (ConfigError naming the key) and returns its trainer. No data read.
std::unique_ptr<Trainer> make_trainer(const job::ModelSpec& spec);

/// Reads a fitted model of `kind` written by FittedModel::save; `features` are its input columns.
std::shared_ptr<const FittedModel> load_fitted_model(const std::string& kind,
                                                     const std::vector<std::string>& features,
                                                     const ParameterReader& reader);


} // namespace sluice::model
