// PCA from one pass of count, mean and centred co-moments; scoring projects rows.
#pragma once

#include "sluice/job/job_spec.hpp"
#include "sluice/model/trainer.hpp"

namespace sluice::model {

/// Principal axes of the centred data, largest variance first. The sign of each component is
/// fixed so that its largest-magnitude loading is positive (the first such on ties).
class PcaModel final : public FittedModel {
public:
  PcaModel(std::vector<std::string> features, Eigen::VectorXd mean, Eigen::MatrixXd components,
           Eigen::VectorXd explained_variance, Eigen::VectorXd explained_variance_ratio,
           bool is_whitening);
  static std::shared_ptr<const PcaModel> load(const std::vector<std::string>& features,
                                              const ParameterReader& reader);

  std::string_view kind() const override { return "pca"; }
  const std::vector<std::string>& features() const override { return features_; }
  std::vector<std::string> outputs() const override;
  void score(const double* in, std::int64_t in_ld, std::int64_t rows, double* out,
             std::int64_t out_ld) const override;
  void save(ParameterWriter& writer) const override;
  std::string describe() const override;

  const Eigen::MatrixXd& components() const noexcept { return components_; } ///< m × d
  const Eigen::VectorXd& explained_variance() const noexcept { return explained_variance_; }

private:
  std::vector<std::string> features_;
  Eigen::VectorXd mean_;
  Eigen::MatrixXd components_;
  Eigen::VectorXd explained_variance_;
  Eigen::VectorXd explained_variance_ratio_;
  bool is_whitening_;
};

class PcaTrainer final : public Trainer {
public:
  /// Reads model.components (1..features, default all) and model.whiten (default false).
  explicit PcaTrainer(const job::ModelSpec& spec);

  std::string_view kind() const override { return "pca"; }
  const std::vector<std::string>& columns() const override { return features_; }
  bool is_iterative() const override { return false; }
  std::string pass_name() const override { return "statistics"; }
  std::unique_ptr<PartialAccumulator> make_accumulator(const PartitionKey& partition,
                                                       const AccumulatorOptions& options) const override;
  void merge(Partial& into, const Partial& from) const override;
  bool update(const Partial& merged) override;
  std::shared_ptr<const FittedModel> model() const override { return model_; }
  Metrics metrics() const override;
  const SufficientStats* statistics() const override { return &stats_; }

private:
  std::vector<std::string> features_;
  Eigen::Index num_components_;
  bool is_whitening_;
  SufficientStats stats_;
  double explained_ratio_total_ = 0.0;
  std::shared_ptr<const PcaModel> model_;
};

} // namespace sluice::model
