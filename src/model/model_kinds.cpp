// The table of model kinds: the only place that names them.
#include "sluice/model/model_kinds.hpp"

#include "kmeans.hpp"
#include "linear_model.hpp"
#include "logistic_regression.hpp"
#include "pca.hpp"
#include "ridge_regression.hpp"
#include "ridge_search.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>

namespace sluice::model {
namespace {

struct Kind {
  std::string name;
  std::unique_ptr<Trainer> (*make)(const job::ModelSpec&);
  std::shared_ptr<const FittedModel> (*load)(const std::string& kind,
                                             const std::vector<std::string>& features,
                                             const ParameterReader& reader);
};

std::shared_ptr<const FittedModel> load_linear(const std::string& kind,
                                               const std::vector<std::string>& features,
                                               const ParameterReader& reader) {
  return LinearModel::load(kind, features, reader);
}

const std::vector<Kind>& kinds() {
  static const std::vector<Kind> table = {
      {"ridge",
       [](const job::ModelSpec& spec) -> std::unique_ptr<Trainer> {
         if (spec.params.is_array("alpha")) return std::make_unique<RidgeSearchTrainer>(spec);
         return std::make_unique<RidgeRegressionTrainer>(spec);
       },
       load_linear},
      {"ols",
       [](const job::ModelSpec& spec) -> std::unique_ptr<Trainer> {
         return std::make_unique<RidgeRegressionTrainer>(spec);
       },
       load_linear},
      {"pca",
       [](const job::ModelSpec& spec) -> std::unique_ptr<Trainer> {
         return std::make_unique<PcaTrainer>(spec);
       },
       [](const std::string&, const std::vector<std::string>& features,
          const ParameterReader& reader) -> std::shared_ptr<const FittedModel> {
         return PcaModel::load(features, reader);
       }},
      {"kmeans",
       [](const job::ModelSpec& spec) -> std::unique_ptr<Trainer> {
         return std::make_unique<KMeansTrainer>(spec);
       },
       [](const std::string&, const std::vector<std::string>& features,
          const ParameterReader& reader) -> std::shared_ptr<const FittedModel> {
         return KMeansModel::load(features, reader);
       }},
      {"logistic",
       [](const job::ModelSpec& spec) -> std::unique_ptr<Trainer> {
         return std::make_unique<LogisticRegressionTrainer>(spec);
       },
       [](const std::string&, const std::vector<std::string>& features,
          const ParameterReader& reader) -> std::shared_ptr<const FittedModel> {
         return LogisticModel::load(features, reader);
       }},
  };
  return table;
}

const Kind* find_kind(const std::string& name) {
  for (const Kind& kind : kinds()) {
    if (kind.name == name) return &kind;
  }
  return nullptr;
}

std::string kind_list() {
  std::string names;
  for (const Kind& kind : kinds()) names += fmt::format("{}'{}'", names.empty() ? "" : ", ", kind.name);
  return names;
}

} // namespace

std::unique_ptr<Trainer> make_trainer(const job::ModelSpec& spec) {
  const Kind* kind = find_kind(spec.kind);
  if (kind == nullptr) {
    spec.params.fail("kind", fmt::format("must be one of {}, got '{}'", kind_list(), spec.kind));
  }
  return kind->make(spec);
}

std::shared_ptr<const FittedModel> load_fitted_model(const std::string& kind,
                                                     const std::vector<std::string>& features,
                                                     const ParameterReader& reader) {
  const Kind* found = find_kind(kind);
  if (found == nullptr) {
    throw DataError(fmt::format("{}: unknown model kind '{}' (this Sluice knows {})",
                                reader.where(), kind, kind_list()));
  }
  return found->load(kind, features, reader);
}

} // namespace sluice::model
