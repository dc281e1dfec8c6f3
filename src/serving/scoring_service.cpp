// The served model: loaded once, swapped atomically on refresh, never mixed within an answer.
#include "sluice/serving/scoring_service.hpp"

#include "sluice/serving/predict_json.hpp"
#include "sluice/serving/request_error.hpp"
#include "sluice/snapshot/model_reference.hpp"

#include <fmt/format.h>
#include <fmt/std.h>
#include <spdlog/spdlog.h>

namespace sluice::serving {
namespace {

// The file the source names now (the registry's pointers move; the snapshot files never change).
snapshot::ResolvedSnapshot resolve_source(const ModelSource& source) {
  return snapshot::resolve(snapshot::SnapshotRegistry(source.registry),
                           snapshot::parse_model_reference(source.reference));
}

std::shared_ptr<const LoadedModel> load_source(const ModelSource& source) {
  if (source.registry.empty()) return LoadedModel::load(source.file);
  snapshot::ResolvedSnapshot resolved = resolve_source(source);
  return LoadedModel::load(resolved.path, ExpectedIdentity{resolved.name, resolved.version});
}

} // namespace

ModelSource ModelSource::from_registry(std::filesystem::path registry, std::string reference) {
  return {.registry = std::move(registry), .reference = std::move(reference), .file = {}};
}

ModelSource ModelSource::from_file(std::filesystem::path file) {
  return {.registry = {}, .reference = {}, .file = std::move(file)};
}

std::string ModelSource::describe() const {
  return registry.empty() ? file.string() : fmt::format("{} in {}", reference, registry.string());
}

ScoringService::ScoringService(ModelSource source)
    : source_(std::move(source)), current_(load_source(source_)) {}

Scores ScoringService::score(std::span<const NamedColumn> columns) const {
  std::shared_ptr<const LoadedModel> model = this->model();
  const auto& names = model->raw_columns();
  const Eigen::Index num_columns = static_cast<Eigen::Index>(names.size());
  if (columns.empty()) throw RequestError("no columns given");
  const std::size_t num_rows = columns.front().values.size();
  Eigen::MatrixXd raw(static_cast<Eigen::Index>(num_rows), num_columns);
  std::vector<char> is_given(names.size(), 0);
  for (const NamedColumn& column : columns) {
    const int j = model->raw_column_index(column.name);
    if (j < 0) {
      throw RequestError(fmt::format("unknown column '{}': model '{}' takes {}", column.name,
                                     model->name(), describe_columns(names)));
    }
    if (is_given[static_cast<std::size_t>(j)]) {
      throw RequestError(fmt::format("column '{}' is given twice", column.name));
    }
    if (column.values.size() != num_rows) {
      throw RequestError(fmt::format("column '{}' has {} values, column '{}' has {}", column.name,
                                     column.values.size(), columns.front().name, num_rows));
    }
    is_given[static_cast<std::size_t>(j)] = 1;
    std::copy(column.values.begin(), column.values.end(), raw.col(j).data());
  }
  for (std::size_t j = 0; j < names.size(); ++j) {
    if (!is_given[j]) throw RequestError(fmt::format("missing column '{}'", names[j]));
  }
  return score(std::move(model), raw);
}

Scores ScoringService::score(std::shared_ptr<const LoadedModel> model,
                             const Eigen::Ref<const Eigen::MatrixXd>& raw) {
  if (raw.cols() != static_cast<Eigen::Index>(model->raw_columns().size())) {
    throw RequestError(fmt::format("{} columns given, model '{}' takes {}", raw.cols(), model->name(),
                                   model->raw_columns().size()));
  }
  snapshot::RawScores scored = model->score(raw);
  return {.model = std::move(model), .outputs = std::move(scored.outputs), .kept = std::move(scored.kept)};
}

RefreshResult ScoringService::refresh() {
  std::lock_guard lock(refresh_mutex_);
  std::shared_ptr<const LoadedModel> served = current_.load();
  if (source_.registry.empty()) return {RefreshResult::Outcome::unchanged, served->version(), {}};
  std::string failure;
  try {
    snapshot::ResolvedSnapshot resolved = resolve_source(source_);
    if (resolved.name == served->name() && resolved.version == served->version()) {
      last_error_.clear();
      last_logged_failure_.clear();
      return {RefreshResult::Outcome::unchanged, served->version(), {}};
    }
    try {
      std::shared_ptr<const LoadedModel> fresh =
          LoadedModel::load(resolved.path, ExpectedIdentity{resolved.name, resolved.version});
      current_.store(fresh);
      spdlog::info("serving {} version {} (was version {})", source_.describe(), fresh->version(),
                   served->version());
      last_error_.clear();
      last_logged_failure_.clear();
      return {RefreshResult::Outcome::loaded, fresh->version(), {}};
    } catch (const std::exception& error) {
      failure = fmt::format("version {} refused, still serving version {}: {}", resolved.version,
                            served->version(), error.what());
    }
  } catch (const std::exception& error) {
    failure = fmt::format("cannot resolve {}, still serving version {}: {}", source_.describe(),
                          served->version(), error.what());
  }
  // Polled every few hundred milliseconds: say it once, not on every poll.
  if (failure != last_logged_failure_) {
    spdlog::warn("{}", failure);
    last_logged_failure_ = failure;
  }
  last_error_ = failure;
  return {RefreshResult::Outcome::failed, served->version(), failure};
}

std::string ScoringService::last_refresh_error() const {
  std::lock_guard lock(refresh_mutex_);
  return last_error_;
}

} // namespace sluice::serving
