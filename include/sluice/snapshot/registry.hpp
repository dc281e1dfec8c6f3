// SnapshotRegistry: numbered snapshot versions per model name and an atomic "current" pointer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sluice::snapshot {

/// A directory of models: REGISTRY/NAME/v000001.h5, ..., and REGISTRY/NAME/CURRENT naming the
/// current version. Publishing never changes an existing version and moves CURRENT last, each
/// step atomic and durable, so readers never see a half-written snapshot.
class SnapshotRegistry {
public:
  explicit SnapshotRegistry(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const noexcept { return root_; }
  std::filesystem::path model_directory(const std::string& name) const { return root_ / name; }
  std::filesystem::path snapshot_path(const std::string& name, std::int64_t version) const;
  std::filesystem::path report_path(const std::string& name, std::int64_t version) const;

  std::vector<std::string> model_names() const;
  /// Published versions of the model, ascending.
  std::vector<std::int64_t> versions(const std::string& name) const;
  std::optional<std::int64_t> current_version(const std::string& name) const;

  /// Writes the files of a new version and makes it current. write_snapshot(temp, version) must
  /// create the snapshot at temp; report_json is stored beside it. Holds an exclusive lock on
  /// the model directory so concurrent publishers get distinct versions. Returns the version.
  std::int64_t publish(
      const std::string& name,
      const std::function<void(const std::filesystem::path&, std::int64_t)>& write_snapshot,
      const std::function<std::string(std::int64_t)>& report_json);

  static std::string file_name(std::int64_t version);

  /// Checks, before any work, that a version of `name` could be published here: the registry
  /// and the model directory are (or can be made) directories in which a file can be created.
  /// Creates them if missing. Throws ConfigError (not a directory) or IoError naming the path.
  void check_publishable(const std::string& name) const;

  /// Removes the temporaries (`v*.h5.tmp-*`, `v*.report.json.tmp-*`, `CURRENT.tmp-*`) that
  /// publishers killed before finishing left behind. Only safe under the model's publish lock,
  /// which every writer of such files holds; publish calls it. Returns how many were removed.
  std::int64_t remove_stale_temporaries(const std::string& name) const;

private:
  std::filesystem::path root_;
};

} // namespace sluice::snapshot
