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

} // namespace sluice::snapshot
