// LinearModel: intercept + w·x, the fitted form of ridge, OLS and the ridge search.
#pragma once

#include "sluice/model/trainer.hpp"

namespace sluice::model {

class LinearModel final : public FittedModel {
public:
  LinearModel(std::string kind, std::vector<std::string> features, Eigen::VectorXd coefficients,
              double intercept, double alpha, bool fit_intercept)
      : kind_(std::move(kind)), features_(std::move(features)),
        coefficients_(std::move(coefficients)), intercept_(intercept), alpha_(alpha),
        fit_intercept_(fit_intercept) {}

  static std::shared_ptr<const LinearModel> load(const std::string& kind,
                                                 const std::vector<std::string>& features,
                                                 const ParameterReader& reader);

  std::string_view kind() const override { return kind_; }
  const std::vector<std::string>& features() const override { return features_; }
  std::vector<std::string> outputs() const override { return {"prediction"}; }
  void score(const double* in, std::int64_t in_ld, std::int64_t rows, double* out,
             std::int64_t out_ld) const override;
  void save(ParameterWriter& writer) const override;
  std::string describe() const override;

  const Eigen::VectorXd& coefficients() const noexcept { return coefficients_; }
  double intercept() const noexcept { return intercept_; }

private:
  std::string kind_;
  std::vector<std::string> features_;
  Eigen::VectorXd coefficients_;
  double intercept_;
  double alpha_;
  bool fit_intercept_;
};

} // namespace sluice::model
