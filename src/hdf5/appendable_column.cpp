// Growing a chunked dataset block by block: extend, then write the new hyperslab.
#include "sluice/hdf5/appendable_column.hpp"

#include "sluice/hdf5/error.hpp"
#include "sluice/hdf5/file.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sluice::hdf5 {
namespace {

DatasetHandle create_growing(hid_t location, const std::string& name, hid_t type,
                             std::int64_t chunk_rows, int deflate_level) {
  hsize_t current[1] = {0};
  hsize_t maximum[1] = {H5S_UNLIMITED};
  DataspaceHandle space(check_id(H5Screate_simple(1, current, maximum), "H5Screate_simple"));
  PropertyListHandle creation = untimed_creation_properties(H5P_DATASET_CREATE);
  hsize_t chunk[1] = {static_cast<hsize_t>(std::max<std::int64_t>(chunk_rows, 1))};
  check_status(H5Pset_chunk(creation.get(), 1, chunk), "H5Pset_chunk");
  if (deflate_level > 0) {
    check_status(H5Pset_shuffle(creation.get()), "H5Pset_shuffle");
    check_status(H5Pset_deflate(creation.get(), static_cast<unsigned>(deflate_level)), "H5Pset_deflate");
  }
  return DatasetHandle(check_id(H5Dcreate2(location, name.c_str(), type, space.get(), H5P_DEFAULT,
                                           creation.get(), H5P_DEFAULT),
                                fmt::format("cannot create dataset '{}'", name)));
}

} // namespace

AppendableColumn AppendableColumn::create_float64(hid_t location, const std::string& name,
                                                  std::int64_t chunk_rows, int deflate_level) {
  return AppendableColumn(create_growing(location, name, H5T_IEEE_F64LE, chunk_rows, deflate_level), name);
}

AppendableColumn AppendableColumn::create_int64(hid_t location, const std::string& name,
                                                std::int64_t chunk_rows, int deflate_level) {
  return AppendableColumn(create_growing(location, name, H5T_STD_I64LE, chunk_rows, deflate_level), name);
}

void AppendableColumn::append(std::span<const double> values) {
  append_raw(values.data(), static_cast<std::int64_t>(values.size()), H5T_NATIVE_DOUBLE);
}

void AppendableColumn::append(std::span<const std::int64_t> values) {
  append_raw(values.data(), static_cast<std::int64_t>(values.size()), H5T_NATIVE_INT64);
}

void AppendableColumn::append_raw(const void* values, std::int64_t count, hid_t memory_type) {
  if (count == 0) return;
  hsize_t extent[1] = {static_cast<hsize_t>(length_ + count)};
  check_status(H5Dset_extent(handle_.get(), extent), fmt::format("cannot extend dataset '{}'", name_));
  DataspaceHandle file_space(check_id(H5Dget_space(handle_.get()), "H5Dget_space"));
  hsize_t offset[1] = {static_cast<hsize_t>(length_)};
  hsize_t size[1] = {static_cast<hsize_t>(count)};
  check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset, nullptr, size, nullptr),
               "H5Sselect_hyperslab");
  DataspaceHandle memory_space(check_id(H5Screate_simple(1, size, nullptr), "H5Screate_simple"));
  check_status(H5Dwrite(handle_.get(), memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT, values),
               fmt::format("cannot write dataset '{}'", name_));
  length_ += count;
}

} // namespace sluice::hdf5
