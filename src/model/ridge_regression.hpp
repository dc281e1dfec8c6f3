// RidgeRegressionTrainer: ridge / OLS in one pass of sufficient statistics, as a plug-in.
#pragma once

#include "sluice/job/job_spec.hpp"
#include "sluice/model/ridge_trainer.hpp"
#include "sluice/model/trainer.hpp"

namespace sluice::model {

class RidgeRegressionTrainer final : public Trainer {
public:
  /// Reads model.alpha (ridge: default 1; ols: 0 only) and model.fit_intercept.
  explicit RidgeRegressionTrainer(const job::ModelSpec& spec);

  std::string_view kind() const override { return kind_; }
  const std::vector<std::string>& columns() const override { return columns_; }
  bool is_iterative() const override { return false; }
  std::string pass_name() const override { return "statistics"; }
  std::unique_ptr<PartialAccumulator> make_accumulator(const PartitionKey& partition,
                                                       const AccumulatorOptions& options) const override;
  void merge(Partial& into, const Partial& from) const override;
  bool update(const Partial& merged) override;
  std::shared_ptr<const FittedModel> model() const override;
  Metrics metrics() const override;
  const SufficientStats* statistics() const override { return &stats_; }

  /// Solves from merged statistics; throws DataError (no rows) or NumericalError (singular).
  static RidgeFit solve(const SufficientStats& stats, const RidgeOptions& options);

private:
  std::string kind_;
  std::vector<std::string> features_;
  std::vector<std::string> columns_;
  RidgeOptions options_;
  SufficientStats stats_;
  RidgeFit fit_;
};

} // namespace sluice::model
