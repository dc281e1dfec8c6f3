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
};

} // namespace sluice::lake
