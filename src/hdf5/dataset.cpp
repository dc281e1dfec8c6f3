// Column datasets: dtype classification, hyperslab reads converted to double, and writers.
#include "sluice/hdf5/dataset.hpp"

#include "sluice/hdf5/error.hpp"
#include "sluice/hdf5/file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

namespace sluice::hdf5 {
namespace {

constexpr std::size_t default_chunk_cache_bytes = 1 << 20;

std::string describe_type(hid_t type) {
  switch (H5Tget_class(type)) {
  case H5T_INTEGER:
    return fmt::format("{}-bit {} integer", 8 * H5Tget_size(type),
                       H5Tget_sign(type) == H5T_SGN_NONE ? "unsigned" : "signed");
  case H5T_FLOAT: return fmt::format("{}-bit float", 8 * H5Tget_size(type));
  case H5T_STRING: return "string";
  case H5T_COMPOUND: return "compound";
  case H5T_ENUM: return "enum (not a bool)";
  case H5T_ARRAY: return "array";
  case H5T_VLEN: return "variable-length";
  case H5T_OPAQUE: return "opaque";
  case H5T_REFERENCE: return "reference";
  case H5T_BITFIELD: return "bitfield";
  default: return "unknown";
  }
}

// h5py stores numpy bools as an int8 enum {FALSE = 0, TRUE = 1}.
bool is_h5py_bool(hid_t type) {
  if (H5Tget_class(type) != H5T_ENUM || H5Tget_nmembers(type) != 2 || H5Tget_size(type) != 1) {
    return false;
  }
  for (unsigned i = 0; i < 2; ++i) {
    char* name = H5Tget_member_name(type, i);
    bool is_expected = name != nullptr && std::strcmp(name, i == 0 ? "FALSE" : "TRUE") == 0;
    H5free_memory(name);
    if (!is_expected) return false;
  }
  return true;
}

std::size_t chunk_bytes_of(hid_t dataset, hid_t type) {
  PropertyListHandle creation(check_id(H5Dget_create_plist(dataset), "H5Dget_create_plist"));
  if (H5Pget_layout(creation.get()) != H5D_CHUNKED) return 0;
  hsize_t chunk[H5S_MAX_RANK] = {};
  int chunk_rank = H5Pget_chunk(creation.get(), H5S_MAX_RANK, chunk);
  std::size_t bytes = H5Tget_size(type);
  for (int i = 0; i < chunk_rank; ++i) {
    // A file may declare any chunk shape: saturate instead of wrapping around.
    if (chunk[i] != 0 && bytes > std::numeric_limits<std::size_t>::max() / chunk[i]) {
      return std::numeric_limits<std::size_t>::max();
    }
    bytes *= chunk[i];
  }
  return bytes;
}

DatasetHandle open_dataset(hid_t group, const std::string& name, hid_t access) {
  return DatasetHandle(check_id(H5Dopen2(group, name.c_str(), access),
                                fmt::format("cannot open dataset '{}'", name)));
}

DataspaceHandle column_space(std::int64_t length) {
  hsize_t dims[1] = {static_cast<hsize_t>(length)};
  return DataspaceHandle(check_id(H5Screate_simple(1, dims, nullptr), "H5Screate_simple"));
}

DatasetHandle create_column(hid_t location, const std::string& name, hid_t type,
                            std::int64_t length, const WriteOptions& options) {
  DataspaceHandle space = column_space(length);
  PropertyListHandle creation = untimed_creation_properties(H5P_DATASET_CREATE);
  if (options.chunk_rows > 0 && length > 0) {
    hsize_t chunk[1] = {static_cast<hsize_t>(std::min(options.chunk_rows, length))};
    check_status(H5Pset_chunk(creation.get(), 1, chunk), "H5Pset_chunk");
    if (options.is_shuffled) check_status(H5Pset_shuffle(creation.get()), "H5Pset_shuffle");
    if (options.deflate_level > 0) {
      check_status(H5Pset_deflate(creation.get(), static_cast<unsigned>(options.deflate_level)),
                   "H5Pset_deflate");
    }
  }
  return DatasetHandle(check_id(H5Dcreate2(location, name.c_str(), type, space.get(), H5P_DEFAULT,
                                           creation.get(), H5P_DEFAULT),
                                fmt::format("cannot create dataset '{}'", name)));
}

std::int64_t length_of(const Dataset& dataset, const std::string& name) {
  if (dataset.rank() != 1) {
    throw Error(fmt::format("dataset '{}' has {} dimensions, expected 1", name, dataset.rank()));
  }
  return dataset.length();
}

DatatypeHandle utf8_string_type() {
  DatatypeHandle type(check_id(H5Tcopy(H5T_C_S1), "H5Tcopy"));
  check_status(H5Tset_size(type.get(), H5T_VARIABLE), "H5Tset_size");
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset");
  return type;
}

} // namespace

std::string_view dtype_name(Dtype dtype) {
  switch (dtype) {
  case Dtype::float64: return "float64";
  case Dtype::float32: return "float32";
  case Dtype::int64: return "int64";
  case Dtype::int32: return "int32";
  case Dtype::int8: return "int8";
  case Dtype::uint8: return "uint8";
  case Dtype::boolean: return "bool";
  }
  return "unknown";
}

Dataset::Dataset(DatasetHandle handle, std::string name)
    : handle_(std::move(handle)), name_(std::move(name)) {
  file_type_ = DatatypeHandle(check_id(H5Dget_type(handle_.get()), "H5Dget_type"));
  DataspaceHandle space(check_id(H5Dget_space(handle_.get()), "H5Dget_space"));
  int rank = H5Sget_simple_extent_ndims(space.get());
  check_status(rank < 0 ? -1 : 0, fmt::format("dataset '{}' has no simple dataspace", name_));
  dims_.resize(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims_.data(), nullptr);
  chunk_bytes_ = chunk_bytes_of(handle_.get(), file_type_.get());
  is_boolean_ = is_h5py_bool(file_type_.get());
}

Dataset Dataset::open(hid_t group, const std::string& name, hid_t access) {
  Dataset dataset(open_dataset(group, name, access), name);
  // Blocks of rows rarely align with chunks; a cache that holds two chunks means each chunk is
  // decompressed once, while memory stays bounded by the chunk size.
  if (dataset.chunk_bytes_ > default_chunk_cache_bytes / 2) {
    PropertyListHandle cached(check_id(
        access == H5P_DEFAULT ? H5Pcreate(H5P_DATASET_ACCESS) : H5Pcopy(access), "H5Pcreate"));
    const std::size_t cache_bytes =
        dataset.chunk_bytes_ > std::numeric_limits<std::size_t>::max() / 2
            ? std::numeric_limits<std::size_t>::max()
            : 2 * dataset.chunk_bytes_;
    check_status(H5Pset_chunk_cache(cached.get(), H5D_CHUNK_CACHE_NSLOTS_DEFAULT, cache_bytes, 1.0),
                 "H5Pset_chunk_cache");
    dataset.handle_ = open_dataset(group, name, cached.get());
  }
  return dataset;
}

std::int64_t Dataset::length() const noexcept {
  return dims_.empty() ? 1 : static_cast<std::int64_t>(dims_[0]);
}

Dtype Dataset::dtype() const {
  hid_t type = file_type_.get();
  std::size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
  case H5T_FLOAT:
    if (size == 8) return Dtype::float64;
    if (size == 4) return Dtype::float32;
    break;
  case H5T_INTEGER: {
    bool is_signed = H5Tget_sign(type) != H5T_SGN_NONE;
    if (is_signed && size == 8) return Dtype::int64;
    if (is_signed && size == 4) return Dtype::int32;
    if (is_signed && size == 1) return Dtype::int8;
    if (!is_signed && size == 1) return Dtype::uint8;
    break;
  }
  case H5T_ENUM:
    if (is_h5py_bool(type)) return Dtype::boolean;
    break;
  default: break;
  }
  throw DataError(fmt::format("unsupported dtype {} (supported: float64, float32, int64, int32, "
                              "int8, uint8, bool)",
                              describe_type(type)));
}

