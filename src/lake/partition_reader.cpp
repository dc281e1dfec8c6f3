// Schema validation and streaming block reads of one partition.
#include "sluice/lake/partition_reader.hpp"

#include "column_checksum.hpp"
#include "sluice/error.hpp"
#include "sluice/hdf5/error.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fmt/std.h>

namespace sluice::lake {
namespace {

std::string join_group_path(const std::string& group, const std::string& name) {
  if (group.empty() || group == "/") return "/" + name;
  return group.back() == '/' ? group + name : group + "/" + name;
}

} // namespace

PartitionReader::PartitionReader(const std::filesystem::path& path, const std::string& group,
                                 const std::vector<std::string>& columns)
    : path_(path), file_([&] {
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
    table = hdf5::open_group(file_.id(), group);
  } catch (const hdf5::Error&) {
    throw DataError(fmt::format("partition {}: group '{}' not found", path, group));
  }
  std::vector<std::string> members = hdf5::member_names(table.get());
  for (const std::string& column : columns_) {
    std::string dataset_path = join_group_path(group, column);
    if (!hdf5::has_link(table.get(), column)) {
      throw DataError(fmt::format("partition {}: missing column '{}' (group '{}' has: {})", path,
                                  dataset_path, group, fmt::join(members, ", ")));
    }
    try {
      hdf5::Dataset dataset = hdf5::Dataset::open(table.get(), column);
      if (dataset.rank() != 1) {
        throw DataError(fmt::format("dataset has {} dimensions, a column must be 1-D",
                                    dataset.rank()));
      }
      dataset.dtype(); // throws DataError for dtypes outside the lake contract
      datasets_.push_back(std::move(dataset));
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
}

PartitionReader::~PartitionReader() = default;
PartitionReader::PartitionReader(PartitionReader&&) noexcept = default;
PartitionReader& PartitionReader::operator=(PartitionReader&&) noexcept = default;

void PartitionReader::read_block(std::int64_t start, std::int64_t count, double* out,
                                 std::int64_t leading_dimension) {
  if (start != next_row_ || count < 0 || start + count > num_rows_ || count > leading_dimension) {
    throw Error(fmt::format("partition {}: invalid block read of rows {}..{} (next row {}, {} rows)",
                            path_, start, start + count, next_row_, num_rows_));
  }
  for (std::size_t j = 0; j < datasets_.size(); ++j) {
    std::span<double> column(out + static_cast<std::ptrdiff_t>(j) * leading_dimension,
                             static_cast<std::size_t>(count));
    try {
      datasets_[j].read(start, column);
    } catch (const hdf5::Error& error) {
      throw DataError(fmt::format("partition {}: dataset '{}': {}", path_, columns_[j],
                                  error.what()));
    }
    // Hash while the freshly read column is still in cache.
    checksums_[j].update(column);
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

} // namespace sluice::lake
