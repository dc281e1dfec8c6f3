// PartitionReader: validates a partition's schema and streams its columns block by block.
#pragma once

#include "sluice/hdf5/dataset.hpp"
#include "sluice/hdf5/file.hpp"
#include "sluice/hdf5/library_lock.hpp"
#include "sluice/lake/read_limits.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace sluice::lake {

class ColumnChecksum;
class PartitionGuard;
class RawColumnFile;
struct GuardedColumn;

/// Opens one partition and checks it against the lake contract for the requested columns:
/// each exists in the group, is 1-D, has a supported dtype, and all have the same length.
/// Before any value is read, every column also passes the guard for files Sluice did not write
/// (no links or storage outside the file, only deflate/shuffle/fletcher32, declared sizes within
/// `limits` and the file; docs/lake-format.md). Failures throw DataError naming the partition,
/// the dataset and what is wrong.
/// Readers of different partitions may live on different threads: every HDF5 call they make holds
/// hdf5::library_mutex().
class PartitionReader {
public:
  PartitionReader(const std::filesystem::path& path, const std::string& group,
                  const std::vector<std::string>& columns, const ReadLimits& limits = {});
  ~PartitionReader();
  PartitionReader(const PartitionReader&) = delete;
  PartitionReader& operator=(const PartitionReader&) = delete;

  std::int64_t num_rows() const noexcept { return num_rows_; }
  std::size_t num_columns() const noexcept { return columns_.size(); }

  /// Reads rows [start, start + count) of every column, converted to double, into a column-major
  /// buffer with the given leading dimension (>= count). Blocks must be read in order, from row 0,
  /// without gaps: the content checksum is computed on the way. Called from an OpenMP task or
  /// parallel region, plain float64 columns (reads_directly()) are fetched as one task each, so
  /// idle threads share the reading; HDF5 itself is only ever called by one thread.
  void read_block(std::int64_t start, std::int64_t count, double* out,
                  std::int64_t leading_dimension);

  /// Whether every column is plain contiguous float64 in the file, read with pread() rather than
  /// through HDF5 (same values; see hdf5::Dataset::raw_float64_offset).
  bool reads_directly() const noexcept { return raw_file_ != nullptr; }

  /// Checksum of the column values (see docs/snapshot-format.md); valid once every row was read.
  std::uint64_t checksum() const;

  /// Reads of a row range (a split of a large partition) start at `row` instead of 0; only
  /// before the first read.
  void start_at(std::int64_t row);
  /// The checksum of the rows read since the start (or the previous call), after which hashing
  /// starts afresh: one digest per segment of a partition read in segments.
  std::uint64_t take_segment_checksum();
  /// Bytes delivered so far (rows read × columns × 8).
  std::int64_t bytes_read() const noexcept { return bytes_read_; }

private:
  PartitionReader(hdf5::LibraryLock lock, const std::filesystem::path& path,
                  const std::string& group, const std::vector<std::string>& columns,
                  const ReadLimits& limits);
  void open_raw_file_if_plain();
  void read_column(std::size_t column, std::int64_t start, std::span<double> out);

  std::filesystem::path path_;
  std::unique_ptr<PartitionGuard> guard_;
  hdf5::File file_;
  std::vector<std::string> columns_;
  std::vector<std::string> dataset_paths_; // the columns' paths in the file, for messages
  std::vector<hdf5::Dataset> datasets_;
  std::vector<GuardedColumn> guarded_columns_; // what check_chunks needs, one per column
  std::vector<ColumnChecksum> checksums_;
  std::unique_ptr<RawColumnFile> raw_file_;  // set when every column can be read with pread()
  std::vector<std::int64_t> column_offsets_; // byte offset of each column's values in the file
  std::int64_t num_rows_ = 0;
  std::int64_t next_row_ = 0;
  std::int64_t bytes_read_ = 0;
};

/// The members of the partition's table group, opened through the same guard as the reader
/// (no external link is followed) without reading any dataset. DataError naming the file when
/// it cannot be opened or the group is missing.
std::vector<std::string> column_names(const std::filesystem::path& path, const std::string& group,
                                      const ReadLimits& limits = {});

} // namespace sluice::lake
