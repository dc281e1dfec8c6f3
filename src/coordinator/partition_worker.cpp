// The per-partition hot loop: read a block of every column (or take it from the cache), accumulate.
#include "partition_worker.hpp"

#include "transform/profile_accumulator.hpp"

#include "sluice/error.hpp"
#include "sluice/lake/partition_reader.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
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
          {"skipped_reason", o.skipped_reason},
          {"cached", o.is_cached}};
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
  o.is_cached = j.at("cached").get<bool>();
  return o;
}

namespace {

// The trainer's accumulator, with every block's raw values also going into the partition's
// profile (before the trainer sees them; one thread, in row order).
class ProfilingAccumulator final : public model::PartialAccumulator {
public:
  ProfilingAccumulator(std::unique_ptr<model::PartialAccumulator> inner, std::int64_t num_columns,
                       std::uint64_t path_hash)
      : inner_(std::move(inner)), profile_(num_columns, path_hash) {}
  std::int64_t begin_block(std::int64_t rows) override { return inner_->begin_block(rows); }
  std::int64_t prepare_block(const double* data, std::int64_t ld, std::int64_t rows) override {
    profile_.add_block(data, ld, rows);
    return inner_->prepare_block(data, ld, rows);
  }
  void compute_tile(std::int64_t tile, const double* data, std::int64_t ld, std::int64_t rows) override {
    inner_->compute_tile(tile, data, ld, rows);
  }
  void end_block(std::int64_t rows) override { inner_->end_block(rows); }
  model::Partial finish() override { return inner_->finish(); }
  model::NonFiniteReport nonfinite() const override { return inner_->nonfinite(); }
  model::Partial profile() const { return profile_.finish(); }

private:
  std::unique_ptr<model::PartialAccumulator> inner_;
  transform::ProfileAccumulator profile_;
};

// One thread: read a block (into the cache, or the reused buffer), accumulate it, repeat.
void read_and_accumulate(lake::PartitionReader& reader, model::PartialAccumulator& accumulator,
                         std::int64_t block_rows, std::vector<double>& buffer,
                         CachedColumns* cache, const PartitionTask& task) {
  for (std::int64_t row = 0; row < reader.num_rows(); row += block_rows) {
    if (row > 0 && task.should_stop && task.should_stop(row / block_rows)) throw PartitionInterrupted{};
    const std::int64_t count = std::min(block_rows, reader.num_rows() - row);
    double* block = cache != nullptr ? cache->values.data() + row : buffer.data();
    const std::int64_t ld = cache != nullptr ? reader.num_rows() : block_rows;
    reader.read_block(row, count, block, ld);
    accumulator.add_block(block, ld, count, 1);
  }
}

// Several threads: while the team computes the tiles of one block, one task reads the next block
// (into the other half of the buffer, or its place in the cache; HDF5 is called by one thread at
// a time, in row order). A thread that is done reading joins the tiles, so reading costs wall
// time only when it is the longer part.
void read_and_accumulate_overlapped(lake::PartitionReader& reader,
                                    model::PartialAccumulator& accumulator,
                                    std::int64_t block_rows, std::vector<double>& buffer,
                                    CachedColumns* cache, int num_threads,
                                    const PartitionTask& task) {
  const std::int64_t num_rows = reader.num_rows();
  const std::int64_t ld = cache != nullptr ? num_rows : block_rows;
  const auto block_at = [&](std::int64_t row) {
    if (cache != nullptr) return cache->values.data() + row;
    return buffer.data() + ((row / block_rows) % 2 == 0 ? 0 : buffer.size() / 2);
  };
  std::exception_ptr read_error;
  bool is_interrupted = false; // an exception may not leave the parallel region: thrown after it
  // The master thread (the one that talks MPI) drives the blocks, so the stop check between
  // blocks can also send the rank's heartbeat; the team computes the tiles.
#pragma omp parallel num_threads(num_threads)
#pragma omp master
  {
    reader.read_block(0, std::min(block_rows, num_rows), block_at(0), ld);
    for (std::int64_t row = 0; row < num_rows && !read_error; row += block_rows) {
      if (row > 0 && task.should_stop && task.should_stop(row / block_rows)) {
        is_interrupted = true;
        break;
      }
      const std::int64_t count = std::min(block_rows, num_rows - row);
      const std::int64_t next_row = row + block_rows;
      if (next_row < num_rows) {
        double* next = block_at(next_row);
#pragma omp task shared(reader, read_error) firstprivate(next, next_row)
        try {
          reader.read_block(next_row, std::min(block_rows, num_rows - next_row), next, ld);
        } catch (...) {
          read_error = std::current_exception();
        }
      }
      const double* current = block_at(row);
      const std::int64_t num_tiles = accumulator.prepare_block(current, ld, count);
#pragma omp taskloop grainsize(1) shared(accumulator) firstprivate(current, count)
      for (std::int64_t t = 0; t < num_tiles; ++t) {
        accumulator.compute_tile(t, current, ld, count);
      }
#pragma omp taskwait
      accumulator.end_block(count);
    }
  } // the region's end waits for a read of the next block still in flight
  if (read_error) std::rethrow_exception(read_error);
  if (is_interrupted) throw PartitionInterrupted{};
}

// A pass over columns already in memory: the same block grid as reading, so the same bits.
void accumulate_cached(const CachedColumns& cache, model::PartialAccumulator& accumulator,
                       std::int64_t block_rows, int num_threads, const PartitionTask& task) {
  for (std::int64_t row = 0; row < cache.rows; row += block_rows) {
    if (row > 0 && task.should_stop && task.should_stop(row / block_rows)) throw PartitionInterrupted{};
    const std::int64_t count = std::min(block_rows, cache.rows - row);
    accumulator.add_block(cache.values.data() + row, cache.rows, count, num_threads);
  }
}

} // namespace

