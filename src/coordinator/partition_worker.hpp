// process_partition: stream one partition through the reader into its sufficient statistics.
#pragma once

#include "sluice/job/job_spec.hpp"
#include "sluice/lake/partition_info.hpp"
#include "sluice/model/block_accumulator.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::coordinator {

/// What one partition contributed. Everything but stats travels to the coordinator as JSON;
/// stats travel as doubles, in partition order.
struct PartitionOutcome {
  std::size_t index = 0;
  std::int64_t rows = 0;
  std::uint64_t checksum = 0;
  model::NonFiniteReport nonfinite;
  double seconds = 0.0;
  std::int64_t bytes = 0;
  int rank = 0;
  std::string skipped_reason; ///< non-empty: skipped under on_bad_partition = "skip"
  model::SufficientStats stats;
};

nlohmann::json to_json(const PartitionOutcome& outcome);
PartitionOutcome outcome_from_json(const nlohmann::json& json);

/// Reads the partition block by block (buffer is reused across calls) and accumulates its
/// statistics. Throws DataError naming the partition on bad input.
PartitionOutcome process_partition(const lake::PartitionInfo& partition, std::size_t index,
                                   const job::JobSpec& job,
                                   const model::AccumulatorOptions& options,
                                   std::vector<double>& buffer);

std::string checksum_hex(std::uint64_t checksum);

} // namespace sluice::coordinator
