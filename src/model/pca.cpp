// PCA: eigen-decomposition of the merged covariance (n − 1, as scikit-learn), fixed signs.
#include "pca.hpp"

#include "statistics_accumulator.hpp"

#include "sluice/error.hpp"

#include <Eigen/Eigenvalues>
#include <fmt/format.h>

namespace sluice::model {

PcaModel::PcaModel(std::vector<std::string> features, Eigen::VectorXd mean,
                   Eigen::MatrixXd components, Eigen::VectorXd explained_variance,
                   Eigen::VectorXd explained_variance_ratio, bool is_whitening)
    : features_(std::move(features)), mean_(std::move(mean)), components_(std::move(components)),
      explained_variance_(std::move(explained_variance)),
      explained_variance_ratio_(std::move(explained_variance_ratio)), is_whitening_(is_whitening) {}

std::vector<std::string> PcaModel::outputs() const {
  std::vector<std::string> names;
  for (Eigen::Index c = 0; c < components_.rows(); ++c) names.push_back(fmt::format("pc{}", c));
  return names;
}

void PcaModel::score(const double* in, std::int64_t in_ld, std::int64_t rows, double* out,
                     std::int64_t out_ld) const {
  const auto d = static_cast<Eigen::Index>(features_.size());
  Eigen::Map<const Eigen::MatrixXd, 0, Eigen::OuterStride<>> x(in, rows, d, Eigen::OuterStride<>(in_ld));
  Eigen::Map<Eigen::MatrixXd, 0, Eigen::OuterStride<>> y(out, rows, components_.rows(),
                                                         Eigen::OuterStride<>(out_ld));
  y.noalias() = (x.rowwise() - mean_.transpose()) * components_.transpose();
  if (is_whitening_) y *= explained_variance_.cwiseSqrt().cwiseInverse().asDiagonal();
}

void PcaModel::save(ParameterWriter& writer) const {
  writer.vector("mean", mean_);
  writer.matrix("components", components_);
  writer.vector("explained_variance", explained_variance_);
  writer.vector("explained_variance_ratio", explained_variance_ratio_);
  writer.integer("whiten", is_whitening_ ? 1 : 0);
}

std::shared_ptr<const PcaModel> PcaModel::load(const std::vector<std::string>& features,
                                               const ParameterReader& reader) {
  const auto d = static_cast<Eigen::Index>(features.size());
  Eigen::MatrixXd components = reader.matrix("components", -1, d);
  const Eigen::Index m = components.rows();
  return std::make_shared<PcaModel>(features, reader.vector("mean", d), std::move(components),
                                    reader.vector("explained_variance", m),
                                    reader.vector("explained_variance_ratio", m),
                                    reader.integer("whiten") != 0);
}

std::string PcaModel::describe() const {
  return fmt::format("components={}, whiten={}", components_.rows(), is_whitening_);
}

PcaTrainer::PcaTrainer(const job::ModelSpec& spec) : features_(spec.features) {
  job::ModelParams params = spec.params;
  if (!spec.label.empty()) params.fail("label", "is not used by kind = 'pca'; remove it");
  const auto d = static_cast<std::int64_t>(features_.size());
  const std::int64_t components = params.integer("components").value_or(d);
  if (components < 1 || components > d) {
    params.fail("components", fmt::format("must be 1..{} (the number of features), got {}", d, components));
  }
  num_components_ = static_cast<Eigen::Index>(components);
  is_whitening_ = params.boolean("whiten").value_or(false);
  params.refuse_unknown_keys();
}

std::unique_ptr<PartialAccumulator> PcaTrainer::make_accumulator(
    const PartitionKey&, const AccumulatorOptions& options) const {
  return std::make_unique<StatisticsAccumulator>(static_cast<Eigen::Index>(features_.size()), options);
}

void PcaTrainer::merge(Partial& into, const Partial& from) const { merge_statistics(into, from); }

bool PcaTrainer::update(const Partial& merged) {
  const auto d = static_cast<Eigen::Index>(features_.size());
  stats_ = merged.empty() ? SufficientStats::empty(d) : SufficientStats::from_buffer(merged, d);
  if (stats_.count < 2) {
    throw DataError(fmt::format("PCA needs at least 2 usable rows, the selected partitions hold {}",
                                stats_.count));
  }
  const Eigen::MatrixXd covariance =
      Eigen::MatrixXd(stats_.comoment.selfadjointView<Eigen::Lower>()) /
      static_cast<double>(stats_.count - 1);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(covariance);
  if (solver.info() != Eigen::Success) {
    throw NumericalError("PCA: the eigen-decomposition of the covariance did not converge");
  }
  // Eigen sorts ascending; take the largest first. Round-off can leave tiny negative variances.
  Eigen::MatrixXd components(num_components_, d);
  Eigen::VectorXd variance(num_components_);
  for (Eigen::Index c = 0; c < num_components_; ++c) {
    Eigen::VectorXd axis = solver.eigenvectors().col(d - 1 - c);
    Eigen::Index largest = 0;
    axis.cwiseAbs().maxCoeff(&largest);
    if (axis(largest) < 0) axis = -axis;
    components.row(c) = axis.transpose();
    variance(c) = std::max(solver.eigenvalues()(d - 1 - c), 0.0);
  }
  const double total = covariance.trace();
  Eigen::VectorXd ratio = total > 0 ? Eigen::VectorXd(variance / total) : Eigen::VectorXd::Zero(num_components_);
  if (is_whitening_ && (variance.array() <= 0).any()) {
    throw NumericalError("PCA with whiten = true: a kept component has zero variance; "
                         "lower model.components");
  }
  explained_ratio_total_ = ratio.sum();
  model_ = std::make_shared<PcaModel>(features_, stats_.mean, std::move(components),
                                      std::move(variance), std::move(ratio), is_whitening_);
  return false;
}

Metrics PcaTrainer::metrics() const {
  return {{"explained_variance_ratio_total", explained_ratio_total_},
          {"num_rows", static_cast<double>(stats_.count)}};
}

} // namespace sluice::model
