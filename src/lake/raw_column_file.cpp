// RawColumnFile: open/pread/close behind a move-only handle.
#include "raw_column_file.hpp"

#include "sluice/error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace sluice::lake {

std::optional<RawColumnFile> RawColumnFile::open(const std::filesystem::path& path,
                                                 std::int64_t min_size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) || info.st_size < min_size) {
    ::close(fd);
    return std::nullopt;
  }
  return RawColumnFile(fd);
}

RawColumnFile::RawColumnFile(RawColumnFile&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

RawColumnFile& RawColumnFile::operator=(RawColumnFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

RawColumnFile::~RawColumnFile() {
  if (fd_ >= 0) ::close(fd_);
}

void RawColumnFile::read(std::int64_t offset, std::span<double> out) const {
  auto* bytes = reinterpret_cast<char*>(out.data());
  std::size_t left = out.size_bytes();
  while (left > 0) {
    const ssize_t got = ::pread(fd_, bytes, left, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw Error(fmt::format("read failed: {}", std::strerror(errno)));
    if (got == 0) throw Error("the file ends before the column's data (truncated while being read?)");
    bytes += got;
    offset += got;
    left -= static_cast<std::size_t>(got);
  }
}

} // namespace sluice::lake
