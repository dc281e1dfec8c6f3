// Streaming a partition through the pipeline with memory bounded by block_rows.
#include "pipeline_stream.hpp"

#include "sluice/lake/partition_reader.hpp"
#include "sluice/snapshot/atomic_file.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <vector>

namespace sluice::coordinator {

StreamResult stream_partition(const lake::PartitionInfo& partition, const std::string& group,
                              const transform::Pipeline& pipeline, std::int64_t block_rows,
                              const std::string& unread,
                              const std::function<void(const transform::PipelineRunner&)>& sink,
                              const lake::ReadLimits& limits) {
  const std::vector<std::string> inputs = pipeline.raw_inputs();
  std::vector<std::string> read;
  for (const std::string& name : inputs) {
    if (name != unread) read.push_back(name);
  }
  lake::PartitionReader reader(partition.path, group, read, limits);
  const std::int64_t rows = std::min(block_rows, std::max<std::int64_t>(reader.num_rows(), 1));
  const auto num_inputs = static_cast<std::int64_t>(inputs.size());
  std::vector<double> block(static_cast<std::size_t>(rows * num_inputs));
  std::vector<double> read_block(static_cast<std::size_t>(rows * static_cast<std::int64_t>(read.size())));
  transform::PipelineRunner runner(pipeline, transform::fully_fitted, transform::RowSet::all);
  StreamResult result;
  for (std::int64_t row = 0; row < reader.num_rows(); row += rows) {
    const std::int64_t count = std::min(rows, reader.num_rows() - row);
    const bool is_all_read = read.size() == inputs.size();
    reader.read_block(row, count, is_all_read ? block.data() : read_block.data(), rows);
    if (!is_all_read) {
      std::size_t from = 0;
      for (std::size_t c = 0; c < inputs.size(); ++c) {
        double* column = block.data() + static_cast<std::int64_t>(c) * rows;
        if (inputs[c] == unread) {
          std::fill(column, column + count, std::numeric_limits<double>::quiet_NaN());
        } else {
          const double* source = read_block.data() + static_cast<std::int64_t>(from++) * rows;
          std::copy(source, source + count, column);
        }
      }
    }
    transform::BlockSource source{&partition.keys, partition.path_hash, row, partition.path.string()};
    result.rows_out += runner.apply(block.data(), rows, count, source);
    sink(runner);
  }
  result.rows_in = reader.num_rows();
  result.source_checksum = reader.checksum();
  result.kept_counts = runner.kept_counts();
  return result;
}

void write_file_durably(const std::filesystem::path& target, const std::function<void(hdf5::File&)>& fill) {
  std::filesystem::create_directories(target.parent_path());
  std::filesystem::path temporary = target;
  temporary += fmt::format(".tmp-{}", ::getpid());
  try {
    hdf5::File file = hdf5::File::create(temporary);
    fill(file);
    file.close();
    snapshot::fsync_path(temporary);
    snapshot::rename_durably(temporary, target);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
}

} // namespace sluice::coordinator