std::optional<std::int64_t> Dataset::raw_float64_offset() const {
  if constexpr (std::endian::native != std::endian::little) return std::nullopt;
  if (is_boolean_ || dims_.size() != 1 || H5Tequal(file_type_.get(), H5T_IEEE_F64LE) <= 0) {
    return std::nullopt;
  }
  PropertyListHandle creation(check_id(H5Dget_create_plist(handle_.get()), "H5Dget_create_plist"));
  if (H5Pget_layout(creation.get()) != H5D_CONTIGUOUS || H5Pget_external_count(creation.get()) != 0) {
    return std::nullopt;
  }
  // The address from the file's first byte, user block included.
  const haddr_t offset = H5Dget_offset(handle_.get());
  const auto bytes = static_cast<hsize_t>(length()) * sizeof(double);
  if (offset == HADDR_UNDEF || offset % alignof(double) != 0 ||
      H5Dget_storage_size(handle_.get()) != bytes) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(offset);
}

void Dataset::read(std::int64_t start, std::span<double> out) const {
  if (out.empty()) return;
  hsize_t offset[1] = {static_cast<hsize_t>(start)};
  hsize_t count[1] = {out.size()};
  DataspaceHandle file_space(check_id(H5Dget_space(handle_.get()), "H5Dget_space"));
  check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset, nullptr, count, nullptr),
               fmt::format("rows {}..{} are outside dataset '{}'", start, start + out.size(), name_));
  DataspaceHandle memory_space = column_space(static_cast<std::int64_t>(out.size()));
  std::string what = fmt::format("cannot read rows {}..{} of dataset '{}'", start,
                                 start + static_cast<std::int64_t>(out.size()), name_);
  if (!is_boolean_) {
    check_status(H5Dread(handle_.get(), H5T_NATIVE_DOUBLE, memory_space.get(), file_space.get(),
                         H5P_DEFAULT, out.data()),
                 what);
    return;
  }
  // HDF5 cannot convert an enum to a float, so read the raw 0/1 bytes and widen them here.
  scratch_.resize(out.size());
  DatatypeHandle native(check_id(H5Tget_native_type(file_type_.get(), H5T_DIR_ASCEND), what));
  check_status(H5Dread(handle_.get(), native.get(), memory_space.get(), file_space.get(),
                       H5P_DEFAULT, scratch_.data()),
               what);
  std::transform(scratch_.begin(), scratch_.end(), out.begin(),
                 [](std::uint8_t value) { return value != 0 ? 1.0 : 0.0; });
}

