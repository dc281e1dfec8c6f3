// hdf5::File and group access: opening partitions for reading and creating snapshot files.
#pragma once

#include "sluice/hdf5/handle.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace sluice::hdf5 {

/// An open HDF5 file. Files are opened by one process each (no MPI-IO): partitions belong to
/// exactly one rank at a time, and snapshots are written by rank 0 only.
class File {
public:
  /// Opens an existing file read-only; throws hdf5::Error naming the path if it is not HDF5.
  static File open_read(const std::filesystem::path& path);
  /// Creates (truncates) a file whose bytes depend only on what is written: no timestamps.
  static File create(const std::filesystem::path& path);
  /// As create, with the first `userblock_bytes` bytes of the file left to the caller (HDF5's
  /// user block: a power of two, at least 512). HDF5 and h5py skip it when reading.
  static File create_with_userblock(const std::filesystem::path& path, hsize_t userblock_bytes);

  hid_t id() const noexcept { return handle_.get(); }
  const std::filesystem::path& path() const noexcept { return path_; }

  /// Flushes HDF5's buffers to the operating system.
  void flush();
  /// Closes the file, reporting failures (the destructor cannot).
  void close();

private:
  File(FileHandle handle, std::filesystem::path path);

  FileHandle handle_;
  std::filesystem::path path_;
};

/// Opens the group at `name` ("/" for the root); throws hdf5::Error if it is absent.
GroupHandle open_group(hid_t location, const std::string& name);
/// Creates a group whose objects carry no timestamps.
GroupHandle create_group(hid_t location, const std::string& name);
/// True if a link `name` exists in location (a single path component).
bool has_link(hid_t location, const std::string& name);
/// Names of the group's members in HDF5's name order.
std::vector<std::string> member_names(hid_t group);
/// How many HDF5 files this process still holds open, whoever opened them. libhdf5 1.10 keeps a
/// file open when H5Fclose fails on corrupt metadata, and crashes on it when it shuts down.
std::int64_t num_open_files();
/// Dataset-creation property list with timestamps off, so output bytes are reproducible.
PropertyListHandle untimed_creation_properties(hid_t property_class);

} // namespace sluice::hdf5
