// Ridge / OLS on the engine: one statistics pass, a closed-form solve.
#include "ridge_regression.hpp"

#include "linear_model.hpp"
#include "statistics_accumulator.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>

#include <cmath>

namespace sluice::model {

RidgeRegressionTrainer::RidgeRegressionTrainer(const job::ModelSpec& spec)
    : kind_(spec.kind), features_(spec.features), columns_(spec.features) {
  job::ModelParams params = spec.params;
  if (spec.label.empty()) params.fail("label", fmt::format("is missing (kind = '{}' needs one)", kind_));
  columns_.push_back(spec.label);
  const bool is_ols = kind_ == "ols";
  options_.alpha = params.number("alpha").value_or(is_ols ? 0.0 : 1.0);
  if (!std::isfinite(options_.alpha) || options_.alpha < 0) {
    params.fail("alpha", "must be a finite number >= 0");
  }
  if (is_ols && options_.alpha != 0.0) params.fail("alpha", "must be 0 (or absent) for kind = 'ols'");
  options_.fit_intercept = params.boolean("fit_intercept").value_or(true);
  params.refuse_unknown_keys();
}

std::unique_ptr<PartialAccumulator> RidgeRegressionTrainer::make_accumulator(
    const PartitionKey&, const AccumulatorOptions& options) const {
  return std::make_unique<StatisticsAccumulator>(static_cast<Eigen::Index>(columns_.size()), options);
}

void RidgeRegressionTrainer::merge(Partial& into, const Partial& from) const {
  merge_statistics(into, from);
}

RidgeFit RidgeRegressionTrainer::solve(const SufficientStats& stats, const RidgeOptions& options) {
  RidgeFit fit = RidgeTrainer(options).fit(stats);
  if (fit.status == FitStatus::no_data) throw DataError("the selected partitions hold no usable rows");
  if (fit.status == FitStatus::singular) {
    throw NumericalError(fmt::format(
        "the normal equations are singular (reciprocal condition {:.1e}): a feature is constant "
        "or a linear combination of others; set model.alpha > 0 or drop the feature",
        fit.rcond));
  }
  return fit;
}

bool RidgeRegressionTrainer::update(const Partial& merged) {
  const auto k = static_cast<Eigen::Index>(columns_.size());
  stats_ = merged.empty() ? SufficientStats::empty(k) : SufficientStats::from_buffer(merged, k);
  fit_ = solve(stats_, options_);
  return false;
}

std::shared_ptr<const FittedModel> RidgeRegressionTrainer::model() const {
  return std::make_shared<LinearModel>(kind_, features_, fit_.coefficients, fit_.intercept,
                                       options_.alpha, options_.fit_intercept);
}

Metrics RidgeRegressionTrainer::metrics() const {
  return {{"rmse", fit_.rmse},
          {"r2", fit_.r2},
          {"rcond", fit_.rcond},
          {"num_rows", static_cast<double>(fit_.num_rows)}};
}

} // namespace sluice::model