ColumnWriter ColumnWriter::create(hid_t location, const std::string& name, std::int64_t length,
                                 const WriteOptions& options) {
  return ColumnWriter(create_column(location, name, H5T_IEEE_F64LE, length, options), name);
}

void ColumnWriter::write(std::int64_t start, std::span<const double> values) {
  if (values.empty()) return;
  hsize_t offset[1] = {static_cast<hsize_t>(start)};
  hsize_t count[1] = {values.size()};
  DataspaceHandle file_space(check_id(H5Dget_space(handle_.get()), "H5Dget_space"));
  check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset, nullptr, count, nullptr),
               "H5Sselect_hyperslab");
  DataspaceHandle memory_space = column_space(static_cast<std::int64_t>(values.size()));
  check_status(H5Dwrite(handle_.get(), H5T_NATIVE_DOUBLE, memory_space.get(), file_space.get(),
                        H5P_DEFAULT, values.data()),
               fmt::format("cannot write dataset '{}'", name_));
}

void write_doubles(hid_t location, const std::string& name, std::span<const double> values,
                   const WriteOptions& options) {
  ColumnWriter::create(location, name, static_cast<std::int64_t>(values.size()), options)
      .write(0, values);
}

void write_int64s(hid_t location, const std::string& name, std::span<const std::int64_t> values) {
  DatasetHandle dataset =
      create_column(location, name, H5T_STD_I64LE, static_cast<std::int64_t>(values.size()), {});
  if (values.empty()) return;
  check_status(
      H5Dwrite(dataset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
      fmt::format("cannot write dataset '{}'", name));
}

void write_strings(hid_t location, const std::string& name, const std::vector<std::string>& values) {
  DatatypeHandle type = utf8_string_type();
  DatasetHandle dataset =
      create_column(location, name, type.get(), static_cast<std::int64_t>(values.size()), {});
  if (values.empty()) return;
  std::vector<const char*> pointers;
  for (const std::string& value : values) pointers.push_back(value.c_str());
  check_status(
      H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()),
      fmt::format("cannot write dataset '{}'", name));
}

