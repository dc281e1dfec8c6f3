// process_partition: stream one partition (from the file or the rank's cache) into a pass partial.
#pragma once

#include "partition_cache.hpp"

#include "sluice/job/job_spec.hpp"
#include "sluice/lake/partition_info.hpp"
#include "sluice/lake/partition_reader.hpp"
#include "sluice/model/trainer.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sluice::coordinator {

class PartialCache;

/// What one work unit (a whole partition, or a split of a large one) contributed to a pass. It
/// is accumulated in segments of the split grid (lake.split_rows), each with its own partial:
/// the leaves of the merge tree. Everything but the partials travels to the coordinator as JSON
/// after the first pass; partials travel along the merge tree.
struct PartitionOutcome {
  std::size_t index = 0; ///< the work unit's index in the plan
  std::int64_t rows = 0;
  std::vector<std::uint64_t> checksums; ///< per segment (lake::combine_segment_checksums)
  model::NonFiniteReport nonfinite;
  double seconds = 0.0;
  std::int64_t bytes = 0;
  int rank = 0;
  std::string skipped_reason; ///< non-empty: skipped under on_bad_partition = "skip"
  bool is_cached = false;     ///< the first pass took it from the partial cache (not read)
  std::vector<model::Partial> partials; ///< per segment
  /// First pass: per segment, the training-profile partial (transform/profile_accumulator.hpp).
  std::vector<model::Partial> profiles;
};

nlohmann::json to_json(const PartitionOutcome& outcome);
PartitionOutcome outcome_from_json(const nlohmann::json& json);

/// The same metadata as a compact binary record (little-endian fixed-size fields, then the
/// segment checksums and the skip reason, length-prefixed), appended to `out`: what the ranks
/// send rank 0 after the first pass, one message per rank.
void append_record(std::string& out, const PartitionOutcome& outcome);
/// Every record of a buffer written by append_record; Error on a truncated or malformed one.
std::vector<PartitionOutcome> read_records(std::string_view records);

struct PartitionTask {
  const lake::PartitionInfo* partition = nullptr;
  std::size_t index = 0; ///< the work unit's index
  std::size_t partition_index = 0;
  /// The rows to read: [first_row, end_row) of the partition, on the split grid; end_row -1:
  /// the whole partition.
  std::int64_t first_row = 0;
  std::int64_t end_row = -1;
  const job::JobSpec* job = nullptr;
  const model::Trainer* trainer = nullptr;
  model::AccumulatorOptions accumulator;
  RankCache* cache = nullptr; ///< non-null: keep (or take) the columns in memory between passes
  std::int64_t work = 0;      ///< the partition's weight in the progress
  /// Asked before every block after the first (with the number of blocks done): true abandons
  /// the partition with PartitionInterrupted, so a stop request is honoured within a block.
  std::function<bool(std::int64_t)> should_stop;
  bool may_skip = true; ///< the bad-partition policy may skip it (first pass only)
  /// Non-null (first pass only): a finished partition's outcome is stored there at once, so a
  /// job killed later resumes without reading it again.
  const PartialCache* partial_cache = nullptr;
  /// First pass: also gather the profile of the columns read (PartitionOutcome::profile).
  bool is_profiled = false;
  /// The partition's file, already open and not yet read from (kept from counting its rows):
  /// read through this handle rather than opened again.
  std::shared_ptr<lake::PartitionReader> open_reader;
};

/// A partition abandoned part-way because a stop was requested: it has no outcome and is read
/// again by the next run.
struct PartitionInterrupted {};

/// Reads the partition block by block (`buffer` is reused across calls) into the trainer's
/// accumulator for the current pass. Throws PartitionInterrupted when task.should_stop says so. Throws Error naming the partition on bad input, including a
/// partial that is not finite (a value so large that the sums overflow).
PartitionOutcome process_partition(const PartitionTask& task, std::vector<double>& buffer);

std::string checksum_hex(std::uint64_t checksum);

} // namespace sluice::coordinator
