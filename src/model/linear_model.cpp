// Scoring, saving and loading of linear models.
#include "linear_model.hpp"

#include <fmt/format.h>

namespace sluice::model {

void LinearModel::score(const double* in, std::int64_t in_ld, std::int64_t rows, double* out,
                        std::int64_t) const {
  const auto d = static_cast<Eigen::Index>(features_.size());
  Eigen::Map<const Eigen::MatrixXd, 0, Eigen::OuterStride<>> x(in, rows, d, Eigen::OuterStride<>(in_ld));
  Eigen::Map<Eigen::VectorXd> y(out, rows);
  y.noalias() = x * coefficients_;
  y.array() += intercept_;
}

void LinearModel::save(ParameterWriter& writer) const {
  writer.vector("coefficients", coefficients_);
  writer.scalar("intercept", intercept_);
  writer.scalar("alpha", alpha_);
  writer.integer("fit_intercept", fit_intercept_ ? 1 : 0);
}

std::shared_ptr<const LinearModel> LinearModel::load(const std::string& kind,
                                                     const std::vector<std::string>& features,
                                                     const ParameterReader& reader) {
  const auto d = static_cast<Eigen::Index>(features.size());
  return std::make_shared<LinearModel>(kind, features, reader.vector("coefficients", d),
                                       reader.scalar("intercept"), reader.scalar("alpha"),
                                       reader.integer("fit_intercept") != 0);
}

std::string LinearModel::describe() const {
  return fmt::format("alpha={}, fit_intercept={}", alpha_, fit_intercept_);
}

} // namespace sluice::model
