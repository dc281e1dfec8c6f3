// The per-partition hot loop: read a block of every column (or take it from the cache), accumulate.
#include "partition_worker.hpp"

#include "transform/profile_accumulator.hpp"

#include "sluice/error.hpp"
#include "sluice/lake/partition_reader.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <type_traits>

namespace sluice::coordinator {

std::string checksum_hex(std::uint64_t checksum) { return fmt::format("{:016x}", checksum); }

nlohmann::json to_json(const PartitionOutcome& o) {
  nlohmann::json checksums = nlohmann::json::array();
  for (std::uint64_t checksum : o.checksums) checksums.push_back(checksum_hex(checksum));
  return {{"index", o.index},
          {"rows", o.rows},
          {"checksums", checksums},
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
  for (const nlohmann::json& checksum : j.at("checksums")) {
    o.checksums.push_back(std::stoull(checksum.get<std::string>(), nullptr, 16));
  }
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

template <typename T>
void put(std::string& out, T value) {
  static_assert(std::is_trivially_copyable_v<T>);
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

// Reads fields off a record buffer, bounds-checked.
class RecordReader {
public:
  explicit RecordReader(std::string_view bytes) : bytes_(bytes) {}
  bool is_done() const noexcept { return at_ == bytes_.size(); }
  template <typename T>
  T get() {
    T value;
    need(sizeof value);
    std::memcpy(&value, bytes_.data() + at_, sizeof value);
    at_ += sizeof value;
    return value;
  }
  std::string text(std::uint64_t length) {
    need(length);
    std::string value(bytes_.substr(at_, length));
    at_ += length;
    return value;
  }

private:
  void need(std::uint64_t length) const {
    if (length > bytes_.size() - at_) {
      throw Error(fmt::format("a partition record is truncated: {} bytes needed at byte {} of {}",
                              length, at_, bytes_.size()));
    }
  }
  std::string_view bytes_;
  std::size_t at_ = 0;
};

} // namespace

void append_record(std::string& out, const PartitionOutcome& o) {
  put<std::uint64_t>(out, o.index);
  put<std::int64_t>(out, o.rows);
  put<std::int64_t>(out, o.nonfinite.num_values);
  put<std::int64_t>(out, o.nonfinite.num_rows);
  put<std::int64_t>(out, o.nonfinite.first_row);
  put<std::int64_t>(out, o.nonfinite.first_column);
  put<double>(out, o.seconds);
  put<std::int64_t>(out, o.bytes);
  put<std::int32_t>(out, o.rank);
  put<std::uint8_t>(out, o.is_cached ? 1 : 0);
  put<std::uint64_t>(out, o.checksums.size());
  for (std::uint64_t checksum : o.checksums) put(out, checksum);
  put<std::uint64_t>(out, o.skipped_reason.size());
  out += o.skipped_reason;
}

std::vector<PartitionOutcome> read_records(std::string_view records) {
  RecordReader reader(records);
  std::vector<PartitionOutcome> outcomes;
  while (!reader.is_done()) {
    PartitionOutcome& o = outcomes.emplace_back();
    o.index = reader.get<std::uint64_t>();
    o.rows = reader.get<std::int64_t>();
    o.nonfinite.num_values = reader.get<std::int64_t>();
    o.nonfinite.num_rows = reader.get<std::int64_t>();
    o.nonfinite.first_row = reader.get<std::int64_t>();
    o.nonfinite.first_column = reader.get<std::int64_t>();
    o.seconds = reader.get<double>();
    o.bytes = reader.get<std::int64_t>();
    o.rank = reader.get<std::int32_t>();
    o.is_cached = reader.get<std::uint8_t>() != 0;
    const auto num_checksums = reader.get<std::uint64_t>();
    if (num_checksums > records.size() / sizeof(std::uint64_t)) {
      throw Error(fmt::format("a partition record claims {} checksums", num_checksums));
    }
    for (std::uint64_t k = 0; k < num_checksums; ++k) o.checksums.push_back(reader.get<std::uint64_t>());
    o.skipped_reason = reader.text(reader.get<std::uint64_t>());
  }
  return outcomes;
}

namespace {

// The trainer's accumulator, with every block's raw values also going into the partition's
// profile (before the trainer sees them; one thread, in row order).
class ProfilingAccumulator final : public model::PartialAccumulator {
public:
  ProfilingAccumulator(std::unique_ptr<model::PartialAccumulator> inner, std::int64_t num_columns,
                       std::uint64_t path_hash, std::int64_t first_row)
      : inner_(std::move(inner)), profile_(num_columns, path_hash, first_row) {}
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

// Rows [begin, end) of a segment, block by block. `cache` (when given) holds the unit's rows from
// `unit_first` on; blocks_done counts the unit's blocks, for the stop check between blocks.
struct SegmentRows {
  std::int64_t begin = 0, end = 0, unit_first = 0;
};

bool is_stop_asked(const PartitionTask& task, std::int64_t blocks_done) {
  return blocks_done > 0 && task.should_stop && task.should_stop(blocks_done);
}

// One thread: read a block (into the cache, or the reused buffer), accumulate it, repeat.
void read_and_accumulate(lake::PartitionReader& reader, model::PartialAccumulator& accumulator,
                         std::int64_t block_rows, std::vector<double>& buffer,
                         CachedColumns* cache, std::int64_t cache_rows, const PartitionTask& task,
                         const SegmentRows& rows, std::int64_t& blocks_done) {
  for (std::int64_t row = rows.begin; row < rows.end; row += block_rows) {
    if (is_stop_asked(task, blocks_done)) throw PartitionInterrupted{};
    const std::int64_t count = std::min(block_rows, rows.end - row);
    double* block = cache != nullptr ? cache->values.data() + (row - rows.unit_first) : buffer.data();
    const std::int64_t ld = cache != nullptr ? cache_rows : block_rows;
    reader.read_block(row, count, block, ld);
    accumulator.add_block(block, ld, count, 1);
    ++blocks_done;
  }
}

// Several threads: while the team computes the tiles of one block, one task reads the next block
// (into the other half of the buffer, or its place in the cache; HDF5 is called by one thread at
// a time, in row order). A thread that is done reading joins the tiles, so reading costs wall
// time only when it is the longer part.
void read_and_accumulate_overlapped(lake::PartitionReader& reader,
                                    model::PartialAccumulator& accumulator,
                                    std::int64_t block_rows, std::vector<double>& buffer,
                                    CachedColumns* cache, std::int64_t cache_rows, int num_threads,
                                    const PartitionTask& task, const SegmentRows& rows,
                                    std::int64_t& blocks_done) {
  const std::int64_t ld = cache != nullptr ? cache_rows : block_rows;
  const auto block_at = [&](std::int64_t row) {
    if (cache != nullptr) return cache->values.data() + (row - rows.unit_first);
    return buffer.data() + (((row - rows.begin) / block_rows) % 2 == 0 ? 0 : buffer.size() / 2);
  };
  if (rows.end <= rows.begin) return;
  std::exception_ptr read_error;
  bool is_interrupted = false; // an exception may not leave the parallel region: thrown after it
  // The master thread (the one that talks MPI) drives the blocks, so the stop check between
  // blocks can also send the rank's heartbeat; the team computes the tiles.
#pragma omp parallel num_threads(num_threads)
#pragma omp master
  {
    reader.read_block(rows.begin, std::min(block_rows, rows.end - rows.begin), block_at(rows.begin), ld);
    for (std::int64_t row = rows.begin; row < rows.end && !read_error; row += block_rows) {
      if (is_stop_asked(task, blocks_done)) {
        is_interrupted = true;
        break;
      }
      const std::int64_t count = std::min(block_rows, rows.end - row);
      const std::int64_t next_row = row + block_rows;
      if (next_row < rows.end) {
        double* next = block_at(next_row);
        const std::int64_t next_count = std::min(block_rows, rows.end - next_row);
#pragma omp task shared(reader, read_error) firstprivate(next, next_row, next_count)
        try {
          reader.read_block(next_row, next_count, next, ld);
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
      ++blocks_done;
    }
  } // the region's end waits for a read of the next block still in flight
  if (read_error) std::rethrow_exception(read_error);
  if (is_interrupted) throw PartitionInterrupted{};
}

// A pass over columns already in memory: the same block grid as reading, so the same bits.
void accumulate_cached(const CachedColumns& cache, model::PartialAccumulator& accumulator,
                       std::int64_t block_rows, int num_threads, const PartitionTask& task,
                       const SegmentRows& rows, std::int64_t& blocks_done) {
  for (std::int64_t row = rows.begin; row < rows.end; row += block_rows) {
    if (is_stop_asked(task, blocks_done)) throw PartitionInterrupted{};
    const std::int64_t count = std::min(block_rows, rows.end - row);
    accumulator.add_block(cache.values.data() + (row - rows.unit_first), cache.rows, count,
                          num_threads);
    ++blocks_done;
  }
}

void add_nonfinite(model::NonFiniteReport& into, const model::NonFiniteReport& segment) {
  if (into.num_values == 0 && segment.num_values > 0) {
    into.first_row = segment.first_row;
    into.first_column = segment.first_column;
  }
  into.num_values += segment.num_values;
  into.num_rows += segment.num_rows;
}

// The segments of the split grid covering [first, end): one (empty) segment for no rows.
std::vector<SegmentRows> segments_of(std::int64_t first, std::int64_t end, std::int64_t split_rows) {
  std::vector<SegmentRows> segments;
  for (std::int64_t begin = first; begin < end || segments.empty(); begin += split_rows) {
    segments.push_back({begin, std::min(end, begin + split_rows), first});
  }
  return segments;
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
  const std::int64_t num_columns = static_cast<std::int64_t>(task.trainer->columns().size());
  // Each segment of the split grid has its own accumulator (and profile) and partial.
  std::unique_ptr<model::PartialAccumulator> accumulator;
  ProfilingAccumulator* profiling = nullptr;
  const auto begin_segment = [&](const SegmentRows& rows) {
    model::AccumulatorOptions segment_options = options;
    segment_options.first_row = rows.begin;
    accumulator = task.trainer->make_accumulator({.index = task.partition_index,
                                                  .path_hash = partition.path_hash,
                                                  .hive_keys = &partition.keys,
                                                  .path = path},
                                                 segment_options);
    profiling = nullptr;
    if (task.is_profiled) {
      auto wrapped = std::make_unique<ProfilingAccumulator>(
          std::move(accumulator), num_columns, partition.path_hash, rows.begin);
      profiling = wrapped.get();
      accumulator = std::move(wrapped);
    }
  };
  const auto end_segment = [&](std::uint64_t checksum) {
    add_nonfinite(outcome.nonfinite, accumulator->nonfinite());
    try {
      outcome.partials.push_back(accumulator->finish());
      if (profiling != nullptr) outcome.profiles.push_back(profiling->profile());
    } catch (const Error& error) {
      throw DataError(fmt::format("{}: {}", path, error.what()));
    }
    for (double value : outcome.partials.back()) {
      if (!std::isfinite(value)) {
        throw DataError(fmt::format(
            "{}: the partition's {} statistics are not finite: a value in the columns is so large "
            "(|x| beyond about 1e150) that its products overflow",
            path, task.trainer->pass_name()));
      }
    }
    outcome.checksums.push_back(checksum);
  };
  const std::int64_t split_rows = task.job->lake.split_rows;
  std::int64_t blocks_done = 0;
  if (cache != nullptr && cache->is_filled()) {
    const std::int64_t block_rows =
        std::min(task.job->lake.block_rows, std::max<std::int64_t>(cache->rows, 1));
    const std::vector<SegmentRows> segments =
        segments_of(task.first_row, task.first_row + cache->rows, split_rows);
    for (std::size_t s = 0; s < segments.size(); ++s) {
      begin_segment(segments[s]);
      accumulate_cached(*cache, *accumulator, block_rows, num_threads, task, segments[s],
                        blocks_done);
      end_segment(cache->checksums.at(s));
    }
    outcome.rows = cache->rows;
    outcome.bytes = 0;
  } else {
    const std::vector<std::string>& columns = task.trainer->columns();
    const std::shared_ptr<lake::PartitionReader> opened =
        task.open_reader != nullptr
            ? task.open_reader
            : std::make_shared<lake::PartitionReader>(
                  partition.path, task.job->lake.group, columns,
                  lake::ReadLimits{.max_column_bytes = task.job->lake.max_column_bytes,
                                   .max_chunk_bytes = task.job->lake.max_chunk_bytes});
    lake::PartitionReader& reader = *opened;
    const std::int64_t end_row = task.end_row < 0 ? reader.num_rows() : task.end_row;
    if (end_row > reader.num_rows()) {
      throw DataError(fmt::format("{}: holds {} rows, fewer than the {} planned when the job "
                                  "started (the file changed while the job ran)",
                                  path, reader.num_rows(), end_row));
    }
    if (task.first_row > 0) reader.start_at(task.first_row);
    const std::int64_t rows = end_row - task.first_row;
    const auto k = static_cast<std::int64_t>(columns.size());
    const std::int64_t block_rows =
        std::min(task.job->lake.block_rows, std::max<std::int64_t>(rows, 1));
    const bool is_overlapped = num_threads > 1 && rows > block_rows;
    if (cache != nullptr &&
        !task.cache->reserve(rows * k * static_cast<std::int64_t>(sizeof(double)))) {
      cache->is_refused = true;
      cache = nullptr;
    }
    if (cache != nullptr) {
      cache->values.resize(static_cast<std::size_t>(rows * k));
    } else {
      // Kept across partitions: a fresh buffer per partition would pay its page faults each time.
      const auto needed = static_cast<std::size_t>(block_rows * k * (is_overlapped ? 2 : 1));
      if (buffer.size() < needed) buffer.resize(needed);
    }
    for (const SegmentRows& segment : segments_of(task.first_row, end_row, split_rows)) {
      begin_segment(segment);
      if (is_overlapped) {
        read_and_accumulate_overlapped(reader, *accumulator, block_rows, buffer, cache, rows,
                                       num_threads, task, segment, blocks_done);
      } else {
        read_and_accumulate(reader, *accumulator, block_rows, buffer, cache, rows, task, segment,
                            blocks_done);
      }
      end_segment(reader.take_segment_checksum());
    }
    outcome.rows = rows;
    outcome.bytes = reader.bytes_read();
    if (cache != nullptr) {
      cache->rows = outcome.rows;
      cache->checksums = outcome.checksums;
    }
  }
  if (cache != nullptr && !cache->is_all_usable && outcome.nonfinite.num_values == 0) {
    cache->is_all_usable = cache->is_filled(); // later passes over the copy skip the check
  }
  outcome.seconds = MPI_Wtime() - start;
  return outcome;
}

} // namespace sluice::coordinator
