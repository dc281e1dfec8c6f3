// libFuzzer harness: arbitrary bytes as a partition file, through the guarded open, schema
// validation and bounded block reads that `sluice run` performs on every partition.
#include "sluice/error.hpp"
#include "sluice/lake/partition_reader.hpp"

#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

// Small caps keep one input to milliseconds and bound what a hostile chunk may inflate to
// (about 1032 x max_chunk_bytes = 4 MiB), so that run_fuzz.py can treat any allocation above
// 16 MiB on the data path as the guard failing to hold its bounds.
constexpr sluice::lake::ReadLimits fuzz_limits{.max_column_bytes = std::int64_t{1} << 20,
                                               .max_chunk_bytes = std::int64_t{4} << 10};
constexpr std::int64_t block_rows = 1000;
constexpr std::size_t max_columns = 8;

// HDF5 opens files by name, so each input is written to this process's own file (libFuzzer's
// -jobs/-fork workers are separate processes and get separate names).
const std::filesystem::path& input_path() {
  static const std::filesystem::path path = [] {
    std::filesystem::path p = std::filesystem::temp_directory_path() /
                              ("sluice-fuzz-partition-" + std::to_string(::getpid()) + ".h5");
    std::atexit([] { std::filesystem::remove(input_path()); });
    return p;
  }();
  return path;
}

void write_input(const std::uint8_t* data, std::size_t size) {
  std::ofstream out(input_path(), std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) std::abort(); // the harness itself failed: not a finding about the input
}

// `sluice run` with a pipeline lists the table's columns from the first partition before the
// reader opens it (coordinator/lake_plan.cpp, through the same guard). The list doubles as the
// job's columns here, so one harness covers partitions of every schema; unreadable metadata
// leaves the corpus schema.
std::vector<std::string> listed_columns(const std::filesystem::path& path) {
  std::vector<std::string> columns;
  try {
    columns = sluice::lake::column_names(path, "/", fuzz_limits);
  } catch (const sluice::Error&) {
  }
  if (columns.empty()) columns = {"x1", "x2", "x3", "y"};
  if (columns.size() > max_columns) columns.resize(max_columns);
  return columns;
}

// What process_partition does with a partition, minus the model: open (guard and schema
// checks), read every block in order, then the content checksum.
void read_partition(const std::filesystem::path& path, const std::vector<std::string>& columns) {
  sluice::lake::PartitionReader reader(path, "/", columns, fuzz_limits);
  const std::int64_t rows = std::min(block_rows, std::max<std::int64_t>(reader.num_rows(), 1));
  std::vector<double> block(static_cast<std::size_t>(rows) * columns.size());
  for (std::int64_t row = 0; row < reader.num_rows(); row += rows) {
    reader.read_block(row, std::min(rows, reader.num_rows() - row), block.data(), rows);
  }
  (void)reader.checksum();
}

// Every handle the harness's calls opened must be closed again: a leaked HDF5 id keeps the file
// open inside the library, so the next input would be parsed against stale cached metadata.
// Groups, datasets, types or attributes left open are Sluice's leak. A file alone left open is
// libhdf5's: Sluice's handles always call H5Fclose, and 1.10 fails it on some corrupt metadata
// (a cache entry stays pinned), keeping the file and crashing later in H5F_term_package.
void require_no_open_objects() {
  const ssize_t objects = H5Fget_obj_count(
      H5F_OBJ_ALL, H5F_OBJ_GROUP | H5F_OBJ_DATASET | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR);
  if (objects != 0) {
    std::fprintf(stderr, "fuzz_partition: %zd HDF5 objects still open after the input\n", objects);
    std::abort();
  }
  if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE) != 0) {
    std::fprintf(stderr, "fuzz_partition: libhdf5 could not close the file (H5Fclose failed)\n");
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  write_input(data, size);
  const std::vector<std::string> columns = listed_columns(input_path());
  try {
    read_partition(input_path(), columns);
  } catch (const sluice::Error&) {
    // A refused partition is the expected outcome for most inputs.
  }
  require_no_open_objects();
  return 0;
}
