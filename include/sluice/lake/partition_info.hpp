// PartitionInfo: what the planner and the lineage know about one partition file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace sluice::lake {

/// One partition of a lake. Partitions are ordered by relative_path; that order fixes the order
/// in which partial results are combined, and so the bits of every result.
struct PartitionInfo {
  std::string relative_path;                ///< '/'-separated, relative to the lake root
  std::filesystem::path path;               ///< absolute or as given by the job
  std::map<std::string, std::string> keys;  ///< Hive-style keys from `key=value` directories
  std::int64_t num_rows = 0;                ///< filled in by inspection
  std::int64_t file_bytes = 0;
  std::uint64_t path_hash = 0;              ///< path_hash(relative_path): keys per-row choices
};

/// XXH3-64 of a relative path: identifies a partition to random choices and folds, so they do
/// not move when other partitions are added or removed.
std::uint64_t path_hash(const std::string& relative_path);

} // namespace sluice::lake
