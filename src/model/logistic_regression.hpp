// Binary logistic regression (scikit-learn's L2 objective): distributed Newton passes, then one
// evaluation pass for the exact ROC AUC.
#pragma once

#include "sluice/job/job_spec.hpp"
#include "sluice/model/trainer.hpp"

#include <chrono>
#include <limits>

namespace sluice::model {

/// P(class 1) = sigmoid(intercept + w·x); class = 1 where that is at least 0.5.
class LogisticModel final : public FittedModel {
public:
  struct Options {
    double C = 1.0;
    double tol = 1e-8;
    std::int64_t max_iter = 100;
    bool fit_intercept = true;
  };

  LogisticModel(std::vector<std::string> features, Eigen::VectorXd coefficients, double intercept,
                Options options)
      : features_(std::move(features)), coefficients_(std::move(coefficients)),
        intercept_(intercept), options_(options) {}
  static std::shared_ptr<const LogisticModel> load(const std::vector<std::string>& features,
                                                   const ParameterReader& reader);

  std::string_view kind() const override { return "logistic"; }
  const std::vector<std::string>& features() const override { return features_; }
  std::vector<std::string> outputs() const override { return {"probability", "class"}; }
  void score(const double* in, std::int64_t in_ld, std::int64_t rows, double* out,
             std::int64_t out_ld) const override;
  void save(ParameterWriter& writer) const override;
  std::string describe() const override;

  const Eigen::VectorXd& coefficients() const noexcept { return coefficients_; }
  double intercept() const noexcept { return intercept_; }

private:
  std::vector<std::string> features_;
  Eigen::VectorXd coefficients_;
  double intercept_;
  Options options_;
};

/// Minimises C·Σ log-loss + ½‖w‖² (intercept unpenalised) by Newton's method with a backtracking
/// line search; each pass evaluates one point, so every rank takes the same steps.
class LogisticRegressionTrainer final : public Trainer {
public:
  /// Reads model.C, tol, max_iter, fit_intercept and allow_no_convergence; needs a label.
  explicit LogisticRegressionTrainer(const job::ModelSpec& spec);

  std::string_view kind() const override { return "logistic"; }
  const std::vector<std::string>& columns() const override { return columns_; }
  bool is_iterative() const override { return true; }
  std::string pass_name() const override;
  bool is_root_only_pass() const override { return phase_ == Phase::evaluate; }
  bool warm_start(const FittedModel& previous) override;
  std::string warm_start_signature() const override { return warm_signature_; }
  std::unique_ptr<PartialAccumulator> make_accumulator(const PartitionKey& partition,
                                                       const AccumulatorOptions& options) const override;
  void merge(Partial& into, const Partial& from) const override;
  bool update(const Partial& merged) override;
  std::shared_ptr<const FittedModel> model() const override;
  Metrics metrics() const override;
  History history() const override { return history_; }

private:
  enum class Phase { newton, evaluate, done };

  bool update_newton(const Partial& merged);
  void update_auc(const Partial& merged);
  // Moves to the point base + step·direction for the next pass.
  void set_point();

  std::vector<std::string> features_;
  std::vector<std::string> columns_;
  LogisticModel::Options options_;
  bool is_no_convergence_allowed_ = false;

  Phase phase_ = Phase::newton;
  Eigen::VectorXd point_;      // [w; b] evaluated by the current pass
  Eigen::VectorXd base_;       // the last accepted point
  Eigen::VectorXd direction_;  // Newton direction from base_
  Eigen::VectorXd base_gradient_;
  double base_objective_ = 0.0;
  double slope_ = 0.0;         // base_gradient_ · direction_
  double step_ = 0.0;          // 0 for the first point, then 1, ½, ¼, ...
  bool has_base_ = false;
  std::int64_t iterations_ = 0; // Newton systems solved

  // At the accepted point: the unpenalised fit for the metrics.
  double num_rows_ = 0.0;
  double loss_sum_ = 0.0;
  double num_correct_ = 0.0;
  double auc_ = std::numeric_limits<double>::quiet_NaN();

  History history_;
  std::chrono::steady_clock::time_point last_update_;
  std::string warm_signature_; ///< the warm starting point's bits, hex; empty: a cold start
};

} // namespace sluice::model
