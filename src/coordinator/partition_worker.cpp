// The per-partition hot loop: read a block of every column, accumulate, repeat.
#include "partition_worker.hpp"

#include "sluice/lake/partition_reader.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>

namespace sluice::coordinator {

std::string checksum_hex(std::uint64_t checksum) { return fmt::format("{:016x}", checksum); }

nlohmann::json to_json(const PartitionOutcome& o) {
  return {{"index", o.index},
          {"rows", o.rows},
          {"checksum", checksum_hex(o.checksum)},
          {"nonfinite_values", o.nonfinite.num_values},
          {"nonfinite_rows", o.nonfinite.num_rows},
          {"nonfinite_first_row", o.nonfinite.first_row},
          {"nonfinite_first_column", o.nonfinite.first_column},
          {"seconds", o.seconds},
          {"bytes", o.bytes},
          {"rank", o.rank},
          {"skipped_reason", o.skipped_reason}};
}

PartitionOutcome outcome_from_json(const nlohmann::json& j) {
  PartitionOutcome o;
  o.index = j.at("index").get<std::size_t>();
  o.rows = j.at("rows").get<std::int64_t>();
  o.checksum = std::stoull(j.at("checksum").get<std::string>(), nullptr, 16);
  o.nonfinite.num_values = j.at("nonfinite_values").get<std::int64_t>();
  o.nonfinite.num_rows = j.at("nonfinite_rows").get<std::int64_t>();
  o.nonfinite.first_row = j.at("nonfinite_first_row").get<std::int64_t>();
  o.nonfinite.first_column = j.at("nonfinite_first_column").get<Eigen::Index>();
  o.seconds = j.at("seconds").get<double>();
  o.bytes = j.at("bytes").get<std::int64_t>();
  o.rank = j.at("rank").get<int>();
  o.skipped_reason = j.at("skipped_reason").get<std::string>();
  return o;
}

PartitionOutcome process_partition(const lake::PartitionInfo& partition, std::size_t index,
                                   const job::JobSpec& job,
                                   const model::AccumulatorOptions& options,
                                   std::vector<double>& buffer) {
  const double start = MPI_Wtime();
  std::vector<std::string> columns = job.columns();
  lake::PartitionReader reader(partition.path, job.lake.group, columns);
  const auto k = static_cast<std::int64_t>(columns.size());
  const std::int64_t block_rows = std::min(job.lake.block_rows, std::max<std::int64_t>(reader.num_rows(), 1));
  buffer.resize(static_cast<std::size_t>(block_rows * k));
  model::BlockAccumulator accumulator(k, options);
  for (std::int64_t row = 0; row < reader.num_rows(); row += block_rows) {
    const std::int64_t count = std::min(block_rows, reader.num_rows() - row);
    reader.read_block(row, count, buffer.data(), block_rows);
    accumulator.add_block(buffer.data(), block_rows, count);
  }
  PartitionOutcome outcome;
  outcome.index = index;
  outcome.rows = reader.num_rows();
  outcome.checksum = reader.checksum();
  outcome.nonfinite = accumulator.nonfinite();
  outcome.bytes = reader.bytes_read();
  outcome.stats = accumulator.stats();
  outcome.seconds = MPI_Wtime() - start;
  return outcome;
}

} // namespace sluice::coordinator
