// Schema validation and streaming block reads of one partition.
#include "sluice/lake/partition_reader.hpp"

#include "column_checksum.hpp"
#include "partition_guard.hpp"
#include "raw_column_file.hpp"
#include "sluice/error.hpp"
#include "sluice/hdf5/error.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fmt/std.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <optional>

namespace sluice::lake {
namespace {

std::string join_group_path(const std::string& group, const std::string& name) {
  if (group.empty() || group == "/") return "/" + name;
  return group.back() == '/' ? group + name : group + "/" + name;
}

} // namespace

PartitionReader::PartitionReader(const std::filesystem::path& path, const std::string& group,
                                 const std::vector<std::string>& columns, const ReadLimits& limits)
    : PartitionReader(hdf5::lock_library(), path, group, columns, limits) {}

// The lock, taken before the first member opens the file, is held until the checks are done.
PartitionReader::PartitionReader(hdf5::LibraryLock /*held*/, const std::filesystem::path& path,
                                 const std::string& group, const std::vector<std::string>& columns,
                                 const ReadLimits& limits) try
    : path_(path), guard_(std::make_unique<PartitionGuard>(path, limits)), file_([&] {
        try {
          return hdf5::File::open_read(path);
        } catch (const hdf5::Error& error) {
          throw DataError(fmt::format("partition {}: not a readable HDF5 file: {}", path,
                                      error.what()));
        }
      }()),
      columns_(columns) {
  hdf5::GroupHandle table;
  try {
    table = guard_->open_group(file_.id(), group);
  } catch (const DataError& error) {
    throw DataError(fmt::format("partition {}: {}", path, error.what()));
  }
  guarded_columns_.resize(columns_.size());
  for (std::size_t j = 0; j < columns_.size(); ++j) {
    const std::string& column = columns_[j];
    const std::string& dataset_path = dataset_paths_.emplace_back(join_group_path(group, column));
    try {
      if (!guard_->has_link(table.get(), column)) {
        throw DataError(fmt::format("missing column '{}' (group '{}' has: {})", dataset_path, group,
                                    fmt::join(hdf5::member_names(table.get()), ", ")));
      }
    } catch (const sluice::Error& error) {
      throw DataError(fmt::format("partition {}: {}", path, error.what()));
    }
    try {
      datasets_.push_back(guard_->open_column(table.get(), column, guarded_columns_[j]));
    } catch (const sluice::Error& error) {
      throw DataError(fmt::format("partition {}: dataset '{}': {}", path, dataset_path,
                                  error.what()));
    }
  }
  if (!datasets_.empty()) num_rows_ = datasets_.front().length();
  for (std::size_t i = 1; i < datasets_.size(); ++i) {
    if (datasets_[i].length() != num_rows_) {
      throw DataError(fmt::format(
          "partition {}: columns have unequal lengths: '{}' has {} rows but '{}' has {}", path,
          join_group_path(group, columns_[0]), num_rows_, join_group_path(group, columns_[i]),
          datasets_[i].length()));
    }
  }
  checksums_.resize(columns_.size());
  open_raw_file_if_plain();
  // `sluice -v` shows each partition file opened and by which rank: the metadata path's cost.
  spdlog::debug("opened partition file {} ({} rows)", path_.string(), num_rows_);
} catch (const DataError& error) {
  // Names and HDF5's messages come from the file: one printable line wherever it is reported.
  throw DataError(printable_text(error.what()));
}

void PartitionReader::open_raw_file_if_plain() {
  std::vector<std::int64_t> offsets;
  std::int64_t end_of_data = 0;
  for (const hdf5::Dataset& dataset : datasets_) {
    const std::optional<std::int64_t> offset = dataset.raw_float64_offset();
    if (!offset) return; // one column needs HDF5, so the whole partition is read through it
    offsets.push_back(*offset);
    end_of_data = std::max(end_of_data,
                           *offset + num_rows_ * static_cast<std::int64_t>(sizeof(double)));
  }
  if (std::optional<RawColumnFile> file = RawColumnFile::open(path_, end_of_data)) {
    raw_file_ = std::make_unique<RawColumnFile>(std::move(*file));
    column_offsets_ = std::move(offsets);
  }
}

void PartitionReader::read_column(std::size_t j, std::int64_t start, std::span<double> out) {
  try {
    if (raw_file_) {
      raw_file_->read(column_offsets_[j] + start * static_cast<std::int64_t>(sizeof(double)), out);
    } else {
      const hdf5::LibraryLock lock = hdf5::lock_library();
      guard_->check_chunks(datasets_[j], guarded_columns_[j], start,
                           static_cast<std::int64_t>(out.size()));
      datasets_[j].read(start, out);
    }
  } catch (const sluice::Error& error) {
    throw DataError(printable_text(
        fmt::format("partition {}: dataset '{}': {}", path_, dataset_paths_[j], error.what())));
  }
  // Hash while the freshly read column is still in cache.
  checksums_[j].update(out);
}

PartitionReader::~PartitionReader() {
  // Close the datasets and the file under the lock; the moved-from members close nothing.
  const hdf5::LibraryLock lock = hdf5::lock_library();
  const std::vector<hdf5::Dataset> datasets = std::move(datasets_);
  const hdf5::File file = std::move(file_);
  guard_.reset();
}

void PartitionReader::read_block(std::int64_t start, std::int64_t count, double* out,
                                 std::int64_t leading_dimension) {
  if (start != next_row_ || count < 0 || start + count > num_rows_ || count > leading_dimension) {
    throw Error(fmt::format("partition {}: invalid block read of rows {}..{} (next row {}, {} rows)",
                            path_, start, start + count, next_row_, num_rows_));
  }
  const auto num_columns = static_cast<std::int64_t>(datasets_.size());
  std::vector<std::exception_ptr> errors(datasets_.size());
  // One task per column when pread() serves them (an undeferred, in-order loop otherwise: HDF5
  // must not be entered by two threads). Each column's checksum sees its blocks in order because
  // the block is complete before this returns.
#pragma omp taskloop grainsize(1) if (raw_file_ != nullptr) shared(errors)
  for (std::int64_t j = 0; j < num_columns; ++j) {
    try {
      read_column(static_cast<std::size_t>(j), start,
                  std::span<double>(out + j * leading_dimension, static_cast<std::size_t>(count)));
    } catch (...) {
      errors[static_cast<std::size_t>(j)] = std::current_exception();
    }
  }
  for (const std::exception_ptr& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  next_row_ += count;
  bytes_read_ += count * static_cast<std::int64_t>(datasets_.size() * sizeof(double));
}

std::uint64_t PartitionReader::checksum() const {
  if (next_row_ != num_rows_) {
    throw Error(fmt::format("partition {}: checksum requested after {} of {} rows", path_,
                            next_row_, num_rows_));
  }
  std::vector<std::uint64_t> digests;
  for (const ColumnChecksum& checksum : checksums_) digests.push_back(checksum.digest());
  return combine_checksums(columns_, digests);
}

void PartitionReader::start_at(std::int64_t row) {
  if (next_row_ != 0 || bytes_read_ != 0 || row < 0 || row > num_rows_) {
    throw Error(fmt::format("partition {}: cannot start reading at row {} ({} rows, next row {})",
                            path_, row, num_rows_, next_row_));
  }
  next_row_ = row;
}

std::uint64_t PartitionReader::take_segment_checksum() {
  std::vector<std::uint64_t> digests;
  for (ColumnChecksum& checksum : checksums_) {
    digests.push_back(checksum.digest());
    checksum = ColumnChecksum();
  }
  return combine_checksums(columns_, digests);
}

std::vector<std::string> column_names(const std::filesystem::path& path, const std::string& group,
                                      const ReadLimits& limits) {
  const hdf5::LibraryLock lock = hdf5::lock_library();
  const PartitionGuard guard(path, limits);
  try {
    hdf5::File file = hdf5::File::open_read(path);
    spdlog::debug("opened partition file {} to list its columns", path.string());
    return hdf5::member_names(guard.open_group(file.id(), group).get());
  } catch (const sluice::Error& error) {
    throw DataError(fmt::format("partition {}: {}", path, error.what()));
  }
}

} // namespace sluice::lake
