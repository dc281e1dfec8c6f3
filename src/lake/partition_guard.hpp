// PartitionGuard: checks that keep a partition file Sluice did not write from steering libhdf5.
#pragma once

#include "sluice/hdf5/dataset.hpp"
#include "sluice/hdf5/handle.hpp"
#include "sluice/lake/read_limits.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace sluice::lake {

/// `text` with every byte that is not part of valid, printable UTF-8 replaced by '?': messages
/// carry names and HDF5's descriptions of a hostile file, and end up in JSON and terminals.
std::string printable_text(std::string_view text);

/// What the guard learned about a column that its later reads need.
struct GuardedColumn {
  std::int64_t chunk_rows = 0;             ///< 0: not chunked
  std::int64_t max_stored_chunk_bytes = 0; ///< the most a stored chunk may occupy in the file
  std::int64_t num_checked_chunks = 0;     ///< chunks [0, n) were checked by check_chunks
};

/// The HDF Group does not design libhdf5 for maliciously crafted files, so everything a partition
/// could use to make the library reach outside the file, run plugin code, or read or allocate
/// without bound is refused before any of its values are read (docs/lake-format.md, "Untrusted
/// partitions"). Every refusal is a DataError stating the rule; the caller adds the file and the
/// dataset. Callers hold hdf5::library_mutex() around every call.
///
/// Dynamically loaded filter plugins are not switched off with H5PLset_loading_state: that setting
/// is process-wide, and a library must not change it for the application that links it. HDF5 looks
/// for a plugin only when a chunk passes through a filter it does not know, and the filter
/// allowlist below refuses such a dataset before any chunk is read, so no plugin is ever loaded
/// on Sluice's behalf.
class PartitionGuard {
public:
  /// Reads the file's size (the bound for contiguous data); throws DataError if it cannot.
  PartitionGuard(std::filesystem::path path, const ReadLimits& limits);
  // The external-link callback keeps a pointer to this object.
  PartitionGuard(const PartitionGuard&) = delete;
  PartitionGuard& operator=(const PartitionGuard&) = delete;

  /// Opens the table's group one level at a time without following external links; DataError if
  /// that is impossible. Before any name is looked up in a group (the root, then each level), its
  /// local heap must lie inside the file (check_name_heap).
  hdf5::GroupHandle open_group(hid_t file, const std::string& group) const;

  /// True if `name` exists in group (looked up without following external links).
  bool has_link(hid_t group, const std::string& name) const;

  /// Opens column `name` after checking, in this order: it is a hard link; its storage is not
  /// virtual or external and its filters are allowed; it is 1-D with a contract dtype in a
  /// standard bit layout; its declared size fits 64 bits and lake.max_column_bytes; contiguous
  /// data lies inside the file, compact data is as large as declared; chunks fit
  /// lake.max_chunk_bytes; the file holds at least 1/max_expansion_ratio of the declared bytes.
  hdf5::Dataset open_column(hid_t group, const std::string& name, GuardedColumn& column) const;

  /// Before rows [start, start + count) of a chunked column are read through HDF5: each chunk
  /// they touch must occupy no more than a chunk of its size can under the allowed filters (HDF5
  /// 1.10 would otherwise inflate it into memory far beyond the chunk's size).
  void check_chunks(const hdf5::Dataset& dataset, GuardedColumn& column, std::int64_t start,
                    std::int64_t count) const;

private:
  void check_names(hid_t file, hid_t group, const std::string& name) const;
  void check_link(hid_t group, const std::string& name) const;
  void check_storage(hid_t dataset) const;
  void check_bit_layout(const hdf5::Dataset& dataset) const;
  GuardedColumn check_sizes(const hdf5::Dataset& dataset) const;

  std::filesystem::path path_;
  ReadLimits limits_;
  std::int64_t file_bytes_ = 0;
  hdf5::PropertyListHandle group_access_;   // external links refused
  hdf5::PropertyListHandle dataset_access_; // external links refused
  mutable std::string refused_link_;        // set by the callback that refuses a traversal
};

} // namespace sluice::lake
