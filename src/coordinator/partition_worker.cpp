// The per-partition hot loop: read a block of every column, accumulate, repeat.
#include "partition_worker.hpp"

#include "sluice/lake/partition_reader.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <exception>

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

namespace {

// One thread: read a block, accumulate it, repeat.
void read_and_accumulate(lake::PartitionReader& reader, model::BlockAccumulator& accumulator,
                         std::int64_t block_rows, std::vector<double>& buffer) {
  for (std::int64_t row = 0; row < reader.num_rows(); row += block_rows) {
    const std::int64_t count = std::min(block_rows, reader.num_rows() - row);
    reader.read_block(row, count, buffer.data(), block_rows);
    accumulator.add_block(buffer.data(), block_rows, count);
  }
}

// Several threads: while the team computes the tiles of one block, one task reads the next block
// into the other half of the buffer (HDF5 is called by one thread at a time, in row order). A
// thread that is done reading joins the tiles, so reading costs wall time only when it is the
// longer part.
void read_and_accumulate_overlapped(lake::PartitionReader& reader,
                                    model::BlockAccumulator& accumulator, std::int64_t block_rows,
                                    std::vector<double>& buffer, int num_threads) {
  double* current = buffer.data();
  double* next = buffer.data() + buffer.size() / 2;
  std::exception_ptr read_error;
  const std::int64_t num_rows = reader.num_rows();
#pragma omp parallel num_threads(num_threads)
#pragma omp single
  {
    reader.read_block(0, std::min(block_rows, num_rows), current, block_rows);
    for (std::int64_t row = 0; row < num_rows && !read_error; row += block_rows) {
      const std::int64_t count = std::min(block_rows, num_rows - row);
      const std::int64_t next_row = row + block_rows;
      if (next_row < num_rows) {
#pragma omp task shared(reader, read_error) firstprivate(next, next_row)
        try {
          reader.read_block(next_row, std::min(block_rows, num_rows - next_row), next, block_rows);
        } catch (...) {
          read_error = std::current_exception();
        }
      }
      const std::int64_t num_tiles = accumulator.begin_block(count);
#pragma omp taskloop grainsize(1) shared(accumulator) firstprivate(current, count)
      for (std::int64_t t = 0; t < num_tiles; ++t) {
        accumulator.compute_tile(t, current, block_rows, count);
      }
#pragma omp taskwait
      accumulator.end_block(count);
      std::swap(current, next);
    }
  }
  if (read_error) std::rethrow_exception(read_error);
}

} // namespace

PartitionOutcome process_partition(const lake::PartitionInfo& partition, std::size_t index,
                                   const job::JobSpec& job,
                                   const model::AccumulatorOptions& options,
                                   std::vector<double>& buffer) {
  const double start = MPI_Wtime();
  std::vector<std::string> columns = job.columns();
  lake::PartitionReader reader(partition.path, job.lake.group, columns);
  const auto k = static_cast<std::int64_t>(columns.size());
  const std::int64_t block_rows =
      std::min(job.lake.block_rows, std::max<std::int64_t>(reader.num_rows(), 1));
  const bool is_overlapped = options.num_threads > 1 && reader.num_rows() > block_rows;
  // Kept across partitions: a fresh buffer per partition would pay its page faults every time.
  const auto needed = static_cast<std::size_t>(block_rows * k * (is_overlapped ? 2 : 1));
  if (buffer.size() < needed) buffer.resize(needed);
  model::BlockAccumulator accumulator(k, options);
  if (is_overlapped) {
    read_and_accumulate_overlapped(reader, accumulator, block_rows, buffer, options.num_threads);
  } else {
    read_and_accumulate(reader, accumulator, block_rows, buffer);
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
