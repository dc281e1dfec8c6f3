// LoadedModel: one snapshot read, verified and made ready to score; immutable and shared.
#pragma once

#include "sluice/snapshot/snapshot.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice::serving {

/// What a loaded snapshot must be, when the caller knows it (from the registry that named it).
struct ExpectedIdentity {
  std::string name;
  std::int64_t version = 0;
};

/// A verified snapshot ready to score. Never changes after loading, so any number of threads may
/// score with it while a newer version is loaded beside it.
class LoadedModel {
public:
  /// Reads and verifies the snapshot at `file` (read_snapshot's own checks, then a model with
  /// outputs, distinct raw columns and, when `expected` is given, that name and version).
  /// Throws DataError naming the file and what is wrong.
  static std::shared_ptr<const LoadedModel> load(const std::filesystem::path& file,
                                                 const std::optional<ExpectedIdentity>& expected = {});

  const snapshot::Snapshot& snapshot() const noexcept { return snapshot_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  const std::string& name() const noexcept { return snapshot_.model_name; }
  std::int64_t version() const noexcept { return snapshot_.version; }
  const std::string& kind() const noexcept { return snapshot_.model_kind; }
  /// The columns a request supplies per row, in the order score() takes them.
  const std::vector<std::string>& raw_columns() const noexcept { return raw_columns_; }
  /// The columns score() returns, in order (e.g. "prediction"; "probability", "class").
  const std::vector<std::string>& outputs() const noexcept { return outputs_; }
  /// Position of `column` in raw_columns(), or -1 when the model takes no such column.
  int raw_column_index(std::string_view column) const noexcept;

  /// Scores raw rows (column-major rows × raw_columns()) through the snapshot's pipeline and model.
  snapshot::RawScores score(const Eigen::Ref<const Eigen::MatrixXd>& raw) const;

private:
  LoadedModel(snapshot::Snapshot snapshot, std::filesystem::path path);

  snapshot::Snapshot snapshot_;
  std::filesystem::path path_;
  std::vector<std::string> raw_columns_;
  std::vector<std::string> outputs_;
  // Looked up once per value of a request: hashed without building a std::string.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const noexcept {
      return std::hash<std::string_view>{}(name);
    }
  };
  std::unordered_map<std::string, int, NameHash, std::equal_to<>> column_index_;
};

} // namespace sluice::serving
