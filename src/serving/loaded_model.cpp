// Reading and verifying a snapshot for serving.
#include "sluice/serving/loaded_model.hpp"

#include "sluice/error.hpp"
#include "sluice/hdf5/library_lock.hpp"

#include <fmt/format.h>
#include <fmt/std.h>

#include <algorithm>
#include <set>

namespace sluice::serving {
namespace {

// Refuses what read_snapshot accepts but serving cannot use: no model, nothing to return, raw
// columns a request could not name unambiguously.
void verify(const snapshot::Snapshot& s, const std::vector<std::string>& raw_columns,
            const std::vector<std::string>& outputs, const std::filesystem::path& file) {
  if (s.model == nullptr) throw DataError(fmt::format("snapshot {} holds no model", file));
  if (outputs.empty()) throw DataError(fmt::format("snapshot {}: the model has no outputs", file));
  if (raw_columns.empty()) {
    throw DataError(fmt::format("snapshot {}: the model takes no input columns", file));
  }
  std::set<std::string_view> seen;
  for (const std::string& column : raw_columns) {
    if (column.empty()) throw DataError(fmt::format("snapshot {}: an input column has no name", file));
    if (!seen.insert(column).second) {
      throw DataError(fmt::format("snapshot {}: input column '{}' appears twice", file, column));
    }
  }
}

} // namespace

std::shared_ptr<const LoadedModel> LoadedModel::load(const std::filesystem::path& file,
                                                     const std::optional<ExpectedIdentity>& expected) {
  snapshot::Snapshot s;
  {
    // The HDF5 build is not thread-safe and the caller's other threads may use it too.
    hdf5::LibraryLock lock = hdf5::lock_library();
    s = snapshot::read_snapshot(file);
  }
  if (expected && (s.model_name != expected->name || s.version != expected->version)) {
    throw DataError(fmt::format("snapshot {} holds model '{}' version {}, expected '{}' version {}",
                                file, s.model_name, s.version, expected->name, expected->version));
  }
  std::shared_ptr<LoadedModel> model(new LoadedModel(std::move(s), file));
  verify(model->snapshot_, model->raw_columns_, model->outputs_, file);
  return model;
}

LoadedModel::LoadedModel(snapshot::Snapshot snapshot, std::filesystem::path path)
    : snapshot_(std::move(snapshot)), path_(std::move(path)) {
  if (snapshot_.model != nullptr) {
    raw_columns_ = snapshot::raw_columns(snapshot_);
    outputs_ = snapshot_.model->outputs();
  }
  for (std::size_t j = 0; j < raw_columns_.size(); ++j) {
    column_index_.emplace(raw_columns_[j], static_cast<int>(j));
  }
}

int LoadedModel::raw_column_index(std::string_view column) const noexcept {
  auto found = column_index_.find(column);
  return found == column_index_.end() ? -1 : found->second;
}

snapshot::RawScores LoadedModel::score(const Eigen::Ref<const Eigen::MatrixXd>& raw) const {
  return snapshot::score_raw(snapshot_, raw);
}

} // namespace sluice::serving
