// Registry file primitives: version names, pointer files, link() claims and the model lock.
#include "registry_files.hpp"

#include "sluice/error.hpp"
#include "sluice/registry_name.hpp"
#include "sluice/snapshot/atomic_file.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/std.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <fstream>

namespace sluice::snapshot::registry_files {
namespace {

std::optional<std::int64_t> number_between(std::string_view file_name, std::string_view suffix) {
  if (file_name.size() <= 1 + suffix.size() || file_name.front() != 'v' || !file_name.ends_with(suffix)) {
    return std::nullopt;
  }
  const std::string_view digits = file_name.substr(1, file_name.size() - 1 - suffix.size());
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::int64_t version = 0;
  const auto [end, status] = std::from_chars(digits.data(), digits.data() + digits.size(), version);
  if (status != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return version;
}

} // namespace

std::optional<std::int64_t> parse_version(std::string_view file_name) {
  return number_between(file_name, ".h5");
}

std::optional<std::int64_t> parse_numbered(std::string_view file_name) {
  for (std::string_view suffix : {".h5", ".report.json", ".claim"}) {
    if (auto number = number_between(file_name, suffix)) return number;
  }
  return std::nullopt;
}

std::string claim_name(std::int64_t version) { return fmt::format("v{:06d}.claim", version); }

std::string temporary_suffix() {
  static std::atomic<std::int64_t> counter{0};
  return fmt::format(".tmp-{}-{}-{}", host_name(), ::getpid(), counter++);
}

std::optional<std::int64_t> read_pointer(const std::filesystem::path& pointer,
                                         const std::filesystem::path& root) {
  std::ifstream stream(pointer);
  if (!stream) return std::nullopt;
  std::string line;
  std::getline(stream, line);
  auto version = parse_version(line);
  if (!version) {
    throw DataError(fmt::format("registry {}: {} does not name a snapshot ({})", root, pointer,
                                quote_bounded(line)));
  }
  return version;
}

void write_pointer(const std::filesystem::path& pointer, std::string_view temporary_prefix,
                   std::int64_t version, const std::function<void()>& before_rename) {
  std::filesystem::path temporary = pointer.parent_path();
  temporary /= std::string(temporary_prefix) + temporary_suffix();
  write_file_atomically(pointer, fmt::format("v{:06d}.h5\n", version), temporary, before_rename);
}

bool link_no_replace(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::link(from.c_str(), to.c_str()) == 0) return true;
  const int saved = errno;
  // Over NFS a retransmitted link() can report EEXIST for a link it made: then `from` has two names.
  struct stat status {};
  if (saved == EEXIST) return ::stat(from.c_str(), &status) == 0 && status.st_nlink == 2;
  throw IoError(fmt::format("cannot link {} to {}: {}", from, to, std::strerror(saved)));
}

std::int64_t highest_number(const std::filesystem::path& directory) {
  std::int64_t highest = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    if (auto number = parse_numbered(entry.path().filename().string())) highest = std::max(highest, *number);
  }
  if (error) throw IoError(fmt::format("cannot list {}: {}", directory, error.message()));
  return highest;
}

std::int64_t claim_next_version(const std::filesystem::path& directory) {
  for (int attempt = 0; attempt < 100000; ++attempt) {
    const std::int64_t version = highest_number(directory) + 1;
    const std::filesystem::path claim = directory / claim_name(version);
    std::filesystem::path unique = claim;
    unique += temporary_suffix();
    const int fd = ::open(unique.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) throw IoError(fmt::format("cannot create {}: {}", unique, std::strerror(errno)));
    const std::string owner = fmt::format("{} {}\n", host_name(), ::getpid());
    const bool is_written = ::write(fd, owner.data(), owner.size()) == static_cast<ssize_t>(owner.size());
    ::close(fd);
    bool is_claimed = false;
    try {
      if (!is_written) throw IoError(fmt::format("cannot write {}: {}", unique, std::strerror(errno)));
      is_claimed = link_no_replace(unique, claim);
    } catch (...) {
      ::unlink(unique.c_str());
      throw;
    }
    ::unlink(unique.c_str());
    if (is_claimed) return version;
  }
  throw IoError(fmt::format("cannot claim a version number in {}: too many concurrent publishers",
                            directory));
}

ModelLock::ModelLock(const std::filesystem::path& directory, bool is_wanted) {
  if (!is_wanted) return;
  const std::filesystem::path path = directory / lock_file;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError(fmt::format("cannot open lock {}: {}", path, std::strerror(errno)));
  while (::flock(fd_, LOCK_EX) != 0) {
    const int saved = errno;
    if (saved == EINTR) continue;
    ::close(fd_);
    fd_ = -1;
    // A file system without locks (NFS without its lock daemon): claims still hold.
    if (saved == ENOLCK || saved == EOPNOTSUPP || saved == EINVAL) return;
    throw IoError(fmt::format("cannot lock {}: {}", path, std::strerror(saved)));
  }
}

ModelLock::~ModelLock() {
  if (fd_ >= 0) ::close(fd_);
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  ::gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

std::string user_name() {
  const uid_t uid = ::geteuid();
  struct passwd entry {};
  struct passwd* found = nullptr;
  char buffer[4096];
  if (::getpwuid_r(uid, &entry, buffer, sizeof buffer, &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return std::to_string(uid);
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

} // namespace sluice::snapshot::registry_files
