// SnapshotRegistry: numbered snapshot versions per model name, CURRENT, aliases and their history.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::snapshot {

struct RegistryOptions {
  /// Also hold an exclusive flock on NAME/.lock while publishing or moving a pointer. Version
  /// numbers never depend on it (they are claimed with link(), which holds on NFS); it orders
  /// pointer moves and makes removing a dead publisher's leftovers safe. Where flock is not
  /// supported (ENOLCK, EOPNOTSUPP) the registry goes on without it.
  bool use_lock = true;
  /// Test hook (see coordinator::RunOptions::fault_point): publish calls it with
  /// "snapshot_written" once the snapshot is complete under its temporary name, before it is
  /// linked into place, and with "pointer_moving" just before CURRENT is renamed.
  std::function<void(std::string_view)> fault_point;
};

/// One move recorded in NAME/history.jsonl (docs/snapshot-format.md).
struct HistoryEntry {
  std::string time_utc;                ///< "2026-11-03T10:00:00Z"
  std::string action;                  ///< "publish", "alias_set", "alias_remove", "rollback", "gc"
  std::string pointer;                 ///< "CURRENT" or the alias; empty for "gc"
  std::optional<std::int64_t> from;    ///< the version named before (none: the pointer was new)
  std::optional<std::int64_t> to;      ///< the version named after (none: the alias was removed)
  std::vector<std::int64_t> removed;   ///< "gc": the versions removed
  /// "gate": the metric's value for the champion and the challenger, and the margin.
  std::map<std::string, double> metrics;
  std::string reason;
  std::string user;
  std::string host;
};

/// A file of the registry found bad by verify().
/// The entry as one line of NAME/history.jsonl (JSON, no newline).
std::string history_line(const HistoryEntry& entry);

struct RegistryProblem {
  std::filesystem::path path;
  std::string problem;
};

/// A directory of models: REGISTRY/NAME/v000001.h5, ..., REGISTRY/NAME/CURRENT naming the current
/// version and REGISTRY/NAME/aliases/ALIAS naming others. Publishing never changes an existing
/// version and moves CURRENT last, each step atomic and durable, so readers never see a
/// half-written snapshot. Every pointer moves to a version whose checksum was verified, by one
/// atomic rename, and is appended to NAME/history.jsonl. Model and alias names are checked
/// (sluice/registry_name.hpp) and nothing is read or written outside the registry.
class SnapshotRegistry {
public:
  explicit SnapshotRegistry(std::filesystem::path root, RegistryOptions options = {})
      : root_(std::move(root)), options_(options) {}

  const std::filesystem::path& root() const noexcept { return root_; }
  std::filesystem::path model_directory(const std::string& name) const { return root_ / name; }
  std::filesystem::path snapshot_path(const std::string& name, std::int64_t version) const;
  std::filesystem::path report_path(const std::string& name, std::int64_t version) const;
  std::filesystem::path history_path(const std::string& name) const;

  std::vector<std::string> model_names() const;
  /// Published versions of the model, ascending.
  std::vector<std::int64_t> versions(const std::string& name) const;
  std::optional<std::int64_t> current_version(const std::string& name) const;
  /// The version the alias names, or nullopt when the model has no such alias.
  std::optional<std::int64_t> alias_version(const std::string& name, const std::string& alias) const;
  /// Every alias of the model with the version it names, by alias name.
  std::map<std::string, std::int64_t> aliases(const std::string& name) const;
  /// The recorded moves, oldest first. A last line cut short by a crash is skipped.
  std::vector<HistoryEntry> history(const std::string& name) const;

  /// The model's directory after checking that `name` is a valid registry name
  /// (sluice/registry_name.hpp, else ConfigError), that the registry is not a file (ConfigError)
  /// and that the directory, once symbolic links are followed, lies inside the registry (else
  /// DataError). It need not exist.
  std::filesystem::path checked_model_directory(const std::string& name) const;
  /// Throws DataError naming `what` unless `path`, once symbolic links are followed, lies inside
  /// the registry.
  void check_inside(const std::filesystem::path& path, std::string_view what) const;

  /// Writes the files of a new version and makes it current. write_snapshot(temp, version) must
  /// create the snapshot at temp, sealed with its checksum (write_snapshot in snapshot.hpp does);
  /// report_json is stored beside it. The version number is claimed with link(), so concurrent
  /// publishers on any hosts get distinct numbers; CURRENT moves to it (unless a newer version
  /// appeared meanwhile) and the move is recorded. Returns the version.
  std::int64_t publish(
      const std::string& name,
      const std::function<void(const std::filesystem::path&, std::int64_t)>& write_snapshot,
      const std::function<std::string(std::int64_t)>& report_json);

  /// Records a champion/challenger decision ("gate": pointer is the alias, from the champion's
  /// version, to the challenger's if it was published, metrics both values and the margin). It
  /// moves nothing: rollback ignores such entries.
  void record_gate(const std::string& name, const std::string& alias,
                   std::optional<std::int64_t> champion, std::optional<std::int64_t> challenger,
                   std::map<std::string, double> metrics, const std::string& reason);
  /// Points the alias at a published version after verifying its checksum; records the move.
  void set_alias(const std::string& name, const std::string& alias, std::int64_t version,
                 const std::string& reason);
  /// Removes the alias (ConfigError if there is none); records the move.
  void remove_alias(const std::string& name, const std::string& alias, const std::string& reason);
  /// Moves CURRENT (no alias) or the alias back to the version it named before its last move
  /// that was not itself undone by a rollback, as the history records it; the target must still
  /// exist and verify. Returns the version it now names. ConfigError if there is nothing to go
  /// back to.
  std::int64_t rollback(const std::string& name, const std::optional<std::string>& alias,
                        const std::string& reason);
  /// Removes all but the `keep` newest versions (keep >= 1), never one that CURRENT or an alias
  /// names, with their reports; records the removal. Returns the versions removed, ascending.
  std::vector<std::int64_t> collect_garbage(const std::string& name, std::int64_t keep,
                                            const std::string& reason);

  /// Checks every version of the model (or of every model): checksum, readable snapshot, model
  /// name and version attributes matching the file name, CURRENT and aliases naming versions that
  /// exist, the history readable. Returns the problems found (none: all good).
  std::vector<RegistryProblem> verify(const std::optional<std::string>& name = std::nullopt) const;

  static std::string file_name(std::int64_t version);

  /// Checks, before any work, that a version of `name` could be published here: the name is
  /// valid, the registry and the model directory are (or can be made) directories in which a
  /// file can be created. Creates them if missing. Throws ConfigError (bad name, not a
  /// directory), DataError (outside the registry) or IoError naming the path.
  void check_publishable(const std::string& name) const;

  /// Removes what publishers and pointer moves killed before finishing left behind (`*.tmp-*`
  /// of versions, reports, CURRENT and aliases; unclaimed `v*.claim` files). Only safe under the
  /// model's lock, which every writer of such files holds; publish calls it when it holds the
  /// lock. Returns how many were removed.
  std::int64_t remove_stale_temporaries(const std::string& name) const;

private:
  std::filesystem::path root_;
  RegistryOptions options_;
};

} // namespace sluice::snapshot