void write_scalar(hid_t location, const std::string& name, double value) {
  DataspaceHandle space(check_id(H5Screate(H5S_SCALAR), "H5Screate"));
  PropertyListHandle creation = untimed_creation_properties(H5P_DATASET_CREATE);
  DatasetHandle dataset(check_id(H5Dcreate2(location, name.c_str(), H5T_IEEE_F64LE, space.get(),
                                            H5P_DEFAULT, creation.get(), H5P_DEFAULT),
                                 fmt::format("cannot create dataset '{}'", name)));
  check_status(H5Dwrite(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value),
               fmt::format("cannot write dataset '{}'", name));
}

double read_scalar(hid_t location, const std::string& name) {
  DatasetHandle dataset = open_dataset(location, name, H5P_DEFAULT);
  double value = 0;
  check_status(H5Dread(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value),
               fmt::format("cannot read dataset '{}'", name));
  return value;
}

std::vector<double> read_doubles(hid_t location, const std::string& name) {
  Dataset dataset = Dataset::open(location, name);
  std::vector<double> values(static_cast<std::size_t>(length_of(dataset, name)));
  dataset.read(0, values);
  return values;
}

void write_matrix(hid_t location, const std::string& name, std::int64_t rows, std::int64_t cols,
                  std::span<const double> row_major) {
  hsize_t dims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
  DataspaceHandle space(check_id(H5Screate_simple(2, dims, nullptr), "H5Screate_simple"));
  PropertyListHandle creation = untimed_creation_properties(H5P_DATASET_CREATE);
  DatasetHandle dataset(check_id(H5Dcreate2(location, name.c_str(), H5T_IEEE_F64LE, space.get(),
                                            H5P_DEFAULT, creation.get(), H5P_DEFAULT),
                                 fmt::format("cannot create dataset '{}'", name)));
  if (row_major.empty()) return;
  check_status(H5Dwrite(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                        row_major.data()),
               fmt::format("cannot write dataset '{}'", name));
}

MatrixValues read_matrix(hid_t location, const std::string& name) {
  Dataset dataset = Dataset::open(location, name);
  if (dataset.rank() != 2) {
    throw Error(fmt::format("dataset '{}' has {} dimensions, expected 2", name, dataset.rank()));
  }
  DataspaceHandle space(check_id(H5Dget_space(dataset.id()), "H5Dget_space"));
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  MatrixValues values{static_cast<std::int64_t>(dims[0]), static_cast<std::int64_t>(dims[1]), {}};
  values.row_major.resize(static_cast<std::size_t>(dims[0] * dims[1]));
  if (!values.row_major.empty()) {
    check_status(H5Dread(dataset.id(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                         values.row_major.data()),
                 fmt::format("cannot read dataset '{}'", name));
  }
  return values;
}

std::vector<std::int64_t> read_int64s(hid_t location, const std::string& name) {
  Dataset dataset = Dataset::open(location, name);
  std::vector<std::int64_t> values(static_cast<std::size_t>(length_of(dataset, name)));
  if (!values.empty()) {
    check_status(
        H5Dread(dataset.id(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
        fmt::format("cannot read dataset '{}'", name));
  }
  return values;
}

std::vector<std::string> read_strings(hid_t location, const std::string& name) {
  DatasetHandle dataset = open_dataset(location, name, H5P_DEFAULT);
  DataspaceHandle space(check_id(H5Dget_space(dataset.get()), "H5Dget_space"));
  hssize_t count = H5Sget_simple_extent_npoints(space.get());
  std::vector<char*> pointers(static_cast<std::size_t>(std::max<hssize_t>(count, 0)));
  DatatypeHandle type = utf8_string_type();
  if (!pointers.empty()) {
    check_status(
        H5Dread(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()),
        fmt::format("cannot read dataset '{}'", name));
  }
  std::vector<std::string> values;
  for (char* pointer : pointers) values.emplace_back(pointer != nullptr ? pointer : "");
  if (!pointers.empty()) H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, pointers.data());
  return values;
}

} // namespace sluice::hdf5
