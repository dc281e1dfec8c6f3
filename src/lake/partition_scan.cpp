// A whole partition through the reader, block by block, with nothing kept.
#include "sluice/lake/partition_scan.hpp"

#include "sluice/lake/partition_reader.hpp"

#include <algorithm>

namespace sluice::lake {

void scan_partition(const std::filesystem::path& path, const std::string& group,
                    const std::vector<std::string>& columns, const ReadLimits& limits,
                    std::int64_t block_rows) {
  if (columns.empty()) {
    (void)column_names(path, group, limits);
    return;
  }
  PartitionReader reader(path, group, columns, limits);
  const std::int64_t rows = std::clamp<std::int64_t>(reader.num_rows(), 1, block_rows);
  std::vector<double> block(static_cast<std::size_t>(rows) * columns.size());
  for (std::int64_t row = 0; row < reader.num_rows(); row += rows) {
    reader.read_block(row, std::min(rows, reader.num_rows() - row), block.data(), rows);
  }
  (void)reader.checksum();
}

} // namespace sluice::lake
