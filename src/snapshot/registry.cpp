// The registry's on-disk protocol: claim a number with link(), write and verify the snapshot
// under a temporary name, link it into place, then move CURRENT and record the move.
#include "sluice/snapshot/registry.hpp"

#include "registry_files.hpp"
#include "registry_history.hpp"

#include "sluice/error.hpp"
#include "sluice/registry_name.hpp"
#include "sluice/snapshot/atomic_file.hpp"
#include "sluice/snapshot/snapshot_checksum.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/std.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>

namespace sluice::snapshot {
namespace {

using namespace registry_files;

// True when `inner`, with symbolic links followed, is `outer` or lies below it.
bool is_inside(const std::filesystem::path& outer, const std::filesystem::path& inner) {
  const std::filesystem::path base = std::filesystem::weakly_canonical(std::filesystem::absolute(outer));
  const std::filesystem::path target = std::filesystem::weakly_canonical(std::filesystem::absolute(inner));
  auto t = target.begin();
  for (auto b = base.begin(); b != base.end(); ++b, ++t) {
    if (b->empty()) continue; // a trailing separator
    if (t == target.end() || *b != *t) return false;
  }
  return true;
}

// Removes the file if it exists; the claim and temporaries of a publish that did not finish.
void remove_quietly(const std::filesystem::path& path) {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
}

// True when the file belongs to a process of this host that is still running: its name ends in
// ".tmp-HOST-PID-COUNTER" (maybe ".part"), or it is a claim holding "HOST PID". Such a process
// may be writing it without the lock (a file system without flock, or use_lock = false), so it
// is never removed. Processes of other hosts cannot be asked; the lock orders those.
bool is_live_writer_here(const std::filesystem::path& path) {
  const std::string file = path.filename().string();
  std::string host, pid_text;
  if (const auto marker = file.rfind(".tmp-"); marker != std::string::npos) {
    std::string owner = file.substr(marker + 5);
    if (owner.ends_with(".part")) owner.resize(owner.size() - 5);
    const auto counter = owner.rfind('-'); // host names may hold '-': split from the right
    if (counter == std::string::npos || counter == 0) return false;
    const auto pid = owner.rfind('-', counter - 1);
    if (pid == std::string::npos) return false;
    host = owner.substr(0, pid);
    pid_text = owner.substr(pid + 1, counter - pid - 1);
  } else {
    std::ifstream claim(path);
    claim >> host >> pid_text;
  }
  pid_t pid = 0;
  const auto [end, status] = std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), pid);
  if (status != std::errc() || end != pid_text.data() + pid_text.size() || pid <= 0) return false;
  if (host != host_name()) return false;
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

} // namespace

std::string SnapshotRegistry::file_name(std::int64_t version) {
  return fmt::format("v{:06d}.h5", version);
}

std::filesystem::path SnapshotRegistry::snapshot_path(const std::string& name,
                                                      std::int64_t version) const {
  return model_directory(name) / file_name(version);
}

std::filesystem::path SnapshotRegistry::report_path(const std::string& name,
                                                    std::int64_t version) const {
  return model_directory(name) / fmt::format("v{:06d}.report.json", version);
}

std::filesystem::path SnapshotRegistry::history_path(const std::string& name) const {
  return model_directory(name) / history_file;
}

std::vector<std::string> SnapshotRegistry::model_names() const {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(root_, error)) {
    const std::string name = entry.path().filename().string();
    // Only what a model name can be: nothing hidden, nothing a reference could not name.
    if (entry.is_directory() && !registry_name_problem(name)) names.push_back(name);
  }
  if (error) throw IoError(fmt::format("cannot list registry {}: {}", root_, error.message()));
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::int64_t> SnapshotRegistry::versions(const std::string& name) const {
  std::vector<std::int64_t> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(checked_model_directory(name), error)) {
    // Only complete snapshots have the final name; temporaries end in .tmp-*.
    if (auto version = parse_version(entry.path().filename().string())) found.push_back(*version);
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::optional<std::int64_t> SnapshotRegistry::current_version(const std::string& name) const {
  return read_pointer(checked_model_directory(name) / current_file, root_);
}

std::optional<std::int64_t> SnapshotRegistry::alias_version(const std::string& name,
                                                            const std::string& alias) const {
  check_registry_name(alias, "alias");
  return read_pointer(checked_model_directory(name) / aliases_directory / alias, root_);
}

std::map<std::string, std::int64_t> SnapshotRegistry::aliases(const std::string& name) const {
  std::map<std::string, std::int64_t> found;
  const std::filesystem::path directory = checked_model_directory(name) / aliases_directory;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    const std::string alias = entry.path().filename().string();
    if (registry_name_problem(alias)) continue; // temporaries start with '.'
    if (auto version = read_pointer(entry.path(), root_)) found.emplace(alias, *version);
  }
  return found;
}

std::vector<HistoryEntry> SnapshotRegistry::history(const std::string& name) const {
  return registry_history::read(checked_model_directory(name) / history_file);
}

