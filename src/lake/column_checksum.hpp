// ColumnChecksum: a streaming XXH3-64 of one column's values as little-endian float64.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace sluice::lake {

/// Hashes a column's values in row order, independently of how the rows were split into blocks,
/// of the storage layout and of compression: it identifies the content the model saw.
class ColumnChecksum {
public:
  ColumnChecksum();
  ~ColumnChecksum();
  ColumnChecksum(ColumnChecksum&&) noexcept;
  ColumnChecksum& operator=(ColumnChecksum&&) noexcept;

  void update(std::span<const double> values);
  std::uint64_t digest() const;

private:
  struct State; // the hash state, defined where the hash implementation is compiled in
  struct StateDeleter {
    void operator()(State* state) const noexcept;
  };
  std::unique_ptr<State, StateDeleter> state_;
};

/// Combines the named column digests, in column order, into one partition checksum.
std::uint64_t combine_checksums(const std::vector<std::string>& columns,
                                const std::vector<std::uint64_t>& digests);

/// A partition read in several segments (splits): its checksum is the one segment's checksum
/// when there is one, else XXH3-64 over the segment checksums as little-endian u64, in row order.
std::uint64_t combine_segment_checksums(const std::vector<std::uint64_t>& segments);

} // namespace sluice::lake
