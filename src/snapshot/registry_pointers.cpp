// Moving a model's pointers: aliases set and removed, rollbacks, and garbage collection, each
// under the model's lock, to verified versions only, and recorded in the history.
#include "sluice/snapshot/registry.hpp"

#include "registry_files.hpp"
#include "registry_history.hpp"

#include "sluice/error.hpp"
#include "sluice/snapshot/atomic_file.hpp"
#include "sluice/snapshot/model_reference.hpp"
#include "sluice/snapshot/snapshot_checksum.hpp"

#include <fmt/format.h>
#include <fmt/std.h>

#include <algorithm>
#include <set>

namespace sluice::snapshot {
namespace {

using namespace registry_files;

// The model directory of a model that exists, or ConfigError.
std::filesystem::path existing_model(const SnapshotRegistry& registry, const std::string& name) {
  const std::filesystem::path directory = registry.checked_model_directory(name);
  if (!std::filesystem::is_directory(directory)) {
    throw ConfigError(fmt::format("registry {} has no model '{}'", registry.root(), name));
  }
  return directory;
}

// A pointer may only name a version that exists and whose checksum holds.
void require_verified(const SnapshotRegistry& registry, const std::string& name, std::int64_t version) {
  const std::filesystem::path path = registry.snapshot_path(name, version);
  if (!std::filesystem::exists(path)) {
    throw ConfigError(fmt::format("model '{}' in {} has no version {}", name, registry.root(), version));
  }
  registry.check_inside(path, "snapshot");
  verify_snapshot_file(path);
}

std::filesystem::path alias_path(const std::filesystem::path& directory, const std::string& alias) {
  return directory / aliases_directory / alias;
}

} // namespace

void SnapshotRegistry::set_alias(const std::string& name, const std::string& alias,
                                 std::int64_t version, const std::string& reason) {
  check_alias_name(alias);
  const std::filesystem::path directory = existing_model(*this, name);
  ModelLock lock(directory, options_.use_lock);
  require_verified(*this, name, version);
  const std::optional<std::int64_t> before = alias_version(name, alias);
  if (before == version) return; // nothing moves, nothing to record
  std::filesystem::create_directories(directory / aliases_directory);
  check_inside(directory / aliases_directory, "alias directory");
  write_pointer(alias_path(directory, alias), "." + alias, version);
  registry_history::append(history_path(name),
                           registry_history::make_entry("alias_set", alias, before, version, reason));
}

void SnapshotRegistry::record_gate(const std::string& name, const std::string& alias,
                                   std::optional<std::int64_t> champion,
                                   std::optional<std::int64_t> challenger,
                                   std::map<std::string, double> metrics, const std::string& reason) {
  check_alias_name(alias);
  const std::filesystem::path directory = existing_model(*this, name);
  ModelLock lock(directory, options_.use_lock);
  HistoryEntry entry = registry_history::make_entry("gate", alias, champion, challenger, reason);
  entry.metrics = std::move(metrics);
  registry_history::append(history_path(name), entry);
}

void SnapshotRegistry::remove_alias(const std::string& name, const std::string& alias,
                                    const std::string& reason) {
  check_alias_name(alias);
  const std::filesystem::path directory = existing_model(*this, name);
  ModelLock lock(directory, options_.use_lock);
  const std::optional<std::int64_t> before = alias_version(name, alias);
  if (!before) throw ConfigError(fmt::format("model '{}' in {} has no alias '{}'", name, root_, alias));
  check_inside(alias_path(directory, alias), "alias");
  std::filesystem::remove(alias_path(directory, alias));
  fsync_directory(directory / aliases_directory);
  registry_history::append(history_path(name), registry_history::make_entry(
                                                   "alias_remove", alias, before, std::nullopt, reason));
}

std::int64_t SnapshotRegistry::rollback(const std::string& name, const std::optional<std::string>& alias,
                                        const std::string& reason) {
  if (alias) check_alias_name(*alias);
  const std::filesystem::path directory = existing_model(*this, name);
  ModelLock lock(directory, options_.use_lock);
  const std::string pointer = alias ? *alias : current_file;
  const std::string what = alias ? fmt::format("alias '{}'", *alias) : std::string("CURRENT");
  const auto previous = registry_history::previous_version(history(name), pointer);
  if (!previous) {
    throw ConfigError(fmt::format("model '{}': the history records no earlier version of {} to roll back to",
                                  name, what));
  }
  if (!*previous) {
    throw ConfigError(fmt::format("model '{}': {} named no version before its last move{}", name, what,
                                  alias ? "; remove it with `alias rm` instead" : ""));
  }
  const std::int64_t target = **previous;
  if (!std::filesystem::exists(snapshot_path(name, target))) {
    throw ConfigError(fmt::format("model '{}': {} named version {} before, which no longer exists",
                                  name, what, target));
  }
  require_verified(*this, name, target);
  const std::optional<std::int64_t> before = alias ? alias_version(name, *alias) : current_version(name);
  if (alias) {
    std::filesystem::create_directories(directory / aliases_directory);
    write_pointer(alias_path(directory, *alias), "." + *alias, target);
  } else {
    write_pointer(directory / current_file, current_file, target);
  }
  registry_history::append(history_path(name),
                           registry_history::make_entry("rollback", pointer, before, target, reason));
  return target;
}

std::vector<std::int64_t> SnapshotRegistry::collect_garbage(const std::string& name, std::int64_t keep,
                                                            const std::string& reason) {
  // The newest version always stays, so a number is never handed out twice.
  if (keep < 1) throw ConfigError(fmt::format("--keep must be at least 1, got {}", keep));
  const std::filesystem::path directory = existing_model(*this, name);
  ModelLock lock(directory, options_.use_lock);
  std::set<std::int64_t> pinned;
  if (auto current = current_version(name)) pinned.insert(*current);
  for (const auto& [alias, version] : aliases(name)) pinned.insert(version);
  const std::vector<std::int64_t> all = versions(name);
  std::vector<std::int64_t> removed;
  const auto num_unkept = static_cast<std::int64_t>(all.size()) - keep;
  for (std::int64_t i = 0; i < num_unkept; ++i) {
    const std::int64_t version = all[static_cast<std::size_t>(i)];
    if (pinned.contains(version)) continue;
    // The snapshot first: a report without its snapshot is never a version.
    std::filesystem::remove(snapshot_path(name, version));
    std::filesystem::remove(report_path(name, version));
    removed.push_back(version);
  }
  if (removed.empty()) return removed;
  fsync_directory(directory);
  HistoryEntry entry = registry_history::make_entry("gc", "", std::nullopt, std::nullopt, reason);
  entry.removed = removed;
  registry_history::append(history_path(name), entry);
  return removed;
}

} // namespace sluice::snapshot