void SnapshotRegistry::check_inside(const std::filesystem::path& path, std::string_view what) const {
  if (!is_inside(root_, path)) {
    throw DataError(fmt::format("registry {}: {} {} leads outside the registry (to {}); refusing it",
                                root_, what, path, std::filesystem::weakly_canonical(path)));
  }
}

std::filesystem::path SnapshotRegistry::checked_model_directory(const std::string& name) const {
  check_registry_name(name, "model name");
  std::error_code error;
  if (std::filesystem::exists(root_, error) && !std::filesystem::is_directory(root_, error)) {
    throw ConfigError(fmt::format("registry {} is not a directory", root_));
  }
  const std::filesystem::path directory = model_directory(name);
  check_inside(directory, "model directory");
  return directory;
}

std::int64_t SnapshotRegistry::publish(
    const std::string& name,
    const std::function<void(const std::filesystem::path&, std::int64_t)>& write_snapshot,
    const std::function<std::string(std::int64_t)>& report_json) {
  const std::filesystem::path directory = checked_model_directory(name);
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) throw IoError(fmt::format("cannot create {}: {}", directory, error.message()));
  ModelLock lock(directory, options_.use_lock);
  if (lock.is_held()) remove_stale_temporaries(name); // every writer of those held this lock
  std::int64_t version = 0;
  // The claim makes the number ours; linking the report and then the snapshot, each only if
  // absent, keeps it ours even if a claim was lost (a lock-less peer removing "stale" claims).
  for (bool is_published = false; !is_published;) {
    version = claim_next_version(directory);
    const std::filesystem::path claim = directory / claim_name(version);
    const std::filesystem::path final_path = snapshot_path(name, version);
    const std::filesystem::path final_report = report_path(name, version);
    std::filesystem::path temporary = final_path;
    temporary += temporary_suffix();
    std::filesystem::path temporary_report = final_report;
    temporary_report += temporary_suffix();
    try {
      write_snapshot(temporary, version);
      fsync_path(temporary);
      verify_snapshot_file(temporary); // CURRENT only ever names a verified snapshot
      write_file_atomically(temporary_report, report_json(version),
                            std::filesystem::path(temporary_report) += ".part");
      if (options_.fault_point) options_.fault_point("snapshot_written");
      if (link_no_replace(temporary_report, final_report)) {
        if (link_no_replace(temporary, final_path)) {
          is_published = true;
        } else {
          remove_quietly(final_report); // ours: nobody else links a report it did not claim
        }
      }
      remove_quietly(temporary);
      remove_quietly(temporary_report);
      fsync_directory(directory);
      remove_quietly(claim);
    } catch (...) {
      remove_quietly(temporary);
      remove_quietly(temporary_report);
      remove_quietly(claim);
      throw;
    }
  }
  // Last step: the new version becomes visible to readers of CURRENT, unless a newer one
  // appeared meanwhile (its publisher moves CURRENT past this one).
  const std::optional<std::int64_t> before = current_version(name);
  const std::vector<std::int64_t> published = versions(name);
  const bool is_newest = published.empty() || published.back() <= version;
  if (is_newest) {
    write_pointer(directory / current_file, current_file, version, [this] {
      if (options_.fault_point) options_.fault_point("pointer_moving");
    });
  }
  registry_history::append(history_path(name),
                           registry_history::make_entry("publish", is_newest ? current_file : "",
                                                        before, version, ""));
  return version;
}

void SnapshotRegistry::check_publishable(const std::string& name) const {
  const std::filesystem::path directory = checked_model_directory(name);
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    throw IoError(fmt::format("registry {}: cannot create {}: {}", root_, directory, error.message()));
  }
  // Permission bits say nothing for root or on read-only mounts: create and remove a file.
  const std::filesystem::path probe = directory / fmt::format(".probe-{}", ::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw IoError(fmt::format("registry {}: cannot create files in {}: {}", root_, directory,
                              std::strerror(errno)));
  }
  ::close(fd);
  std::filesystem::remove(probe, error);
}

std::int64_t SnapshotRegistry::remove_stale_temporaries(const std::string& name) const {
  std::int64_t num_removed = 0;
  const std::filesystem::path directory = checked_model_directory(name);
  auto remove_if = [&](const std::filesystem::path& folder, auto is_stale) {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(folder, error)) {
      if (!is_stale(entry.path().filename().string()) || is_live_writer_here(entry.path())) continue;
      std::error_code removed;
      if (std::filesystem::remove(entry.path(), removed)) ++num_removed;
    }
  };
  remove_if(directory, [](const std::string& file) {
    if (file.ends_with(".claim") && parse_numbered(file)) return true; // its publisher died
    const auto marker = file.rfind(".tmp-");
    if (marker == std::string::npos) return false;
    const std::string target = file.substr(0, marker);
    // Only the registry's own files: another file's temporary is not ours to judge.
    return target == current_file || parse_numbered(target).has_value();
  });
  remove_if(directory / aliases_directory,
            [](const std::string& file) { return file.starts_with(".") && file.find(".tmp-") != std::string::npos; });
  return num_removed;
}

} // namespace sluice::snapshot
