// scan_partition: a partition read from end to end the way a run's first pass reads it, kept nowhere.
#pragma once

#include "sluice/lake/read_limits.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sluice::lake {

/// Opens the partition through the guard, checks its schema for `columns` and reads every block
/// of `block_rows` rows in order, then its content checksum: every call into libhdf5 a run makes
/// for this partition, and nothing kept. Empty `columns`: only lists the table's group (what
/// column_names does). Throws DataError naming the file, as PartitionReader does.
void scan_partition(const std::filesystem::path& path, const std::string& group,
                    const std::vector<std::string>& columns, const ReadLimits& limits,
                    std::int64_t block_rows);

} // namespace sluice::lake
