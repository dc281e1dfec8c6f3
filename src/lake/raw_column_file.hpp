// RawColumnFile: positional reads of float64 columns stored plainly in a partition file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>

namespace sluice::lake {

/// An open file descriptor for reading columns whose bytes in the file are already little-endian
/// float64 values (see hdf5::Dataset::raw_float64_offset). Unlike the HDF5 library, which this
/// build cannot call from two threads at once, pread() may run on any number of threads: several
/// columns of one block are fetched in parallel.
class RawColumnFile {
public:
  /// The file, or nullopt if it cannot be opened or is shorter than `min_size` bytes (the caller
  /// then reads through HDF5, which reports what is wrong).
  static std::optional<RawColumnFile> open(const std::filesystem::path& path, std::int64_t min_size);

  RawColumnFile(RawColumnFile&& other) noexcept;
  RawColumnFile& operator=(RawColumnFile&& other) noexcept;
  RawColumnFile(const RawColumnFile&) = delete;
  RawColumnFile& operator=(const RawColumnFile&) = delete;
  ~RawColumnFile();

  /// Fills `out` with the values starting `offset` bytes into the file. Throws sluice::Error if
  /// the file ends first (it shrank after it was opened) or the read fails.
  void read(std::int64_t offset, std::span<double> out) const;

private:
  explicit RawColumnFile(int fd) : fd_(fd) {}
  int fd_ = -1;
};

} // namespace sluice::lake
