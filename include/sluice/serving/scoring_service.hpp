// ScoringService: the model a serving process answers with, swapped atomically when the registry moves.
#pragma once

#include "sluice/serving/loaded_model.hpp"

#include <Eigen/Core>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::serving {

/// Where the served snapshot comes from: a registry and a model reference, or one file.
struct ModelSource {
  /// Registry directory; empty when `file` is served as it is (and never changes).
  std::filesystem::path registry;
  /// "NAME" (the model's current version), "NAME@7" (that version) or "NAME@ALIAS".
  std::string reference;
  std::filesystem::path file;

  static ModelSource from_registry(std::filesystem::path registry, std::string reference);
  static ModelSource from_file(std::filesystem::path file);
  /// "NAME@ALIAS in REGISTRY" or "FILE", for messages.
  std::string describe() const;
};

/// One named column of raw values (a view: the caller keeps the values alive for the call).
struct NamedColumn {
  std::string_view name;
  std::span<const double> values;
};

/// One scoring answer together with the model that produced it, so a response never mixes versions.
struct Scores {
  std::shared_ptr<const LoadedModel> model;
  Eigen::MatrixXd outputs; ///< rows × model->outputs(), column-major; NaN where a row was not kept
  std::vector<char> kept;  ///< 1: the row passed the pipeline and was scored
};

/// What one refresh found.
struct RefreshResult {
  enum class Outcome {
    unchanged, ///< the source still names the version being served
    loaded,    ///< a different version was loaded, verified and is now served
    failed,    ///< the source names another version that could not be resolved, loaded or verified
  };
  Outcome outcome = Outcome::unchanged;
  std::int64_t version = 0; ///< the version served after the refresh
  std::string error;        ///< why, when failed
};

/// Serves one model: loads and verifies it, scores blocks of rows for any number of concurrent
/// callers, and swaps in the version the registry names when refresh() finds it moved. Each
/// call scores with one immutable LoadedModel from start to end, and says which.
class ScoringService {
public:
  /// Resolves and loads the source's snapshot. Throws ConfigError (bad reference, no registry),
  /// DataError (no such model or version, a snapshot that fails verification) or IoError.
  explicit ScoringService(ModelSource source);

  const ModelSource& source() const noexcept { return source_; }

  /// The model served now; hold the pointer for the whole of a request.
  std::shared_ptr<const LoadedModel> model() const noexcept { return current_.load(); }

  /// Scores named columns with the current model. Every raw column of the model must be given
  /// once, with the same number of rows; throws RequestError naming a missing, unknown or
  /// repeated column or the lengths that differ.
  Scores score(std::span<const NamedColumn> columns) const;

  /// Scores raw rows already in `model`'s raw column order (rows × model->raw_columns()).
  static Scores score(std::shared_ptr<const LoadedModel> model,
                      const Eigen::Ref<const Eigen::MatrixXd>& raw);

  /// Looks at the source again and, when it names a different version than the one served,
  /// loads and verifies that version and swaps it in. When that fails the served version stays
  /// and the failure is returned and kept in last_refresh_error(); it is logged once per version.
  /// Never throws; safe to call from any thread (refreshes run one at a time).
  RefreshResult refresh();

  /// The latest refresh failure, or empty when the last refresh that looked was fine.
  std::string last_refresh_error() const;

private:
  ModelSource source_;
  std::atomic<std::shared_ptr<const LoadedModel>> current_;
  mutable std::mutex refresh_mutex_; // serialises refreshes and guards the fields below
  std::string last_error_;
  std::string last_logged_failure_;
};

} // namespace sluice::serving
