// stream_partition: one partition's raw columns, block by block, through a fitted pipeline — the
// shared path of `sluice transform` and `sluice predict`.
#pragma once

#include "sluice/hdf5/file.hpp"
#include "sluice/lake/partition_info.hpp"
#include "sluice/lake/read_limits.hpp"
#include "sluice/transform/pipeline_runner.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace sluice::coordinator {

struct StreamResult {
  std::int64_t rows_in = 0;
  std::int64_t rows_out = 0;
  std::uint64_t source_checksum = 0; ///< of the raw columns read
  /// PipelineRunner::kept_counts(): rows in, after the split, after each row-dropping step.
  std::vector<std::int64_t> kept_counts;
};

/// Reads `partition` (columns in `group`) block by block, applies the whole pipeline to every row
/// (no split) and hands each block's result to `sink`. A raw input named `unread` (a label that
/// scoring does not need) is not read: it is NaN.
StreamResult stream_partition(const lake::PartitionInfo& partition, const std::string& group,
                              const transform::Pipeline& pipeline, std::int64_t block_rows,
                              const std::string& unread,
                              const std::function<void(const transform::PipelineRunner&)>& sink,
                              const lake::ReadLimits& limits = {});

/// Creates target's HDF5 file under a temporary name beside it, lets `fill` write it, then makes
/// it durable and renames it into place: a reader never sees it half-written. On failure the
/// temporary is removed and the error goes on.
void write_file_durably(const std::filesystem::path& target, const std::function<void(hdf5::File&)>& fill);

} // namespace sluice::coordinator
