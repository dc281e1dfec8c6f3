// A group's local heap, located by reading its object header from the file's bytes.
#include "name_heap_check.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>
#include <fmt/std.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <vector>

namespace sluice::lake {
namespace {

constexpr std::uint64_t undefined_address = ~std::uint64_t{0};
constexpr std::uint16_t continuation_message = 0x0010;
constexpr std::uint16_t symbol_table_message = 0x0011;
// Enough for any header h5py writes; a forged size is read only this far.
constexpr std::uint64_t max_block_bytes = std::uint64_t{1} << 20;
constexpr int max_blocks = 64;
// "HEAP", version, 3 reserved bytes, data-segment size, free-list offset, data-segment address.
constexpr std::uint64_t heap_prefix_bytes = 32;

class RawBytes {
public:
  explicit RawBytes(const std::filesystem::path& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  RawBytes(const RawBytes&) = delete;
  RawBytes& operator=(const RawBytes&) = delete;
  ~RawBytes() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool is_open() const noexcept { return fd_ >= 0; }
  // Up to `size` bytes at `offset` (fewer at the end of the file).
  std::vector<unsigned char> read(std::uint64_t offset, std::uint64_t size) const {
    std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::pread(fd_, bytes.data() + done, bytes.size() - done,
                                static_cast<off_t>(offset + done));
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    bytes.resize(done);
    return bytes;
  }

private:
  int fd_;
};

std::uint64_t little_endian(const unsigned char* p, int bytes) {
  std::uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

struct SymbolTable {
  std::uint64_t btree_address = 0;
  std::uint64_t heap_address = 0;
};

// A block of messages to scan: where it is (relative to the base) and how long.
struct Block {
  std::uint64_t address = 0;
  std::uint64_t bytes = 0;
};

class HeaderReader {
public:
  HeaderReader(const RawBytes& file, std::uint64_t base, std::uint64_t relative_end)
      : file_(file), base_(base), relative_end_(relative_end) {}

  // The symbol-table message of the object header at `address`, if it has one this can find.
  std::optional<SymbolTable> symbol_table(std::uint64_t address) {
    if (address >= relative_end_) return std::nullopt;
    const std::vector<unsigned char> start = read(address, 16);
    if (start.size() < 16) return std::nullopt;
    if (std::memcmp(start.data(), "OHDR", 4) == 0) return scan_version_2(address);
    if (start[0] == 1) {
      const std::uint64_t size = little_endian(start.data() + 8, 4);
      return scan(Block{address + 16, size}, /*is_version_2=*/false, false);
    }
    return std::nullopt;
  }

private:
  std::vector<unsigned char> read(std::uint64_t address, std::uint64_t size) const {
    if (address >= relative_end_) return {};
    size = std::min({size, relative_end_ - address, max_block_bytes});
    return file_.read(base_ + address, size);
  }

  std::optional<SymbolTable> scan_version_2(std::uint64_t address) {
    const std::vector<unsigned char> head = read(address, 32);
    if (head.size() < 8 || head[4] != 2) return std::nullopt;
    const unsigned flags = head[5];
    std::size_t at = 6;
    if ((flags & 0x20) != 0) at += 16; // access, modification, change and birth times
    if ((flags & 0x10) != 0) at += 4;  // attribute storage phase change values
    const int size_bytes = 1 << (flags & 0x03);
    if (at + static_cast<std::size_t>(size_bytes) > head.size()) return std::nullopt;
    const std::uint64_t chunk_bytes = little_endian(head.data() + at, size_bytes);
    at += static_cast<std::size_t>(size_bytes);
    return scan(Block{address + at, chunk_bytes}, true, (flags & 0x04) != 0);
  }

  // Scans a chain of message blocks (the first, then each continuation) for the message.
  std::optional<SymbolTable> scan(Block first, bool is_version_2, bool has_creation_order) {
    std::vector<Block> pending{first};
    for (int visited = 0; !pending.empty() && visited < max_blocks; ++visited) {
      const Block block = pending.back();
      pending.pop_back();
      const std::vector<unsigned char> bytes = read(block.address, block.bytes);
      const std::size_t header_bytes = is_version_2 ? (has_creation_order ? 6 : 4) : 8;
      // Version 2 blocks end in a checksum; continuation blocks start with "OCHK".
      const std::size_t end = is_version_2 ? (bytes.size() >= 4 ? bytes.size() - 4 : 0) : bytes.size();
      std::size_t at = is_version_2 && visited > 0 ? 4 : 0;
      while (at + header_bytes <= end) {
        const std::uint16_t type = is_version_2 ? bytes[at]
                                                : static_cast<std::uint16_t>(little_endian(&bytes[at], 2));
        const std::size_t size = static_cast<std::size_t>(
            little_endian(&bytes[at + (is_version_2 ? 1 : 2)], 2));
        const std::size_t body = at + header_bytes;
        if (body + size > end) break;
        if (type == symbol_table_message && size >= 16) {
          return SymbolTable{little_endian(&bytes[body], 8), little_endian(&bytes[body + 8], 8)};
        }
        if (type == continuation_message && size >= 16) {
          pending.push_back(Block{little_endian(&bytes[body], 8), little_endian(&bytes[body + 8], 8)});
        }
        at = body + size;
      }
    }
    return std::nullopt;
  }

  const RawBytes& file_;
  std::uint64_t base_;
  std::uint64_t relative_end_; // the file's size, as an address relative to the base
};

// The sizes of addresses and lengths from the superblock at the base; nullopt if not found.
std::optional<std::array<int, 2>> address_sizes(const RawBytes& file, std::uint64_t base) {
  const std::vector<unsigned char> superblock = file.read(base, 16);
  if (superblock.size() < 16 || std::memcmp(superblock.data(), "\x89HDF\r\n\x1a\n", 8) != 0) {
    return std::nullopt;
  }
  if (superblock[8] <= 1) return std::array<int, 2>{superblock[13], superblock[14]};
  return std::array<int, 2>{superblock[9], superblock[10]};
}

// libhdf5 1.10 follows a heap's free list without noticing a cycle, allocating a record per step
// (measured: 3.6 GB in 4 s, forever) — a block whose "next" offset leads back to an earlier
// block. Each block takes at least 16 bytes of the data segment, so a list longer than the
// segment can hold is a cycle. Other defects of the list (a block outside the segment) libhdf5
// reports itself; the walk stops there.
void check_free_list(const RawBytes& file, std::uint64_t data_offset, std::uint64_t data_bytes,
                     std::uint64_t head, const std::string& group) {
  constexpr std::uint64_t end_of_list = 1; // H5HL_FREE_NULL
  constexpr std::uint64_t block_bytes = 16; // next offset, size
  const std::uint64_t max_blocks = data_bytes / block_bytes;
  std::uint64_t offset = head;
  for (std::uint64_t steps = 0; offset != end_of_list; ++steps) {
    if (offset >= data_bytes || data_bytes - offset < block_bytes) return;
    if (steps >= max_blocks) {
      throw DataError(fmt::format(
          "group '{}' keeps its member names in a local heap whose free list runs in a cycle "
          "(more than the {} blocks its {}-byte data segment can hold; libhdf5 would follow it "
          "forever, allocating as it goes): a heap's free list must end",
          group, max_blocks, data_bytes));
    }
    const std::vector<unsigned char> block = file.read(data_offset + offset, block_bytes);
    if (block.size() < block_bytes) return;
    offset = little_endian(block.data(), 8);
  }
}

std::string describe_address(std::uint64_t address) {
  return address == undefined_address ? std::string("the undefined address")
                                      : fmt::format("byte {}", address);
}

} // namespace

void check_name_heap(const std::filesystem::path& path, std::int64_t file_bytes,
                     std::uint64_t base_address, std::uint64_t header_address,
                     const std::string& group) {
  const RawBytes file(path);
  if (!file.is_open() || file_bytes <= 0 || base_address >= static_cast<std::uint64_t>(file_bytes)) {
    return; // libhdf5 reports a file it cannot read
  }
  const std::optional<std::array<int, 2>> sizes = address_sizes(file, base_address);
  if (!sizes || (*sizes)[0] != 8 || (*sizes)[1] != 8) return;
  const std::uint64_t end = static_cast<std::uint64_t>(file_bytes) - base_address;
  HeaderReader reader(file, base_address, end);
  const std::optional<SymbolTable> table = reader.symbol_table(header_address);
  if (!table) return;
  const std::string rule = "a group's local heap must lie inside the file";
  if (table->heap_address > end - std::min(end, heap_prefix_bytes) || end < heap_prefix_bytes) {
    throw DataError(fmt::format("group '{}' keeps its member names in a local heap at {}, beyond "
                                "the file's {} bytes: {}",
                                group, describe_address(table->heap_address), end, rule));
  }
  const std::vector<unsigned char> prefix = file.read(base_address + table->heap_address, heap_prefix_bytes);
  if (prefix.size() < heap_prefix_bytes || std::memcmp(prefix.data(), "HEAP", 4) != 0) {
    return; // not a heap: libhdf5 refuses its signature
  }
  const std::uint64_t data_bytes = little_endian(&prefix[8], 8);
  const std::uint64_t data_address = little_endian(&prefix[24], 8);
  if (data_address > end || data_bytes > end - data_address) {
    throw DataError(fmt::format(
        "group '{}' keeps its member names in a local heap whose data segment of {} bytes at {} "
        "does not fit in the file's {} bytes (a forged heap, which libhdf5 would allocate in full "
        "before reading it): {}",
        group, data_bytes, describe_address(data_address), end, rule));
  }
  check_free_list(file, base_address + data_address, data_bytes, little_endian(&prefix[16], 8),
                  group);
}

} // namespace sluice::lake
