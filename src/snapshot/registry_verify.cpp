// Checking a whole registry: every snapshot's checksum and contents, every pointer, the history.
#include "sluice/snapshot/registry.hpp"

#include "registry_files.hpp"

#include "sluice/error.hpp"
#include "sluice/snapshot/snapshot.hpp"
#include "sluice/snapshot/snapshot_checksum.hpp"

#include <fmt/format.h>
#include <fmt/std.h>

#include <set>

namespace sluice::snapshot {
namespace {

using namespace registry_files;

void verify_model(const SnapshotRegistry& registry, const std::string& name,
                  std::vector<RegistryProblem>& problems) {
  const std::filesystem::path directory = registry.checked_model_directory(name);
  const std::vector<std::int64_t> versions = registry.versions(name);
  const std::set<std::int64_t> present(versions.begin(), versions.end());
  for (std::int64_t version : versions) {
    const std::filesystem::path path = registry.snapshot_path(name, version);
    try {
      registry.check_inside(path, "snapshot");
      verify_snapshot_file(path); // also refuses files from before checksums: they cannot be verified
      const Snapshot s = read_snapshot(path);
      if (s.model_name != name || s.version != version) {
        problems.push_back({path, fmt::format("holds model '{}' version {}, not '{}' version {}",
                                              s.model_name, s.version, name, version)});
      }
    } catch (const Error& error) {
      problems.push_back({path, error.what()});
    }
  }
  auto check_pointer = [&](const std::filesystem::path& pointer, auto read) {
    try {
      const std::optional<std::int64_t> version = read();
      if (version && !present.contains(*version)) {
        problems.push_back({pointer, fmt::format("names version {}, which does not exist", *version)});
      }
    } catch (const Error& error) {
      problems.push_back({pointer, error.what()});
    }
  };
  check_pointer(directory / current_file, [&] { return registry.current_version(name); });
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory / aliases_directory, error)) {
    const std::string alias = entry.path().filename().string();
    if (alias.starts_with(".")) continue; // a temporary
    check_pointer(entry.path(), [&] { return registry.alias_version(name, alias); });
  }
  try {
    registry.history(name);
  } catch (const Error& failure) {
    problems.push_back({registry.history_path(name), failure.what()});
  }
}

} // namespace

std::vector<RegistryProblem> SnapshotRegistry::verify(const std::optional<std::string>& name) const {
  if (!std::filesystem::is_directory(root_)) {
    throw ConfigError(fmt::format("registry {} is not a directory", root_));
  }
  std::vector<RegistryProblem> problems;
  if (name) {
    if (!std::filesystem::is_directory(checked_model_directory(*name))) {
      throw ConfigError(fmt::format("registry {} has no model '{}'", root_, *name));
    }
    verify_model(*this, *name, problems);
  } else {
    for (const std::string& model : model_names()) verify_model(*this, model, problems);
  }
  return problems;
}

} // namespace sluice::snapshot
