// POSIX implementation of durable atomic file replacement.
#include "sluice/snapshot/atomic_file.hpp"

#include "sluice/error.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/std.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace sluice::snapshot {
namespace {

[[noreturn]] void fail(std::string_view what, const std::filesystem::path& path) {
  throw Error(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

void fsync_with_flags(const std::filesystem::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) fail("cannot open for fsync", path);
  int status = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  errno = saved;
  if (status != 0) fail("cannot fsync", path);
}

} // namespace

void fsync_path(const std::filesystem::path& path) { fsync_with_flags(path, O_RDONLY); }

void fsync_directory(const std::filesystem::path& directory) {
  fsync_with_flags(directory, O_RDONLY | O_DIRECTORY);
}

void rename_durably(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) fail("cannot rename into place", to);
  fsync_directory(std::filesystem::absolute(to).parent_path());
}

void write_file_atomically(const std::filesystem::path& target, std::string_view content) {
  std::filesystem::path temporary = target;
  temporary += fmt::format(".tmp-{}", ::getpid());
  write_file_atomically(target, content, temporary);
}

void write_file_atomically(const std::filesystem::path& target, std::string_view content,
                           const std::filesystem::path& temporary,
                           const std::function<void()>& before_rename) {
  try {
    {
      std::ofstream stream(temporary, std::ios::binary | std::ios::trunc);
      if (!stream) fail("cannot create", temporary);
      stream.write(content.data(), static_cast<std::streamsize>(content.size()));
      stream.flush();
      if (!stream) fail("cannot write", temporary);
    }
    fsync_path(temporary);
    if (before_rename) before_rename();
    rename_durably(temporary, target);
  } catch (...) {
    std::error_code ignored; // nothing half-written stays behind
    std::filesystem::remove(temporary, ignored);
    throw;
  }
}

} // namespace sluice::snapshot
