// Sealing and verifying snapshot files: XXH3-128 of everything after a 512-byte text header.
#include "sluice/snapshot/snapshot_checksum.hpp"

#include "sluice/error.hpp"
#include "sluice/hdf5/attributes.hpp"
#include "sluice/hdf5/error.hpp"
#include "sluice/registry_name.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/std.h>

// Inlined so the hash uses this build's instruction set, as the lake's column checksums do.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace sluice::snapshot {
namespace {

constexpr std::string_view magic = "sluice-snapshot-checksum ";
constexpr std::string_view hdf5_signature = "\x89HDF\r\n\x1a\n";

using Header = std::array<char, checksum_header_bytes>;

// The one byte-exact rendering of a header: any other bytes in the header are damage. Nothing
// when the text does not fit: fields parsed back from a damaged header (a flipped newline lets a
// field run on to the block's end) can make it longer than the header, and no header matches it.
std::optional<Header> render(std::int64_t header_version, const SnapshotChecksum& checksum) {
  const std::string text = fmt::format("{}{}\nalgorithm xxh3-128\ncontent-bytes {}\ncontent-xxh3-128 {}\n",
                                       magic, header_version, checksum.content_bytes,
                                       checksum.xxh3_128);
  Header header{};
  if (text.size() > header.size()) return std::nullopt;
  std::copy(text.begin(), text.end(), header.begin());
  return header;
}

class FileDescriptor {
public:
  FileDescriptor(const std::filesystem::path& path, int flags) : fd_(::open(path.c_str(), flags | O_CLOEXEC)) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const noexcept { return fd_; }

private:
  int fd_;
};

// Reads exactly out.size() bytes at offset, or fewer at the end of the file; returns the count.
std::size_t read_at(int fd, std::span<char> out, std::int64_t offset, const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw IoError(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

// XXH3-128 of the bytes from checksum_header_bytes to the end of the file, and their count.
SnapshotChecksum hash_content(int fd, const std::filesystem::path& path) {
  XXH3_state_t state;
  XXH3_128bits_reset(&state);
  std::vector<char> buffer(std::size_t{1} << 20);
  std::int64_t offset = checksum_header_bytes;
  for (;;) {
    const std::size_t n = read_at(fd, buffer, offset, path);
    if (n == 0) break;
    XXH3_128bits_update(&state, buffer.data(), n);
    offset += static_cast<std::int64_t>(n);
  }
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(&state));
  std::string hex;
  for (unsigned char byte : canonical.digest) hex += fmt::format("{:02x}", byte);
  return {offset - static_cast<std::int64_t>(checksum_header_bytes), hex};
}

// The value after "key " on a header line, or empty if the line is not that key's.
std::string_view field(std::string_view& text, std::string_view key) {
  const auto end = text.find('\n');
  std::string_view line = text.substr(0, end);
  text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  if (!line.starts_with(key)) return {};
  return line.substr(key.size());
}

std::int64_t parse_int(std::string_view digits) {
  std::int64_t value = -1;
  const auto [end, status] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (status != std::errc() || end != digits.data() + digits.size() || digits.empty()) return -1;
  return value;
}

} // namespace

hdf5::File create_snapshot_file(const std::filesystem::path& path) {
  return hdf5::File::create_with_userblock(path, checksum_header_bytes);
}

SnapshotChecksum seal_snapshot_file(const std::filesystem::path& path) {
  FileDescriptor file(path, O_RDWR);
  if (file.get() < 0) throw IoError(fmt::format("cannot open {} to seal it: {}", path, std::strerror(errno)));
  Header current{};
  if (read_at(file.get(), current, 0, path) != current.size() ||
      std::any_of(current.begin(), current.end(), [](char c) { return c != 0; })) {
    throw DataError(fmt::format("cannot seal {}: its first {} bytes are not a reserved, empty "
                                "checksum block (create it with create_snapshot_file)",
                                path, checksum_header_bytes));
  }
  const SnapshotChecksum checksum = hash_content(file.get(), path);
  // A computed checksum renders to about 100 bytes, well inside the header.
  const Header header = render(checksum_header_version, checksum).value();
  if (::pwrite(file.get(), header.data(), header.size(), 0) != static_cast<ssize_t>(header.size())) {
    throw IoError(fmt::format("cannot write the checksum header of {}: {}", path, std::strerror(errno)));
  }
  return checksum;
}

SnapshotChecksum verify_snapshot_file(const std::filesystem::path& path) {
  FileDescriptor file(path, O_RDONLY);
  if (file.get() < 0) {
    throw DataError(fmt::format("cannot open snapshot {}: {}", path, std::strerror(errno)));
  }
  struct stat status {};
  if (::fstat(file.get(), &status) != 0 || !S_ISREG(status.st_mode)) {
    throw DataError(fmt::format("snapshot {} is not a regular file", path));
  }
  Header header{};
  const std::size_t header_read = read_at(file.get(), header, 0, path);
  const std::string_view text(header.data(), header_read);
  if (header_read < header.size() && !text.starts_with(magic)) {
    throw DataError(fmt::format("{} is not a Sluice snapshot: {} bytes, no checksum header", path, header_read));
  }
  if (!text.starts_with(magic)) {
    throw DataError(fmt::format(
        "{} has no Sluice checksum header{}: refusing it", path,
        text.starts_with(hdf5_signature)
            ? " (an HDF5 file not written by this Sluice, or from before snapshots were checksummed)"
            : " (not a snapshot, or its first bytes are damaged)"));
  }
  std::string_view rest = text.substr(magic.size());
  const std::int64_t header_version = parse_int(rest.substr(0, rest.find('\n')));
  if (header_version > checksum_header_version) {
    throw DataError(fmt::format("{} has a checksum header of version {}; this Sluice reads version {}",
                                path, header_version, checksum_header_version));
  }
  rest.remove_prefix(std::min(rest.size(), rest.find('\n') + 1));
  const bool has_algorithm = rest.starts_with("algorithm xxh3-128\n");
  rest.remove_prefix(std::min(rest.size(), rest.find('\n') + 1));
  SnapshotChecksum recorded;
  recorded.content_bytes = parse_int(field(rest, "content-bytes "));
  recorded.xxh3_128 = std::string(field(rest, "content-xxh3-128 "));
  if (header_read < header.size() || header_version < 1 || !has_algorithm ||
      recorded.content_bytes < 0 || render(header_version, recorded) != header) {
    throw DataError(fmt::format("{}: its checksum header is damaged (the first {} bytes): refusing it",
                                path, checksum_header_bytes));
  }
  const SnapshotChecksum actual = hash_content(file.get(), path);
  if (actual.content_bytes != recorded.content_bytes) {
    throw DataError(fmt::format("{} is {} ({} content bytes recorded at publish, {} found): a torn or "
                                "partial copy; refusing it",
                                path, actual.content_bytes < recorded.content_bytes ? "truncated" : "extended",
                                recorded.content_bytes, actual.content_bytes));
  }
  if (actual.xxh3_128 != recorded.xxh3_128) {
    throw DataError(fmt::format("{} is damaged or was modified: content XXH3-128 {} recorded at publish, "
                                "{} now; refusing it",
                                path, recorded.xxh3_128, actual.xxh3_128));
  }
  return recorded;
}

std::optional<SnapshotChecksum> verify_snapshot_for_reading(const std::filesystem::path& path) {
  char start[hdf5_signature.size()] = {};
  {
    FileDescriptor file(path, O_RDONLY);
    if (file.get() >= 0) read_at(file.get(), start, 0, path);
  }
  if (std::string_view(start, sizeof start) != hdf5_signature) return verify_snapshot_file(path);
  // The last format written without the header; anything later must carry one.
  constexpr std::int64_t last_unchecked_format = 2;
  std::int64_t format = 0;
  try {
    hdf5::File file = hdf5::File::open_read(path);
    format = hdf5::read_int64_attribute(file.id(), "format_version");
  } catch (const hdf5::Error& error) {
    throw DataError(fmt::format("{} is not a Sluice snapshot: {}", path, error.what()));
  }
  if (format > last_unchecked_format) {
    throw DataError(fmt::format("{} has no Sluice checksum header although its format_version {} "
                                "requires one: damaged, or not written by Sluice; refusing it",
                                path, format));
  }
  return std::nullopt;
}

} // namespace sluice::snapshot