PartitionOutcome process_partition(const PartitionTask& task, std::vector<double>& buffer) {
  const double start = MPI_Wtime();
  const lake::PartitionInfo& partition = *task.partition;
  const int num_threads = task.accumulator.num_threads;
  PartitionOutcome outcome;
  outcome.index = task.index;
  CachedColumns* cache = task.cache != nullptr ? &task.cache->columns.at(task.index) : nullptr;
  if (cache != nullptr && cache->is_refused) cache = nullptr;
  model::AccumulatorOptions options = task.accumulator;
  options.is_known_usable = cache != nullptr && cache->is_filled() && cache->is_all_usable;
  const std::string path = partition.path.string();
  std::unique_ptr<model::PartialAccumulator> accumulator =
      task.trainer->make_accumulator({.index = task.index,
                                      .path_hash = partition.path_hash,
                                      .hive_keys = &partition.keys,
                                      .path = path},
                                     options);
  ProfilingAccumulator* profiling = nullptr;
  if (task.is_profiled) {
    auto wrapped = std::make_unique<ProfilingAccumulator>(
        std::move(accumulator), static_cast<std::int64_t>(task.trainer->columns().size()),
        partition.path_hash);
    profiling = wrapped.get();
    accumulator = std::move(wrapped);
  }
  if (cache != nullptr && cache->is_filled()) {
    const std::int64_t block_rows =
        std::min(task.job->lake.block_rows, std::max<std::int64_t>(cache->rows, 1));
    accumulate_cached(*cache, *accumulator, block_rows, num_threads, task);
    outcome.rows = cache->rows;
    outcome.checksum = cache->checksum;
    outcome.bytes = 0;
  } else {
    const std::vector<std::string>& columns = task.trainer->columns();
    lake::PartitionReader reader(partition.path, task.job->lake.group, columns,
                                 {.max_column_bytes = task.job->lake.max_column_bytes,
                                  .max_chunk_bytes = task.job->lake.max_chunk_bytes});
    const auto k = static_cast<std::int64_t>(columns.size());
    const std::int64_t block_rows =
        std::min(task.job->lake.block_rows, std::max<std::int64_t>(reader.num_rows(), 1));
    const bool is_overlapped = num_threads > 1 && reader.num_rows() > block_rows;
    if (cache != nullptr &&
        !task.cache->reserve(reader.num_rows() * k * static_cast<std::int64_t>(sizeof(double)))) {
      cache->is_refused = true;
      cache = nullptr;
    }
    if (cache != nullptr) {
      cache->values.resize(static_cast<std::size_t>(reader.num_rows() * k));
    } else {
      // Kept across partitions: a fresh buffer per partition would pay its page faults each time.
      const auto needed = static_cast<std::size_t>(block_rows * k * (is_overlapped ? 2 : 1));
      if (buffer.size() < needed) buffer.resize(needed);
    }
    if (is_overlapped) {
      read_and_accumulate_overlapped(reader, *accumulator, block_rows, buffer, cache, num_threads,
                                     task);
    } else {
      read_and_accumulate(reader, *accumulator, block_rows, buffer, cache, task);
    }
    outcome.rows = reader.num_rows();
    outcome.checksum = reader.checksum();
    outcome.bytes = reader.bytes_read();
    if (cache != nullptr) {
      cache->rows = outcome.rows;
      cache->checksum = outcome.checksum;
    }
  }
  outcome.nonfinite = accumulator->nonfinite();
  if (cache != nullptr && !cache->is_all_usable && outcome.nonfinite.num_values == 0) {
    cache->is_all_usable = cache->is_filled(); // later passes over the copy skip the check
  }
  try {
    outcome.partial = accumulator->finish();
    if (profiling != nullptr) outcome.profile = profiling->profile();
  } catch (const Error& error) {
    throw DataError(fmt::format("{}: {}", partition.path.string(), error.what()));
  }
  for (double value : outcome.partial) {
    if (!std::isfinite(value)) {
      throw DataError(fmt::format(
          "{}: the partition's {} statistics are not finite: a value in the columns is so large "
          "(|x| beyond about 1e150) that its products overflow",
          partition.path.string(), task.trainer->pass_name()));
    }
  }
  outcome.seconds = MPI_Wtime() - start;
  return outcome;
}

} // namespace sluice::coordinator
