// Discovery of a lake's partitions: glob, Hive keys, selection, deterministic order.
#pragma once

#include "sluice/lake/hive.hpp"
#include "sluice/lake/partition_info.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace sluice::lake {

/// Which files of a lake are partitions of a job.
struct LakeQuery {
  std::filesystem::path root;
  std::string glob = "**/*.h5";
  KeySelection selection;
};

/// Lists the partitions of the lake in relative-path order, without opening them.
/// Throws DataError if the root is missing or not a directory, or if nothing matches.
std::vector<PartitionInfo> discover_partitions(const LakeQuery& query);

} // namespace sluice::lake
