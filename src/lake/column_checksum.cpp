// XXH3-64 content checksums of partition columns.
#include "column_checksum.hpp"

// Inline the implementation so it is compiled with this build's instruction set (AVX2 where
// available): Debian's shared libxxhash is built for baseline x86-64 and took 10% of a run.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <bit>
#include <new>

namespace sluice::lake {

static_assert(std::endian::native == std::endian::little,
              "checksums are defined over little-endian float64 values");

struct ColumnChecksum::State {
  XXH3_state_t hash;
};

void ColumnChecksum::StateDeleter::operator()(State* state) const noexcept { delete state; }

ColumnChecksum::ColumnChecksum() : state_(new State) { XXH3_64bits_reset(&state_->hash); }

ColumnChecksum::~ColumnChecksum() = default;
ColumnChecksum::ColumnChecksum(ColumnChecksum&&) noexcept = default;
ColumnChecksum& ColumnChecksum::operator=(ColumnChecksum&&) noexcept = default;

void ColumnChecksum::update(std::span<const double> values) {
  XXH3_64bits_update(&state_->hash, values.data(), values.size_bytes());
}

std::uint64_t ColumnChecksum::digest() const { return XXH3_64bits_digest(&state_->hash); }

std::uint64_t combine_checksums(const std::vector<std::string>& columns,
                                const std::vector<std::uint64_t>& digests) {
  XXH3_state_t* state = XXH3_createState();
  if (state == nullptr) throw std::bad_alloc();
  XXH3_64bits_reset(state);
  for (std::size_t i = 0; i < columns.size(); ++i) {
    // The name (with its terminating NUL) then the 8 digest bytes: renaming a column changes it.
    XXH3_64bits_update(state, columns[i].c_str(), columns[i].size() + 1);
    XXH3_64bits_update(state, &digests[i], sizeof(std::uint64_t));
  }
  std::uint64_t result = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return result;
}

std::uint64_t combine_segment_checksums(const std::vector<std::uint64_t>& segments) {
  if (segments.size() == 1) return segments.front();
  std::vector<unsigned char> bytes;
  for (std::uint64_t digest : segments) {
    for (int b = 0; b < 8; ++b) bytes.push_back(static_cast<unsigned char>(digest >> (8 * b)));
  }
  return XXH3_64bits(bytes.data(), bytes.size());
}

} // namespace sluice::lake
