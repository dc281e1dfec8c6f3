// The checksum every snapshot file carries in its first 512 bytes (HDF5's user block).
#pragma once

#include "sluice/hdf5/file.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace sluice::snapshot {

/// Bytes at the start of a snapshot file reserved for its checksum header (HDF5 user block).
inline constexpr std::size_t checksum_header_bytes = 512;
/// The layout of the checksum header this build writes and the newest it reads.
inline constexpr std::int64_t checksum_header_version = 1;

/// What the header of a sealed snapshot records about the bytes after it.
struct SnapshotChecksum {
  std::int64_t content_bytes = 0;  ///< file size minus checksum_header_bytes
  std::string xxh3_128;            ///< XXH3-128 of those bytes, 32 lowercase hex digits
};

/// Creates (truncates) an HDF5 file for a snapshot with the checksum header's bytes reserved.
hdf5::File create_snapshot_file(const std::filesystem::path& path);

/// Writes the checksum header of a closed snapshot file: the header's bytes must still be the
/// zeros create_snapshot_file left (else DataError: it would overwrite something). Returns what
/// it recorded. The caller fsyncs the file.
SnapshotChecksum seal_snapshot_file(const std::filesystem::path& path);

/// Checks a snapshot file against its header before anything else reads it. Throws DataError
/// naming the file when it is missing, shorter than the header, has no or a damaged header, a
/// header of a newer layout, or content whose size or XXH3-128 differs from the recorded ones
/// (a torn, truncated, extended or modified file). Returns the recorded checksum.
SnapshotChecksum verify_snapshot_file(const std::filesystem::path& path);

/// The check read_snapshot makes: verify_snapshot_file, except that a plain HDF5 file whose
/// `format_version` is at most 2 (written before snapshots carried checksums) is let through
/// unchecked (nullopt). A later format without the header is refused as damaged.
std::optional<SnapshotChecksum> verify_snapshot_for_reading(const std::filesystem::path& path);

} // namespace sluice::snapshot
