// The registry's on-disk protocol: temp file, fsync, rename, fsync directory, then move CURRENT.
#include "sluice/snapshot/registry.hpp"

#include "sluice/snapshot/atomic_file.hpp"
#include "sluice/error.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/std.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

namespace sluice::snapshot {
namespace {

constexpr const char* current_file = "CURRENT";

std::optional<std::int64_t> parse_version(const std::string& file_name) {
  if (file_name.size() < 5 || file_name.front() != 'v' || !file_name.ends_with(".h5")) {
    return std::nullopt;
  }
  std::string_view digits(file_name.data() + 1, file_name.size() - 4);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return std::nullopt;
  std::int64_t version = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), version);
  return version;
}

// An exclusive advisory lock on the model directory for the duration of a publish.
class DirectoryLock {
public:
  explicit DirectoryLock(const std::filesystem::path& directory) {
    std::filesystem::path lock_path = directory / ".lock";
    fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0 || ::flock(fd_, LOCK_EX) != 0) {
      throw Error(fmt::format("cannot lock {}: {}", lock_path, std::strerror(errno)));
    }
  }
  ~DirectoryLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

private:
  int fd_ = -1;
};

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

std::vector<std::string> SnapshotRegistry::model_names() const {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(root_, error)) {
    if (entry.is_directory() && entry.path().filename().string().front() != '.') {
      names.push_back(entry.path().filename().string());
    }
  }
  if (error) throw Error(fmt::format("cannot list registry {}: {}", root_, error.message()));
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::int64_t> SnapshotRegistry::versions(const std::string& name) const {
  std::vector<std::int64_t> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(model_directory(name), error)) {
    // Only complete snapshots have the final name; temporaries end in .tmp-PID.
    if (auto version = parse_version(entry.path().filename().string())) found.push_back(*version);
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::optional<std::int64_t> SnapshotRegistry::current_version(const std::string& name) const {
  std::ifstream stream(model_directory(name) / current_file);
  if (!stream) return std::nullopt;
  std::string line;
  std::getline(stream, line);
  auto version = parse_version(line);
  if (!version) {
    throw DataError(fmt::format("registry {}: {}/{} does not name a snapshot ('{}')", root_, name,
                                current_file, line));
  }
  return version;
}

std::int64_t SnapshotRegistry::publish(
    const std::string& name,
    const std::function<void(const std::filesystem::path&, std::int64_t)>& write_snapshot,
    const std::function<std::string(std::int64_t)>& report_json) {
  std::filesystem::path directory = model_directory(name);
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) throw Error(fmt::format("cannot create {}: {}", directory, error.message()));
  DirectoryLock lock(directory);
  remove_stale_temporaries(name); // every writer of such files held this lock: theirs are dead
  std::vector<std::int64_t> existing = versions(name);
  const std::int64_t version = existing.empty() ? 1 : existing.back() + 1;
  std::filesystem::path final_path = snapshot_path(name, version);
  std::filesystem::path temporary = final_path;
  temporary += fmt::format(".tmp-{}", ::getpid());
  try {
    write_snapshot(temporary, version);
    fsync_path(temporary);
    write_file_atomically(report_path(name, version), report_json(version));
    rename_durably(temporary, final_path);
  } catch (...) {
    std::filesystem::remove(temporary, error);
    throw;
  }
  // Last step: the new version becomes visible to readers of CURRENT.
  write_file_atomically(directory / current_file, file_name(version) + "\n");
  return version;
}

void SnapshotRegistry::check_publishable(const std::string& name) const {
  std::error_code error;
  if (std::filesystem::exists(root_, error) && !std::filesystem::is_directory(root_, error)) {
    throw ConfigError(fmt::format("registry {} exists and is not a directory", root_));
  }
  const std::filesystem::path directory = model_directory(name);
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
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(model_directory(name), error)) {
    const std::string file = entry.path().filename().string();
    const auto marker = file.rfind(".tmp-");
    if (marker == std::string::npos) continue;
    const std::string target = file.substr(0, marker);
    const bool is_publish_file = target == current_file || parse_version(target).has_value() ||
                                 (target.starts_with("v") && target.ends_with(".report.json"));
    if (!is_publish_file) continue; // e.g. a checkpoint's temporary, written without the lock
    std::error_code removed;
    if (std::filesystem::remove(entry.path(), removed)) ++num_removed;
  }
  return num_removed;
}

} // namespace sluice::snapshot
