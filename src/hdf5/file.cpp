// Opening and creating HDF5 files and groups through checked calls.
#include "sluice/hdf5/file.hpp"

#include "sluice/hdf5/error.hpp"

#include <fmt/format.h>
#include <fmt/std.h>

namespace sluice::hdf5 {

File::File(FileHandle handle, std::filesystem::path path)
    : handle_(std::move(handle)), path_(std::move(path)) {}

File File::open_read(const std::filesystem::path& path) {
  silence_library_errors();
  hid_t id = check_id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT),
                      fmt::format("cannot open {} as HDF5", path));
  return File(FileHandle(id), path);
}

File File::create(const std::filesystem::path& path) {
  silence_library_errors();
  hid_t id = check_id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                      fmt::format("cannot create {}", path));
  return File(FileHandle(id), path);
}

File File::create_with_userblock(const std::filesystem::path& path, hsize_t userblock_bytes) {
  silence_library_errors();
  PropertyListHandle creation(check_id(H5Pcreate(H5P_FILE_CREATE), "H5Pcreate"));
  check_status(H5Pset_userblock(creation.get(), userblock_bytes),
               fmt::format("cannot reserve a {}-byte user block in {}", userblock_bytes, path));
  hid_t id = check_id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, creation.get(), H5P_DEFAULT),
                      fmt::format("cannot create {}", path));
  return File(FileHandle(id), path);
}

void File::flush() {
  check_status(H5Fflush(handle_.get(), H5F_SCOPE_LOCAL), fmt::format("cannot flush {}", path_));
}

void File::close() {
  if (!handle_.is_valid()) return;
  // Release ownership first so a failed close is not retried by the destructor.
  check_status(H5Fclose(handle_.release()), fmt::format("cannot close {}", path_));
}

GroupHandle open_group(hid_t location, const std::string& name) {
  return GroupHandle(
      check_id(H5Gopen2(location, name.c_str(), H5P_DEFAULT), fmt::format("no group '{}'", name)));
}

PropertyListHandle untimed_creation_properties(hid_t property_class) {
  PropertyListHandle properties(check_id(H5Pcreate(property_class), "H5Pcreate"));
  check_status(H5Pset_obj_track_times(properties.get(), false), "H5Pset_obj_track_times");
  return properties;
}

GroupHandle create_group(hid_t location, const std::string& name) {
  PropertyListHandle properties = untimed_creation_properties(H5P_GROUP_CREATE);
  return GroupHandle(check_id(H5Gcreate2(location, name.c_str(), H5P_DEFAULT, properties.get(),
                                         H5P_DEFAULT),
                              fmt::format("cannot create group '{}'", name)));
}

bool has_link(hid_t location, const std::string& name) {
  htri_t exists = H5Lexists(location, name.c_str(), H5P_DEFAULT);
  check_status(static_cast<herr_t>(exists), fmt::format("cannot look up '{}'", name));
  return exists > 0;
}

std::vector<std::string> member_names(hid_t group) {
  H5G_info_t info{};
  check_status(H5Gget_info(group, &info), "cannot list group");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t length = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0,
                                        H5P_DEFAULT);
    check_status(static_cast<herr_t>(length < 0 ? -1 : 0), "cannot read member name");
    std::string name(static_cast<std::size_t>(length), '\0');
    H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1,
                       H5P_DEFAULT);
    names.push_back(std::move(name));
  }
  return names;
}

std::int64_t num_open_files() {
  const ssize_t count = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE);
  check_status(count < 0 ? -1 : 0, "cannot count the open HDF5 files");
  return static_cast<std::int64_t>(count);
}

} // namespace sluice::hdf5
