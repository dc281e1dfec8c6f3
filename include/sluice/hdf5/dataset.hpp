// hdf5::Dataset: a 1-D column of a partition, read in row ranges and converted to double.
#pragma once

#include "sluice/hdf5/handle.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::hdf5 {

/// The element types a lake column may have (the lake contract); anything else is rejected.
enum class Dtype { float64, float32, int64, int32, int8, uint8, boolean };

std::string_view dtype_name(Dtype dtype);

/// One open dataset. Reading converts every supported dtype to double.
class Dataset {
public:
  /// Opens `name` in group; throws hdf5::Error if it does not exist or is not a dataset. `access`
  /// is a dataset-access property list to start from (e.g. one that refuses external links).
  static Dataset open(hid_t group, const std::string& name, hid_t access = H5P_DEFAULT);

  hid_t id() const noexcept { return handle_.get(); }
  /// Number of dimensions of the dataspace (a column must have 1).
  int rank() const noexcept { return static_cast<int>(dims_.size()); }
  const std::vector<hsize_t>& dims() const noexcept { return dims_; }
  /// The number of elements along the first dimension.
  std::int64_t length() const noexcept;
  /// The element type; throws DataError describing the type if it is not one of Dtype's.
  Dtype dtype() const;
  /// Bytes of one element in the file.
  std::size_t element_bytes() const noexcept { return H5Tget_size(file_type_.get()); }
  /// Bytes of one chunk (saturated at SIZE_MAX), or 0 for contiguous/compact storage.
  std::size_t chunk_bytes() const noexcept { return chunk_bytes_; }

  /// Where the values start in the file when the file's bytes already are the column as the reader
  /// wants it: little-endian float64 (on a little-endian machine), contiguous layout, allocated,
  /// stored in this file (not external), 8-byte aligned. Otherwise nullopt, and read() is the way
  /// in. H5Dget_offset exists for exactly this: reading raw data without the library.
  std::optional<std::int64_t> raw_float64_offset() const;

  /// Reads elements [start, start + out.size()) converted to double into out.
  void read(std::int64_t start, std::span<double> out) const;

private:
  Dataset(DatasetHandle handle, std::string name);

  DatasetHandle handle_;
  DatatypeHandle file_type_;
  std::string name_;
  std::vector<hsize_t> dims_;
  std::size_t chunk_bytes_ = 0;
  bool is_boolean_ = false;
  mutable std::vector<std::uint8_t> scratch_; // holds raw enum (bool) values before conversion
};

/// Write options for snapshot and synthetic-lake datasets.
struct WriteOptions {
  std::int64_t chunk_rows = 0; ///< 0: contiguous storage
  int deflate_level = 0;       ///< 0: no compression (needs chunking otherwise)
  bool is_shuffled = false;    ///< byte-shuffle filter before deflate
};

/// A 1-D float64 column created at its full length and filled range by range, so writers need
/// not hold a whole column in memory.
class ColumnWriter {
public:
  static ColumnWriter create(hid_t location, const std::string& name, std::int64_t length,
                             const WriteOptions& options = {});
  void write(std::int64_t start, std::span<const double> values);

private:
  ColumnWriter(DatasetHandle handle, std::string name) : handle_(std::move(handle)), name_(std::move(name)) {}
  DatasetHandle handle_;
  std::string name_;
};

void write_doubles(hid_t location, const std::string& name, std::span<const double> values,
                   const WriteOptions& options = {});
void write_int64s(hid_t location, const std::string& name, std::span<const std::int64_t> values);
void write_strings(hid_t location, const std::string& name, const std::vector<std::string>& values);

/// A scalar (0-D) float64 dataset, e.g. a model's intercept.
void write_scalar(hid_t location, const std::string& name, double value);
double read_scalar(hid_t location, const std::string& name);

std::vector<double> read_doubles(hid_t location, const std::string& name);

/// A 2-D float64 dataset of rows × cols values given row-major (numpy's layout).
void write_matrix(hid_t location, const std::string& name, std::int64_t rows, std::int64_t cols,
                  std::span<const double> row_major);
/// Reads a 2-D float64 dataset: its shape and its values row-major.
struct MatrixValues {
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<double> row_major;
};
MatrixValues read_matrix(hid_t location, const std::string& name);
std::vector<std::int64_t> read_int64s(hid_t location, const std::string& name);
std::vector<std::string> read_strings(hid_t location, const std::string& name);

} // namespace sluice::hdf5
