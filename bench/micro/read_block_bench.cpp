// PartitionReader::read_block over whole partitions: contiguous, chunked+deflate, int32/float32.
// The files are page-cached after writing, so these measure HDF5 overhead, decompression and type
// conversion rather than the disk.
#include "bench_data.hpp"

#include "sluice/hdf5/file.hpp"
#include "sluice/hdf5/handle.hpp"
#include "sluice/lake/partition_reader.hpp"
#include "sluice/lake/synthetic_lake.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::bench {
namespace {

constexpr std::int64_t partition_rows = std::int64_t{1} << 20;
constexpr std::int64_t num_features = 8;

struct BenchPartition {
  std::filesystem::path path;
  std::vector<std::string> columns;
};

BenchPartition synthetic_partition(const std::string& name, const hdf5::WriteOptions& storage) {
  lake::SyntheticLakeOptions options{.root = scratch_directory() / name,
                                     .num_partitions = 1,
                                     .rows_per_partition = partition_rows,
                                     .num_features = num_features,
                                     .seed = 7,
                                     .num_days = 1,
                                     .storage = storage};
  lake::write_synthetic_partition(options, 0);
  const lake::SyntheticTruth truth = lake::synthetic_truth(options);
  BenchPartition partition{options.root / lake::synthetic_partition_path(options, 0),
                           truth.feature_names};
  partition.columns.push_back(truth.label);
  return partition;
}

const BenchPartition& contiguous_partition() {
  static const BenchPartition partition = synthetic_partition("contiguous", {});
  return partition;
}

const BenchPartition& deflate_partition() {
  // The settings of a typical compressed lake: 64 Ki-row chunks, shuffle, fast deflate.
  static const BenchPartition partition = synthetic_partition(
      "deflate", {.chunk_rows = 65536, .deflate_level = 1, .is_shuffled = true});
  return partition;
}

void check(std::int64_t status, const char* what) {
  if (status < 0)
    throw std::runtime_error(fmt::format("HDF5 call failed: {}", what));
}

template <typename T>
void write_narrow_column(hid_t file, const std::string& name, hid_t memory_type, hid_t file_type,
                         const std::vector<T>& values) {
  const hsize_t dims[1] = {values.size()};
  hdf5::DataspaceHandle space(H5Screate_simple(1, dims, nullptr));
  check(space.get(), "H5Screate_simple");
  hdf5::DatasetHandle dataset(H5Dcreate2(file, name.c_str(), file_type, space.get(), H5P_DEFAULT,
                                         H5P_DEFAULT, H5P_DEFAULT));
  check(dataset.get(), "H5Dcreate2");
  check(H5Dwrite(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
        "H5Dwrite");
}

// Half the columns int32, half float32, stored contiguously: the cost measured is the type
// conversion inside H5Dread, which the lake contract allows for narrow columns.
const BenchPartition& narrow_partition() {
  static const BenchPartition partition = [] {
    BenchPartition made{scratch_directory() / "narrow.h5", {}};
    hdf5::File file = hdf5::File::create(made.path);
    const Eigen::MatrixXd values = random_block(partition_rows, num_features, 11);
    for (std::int64_t j = 0; j < num_features; ++j) {
      std::string name = fmt::format("x{:02d}", j);
      if (j < num_features / 2) {
        std::vector<std::int32_t> column(static_cast<std::size_t>(partition_rows));
        for (std::int64_t i = 0; i < partition_rows; ++i) {
          column[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(1000.0 * values(i, j));
        }
        write_narrow_column(file.id(), name, H5T_NATIVE_INT32, H5T_STD_I32LE, column);
      } else {
        std::vector<float> column(static_cast<std::size_t>(partition_rows));
        for (std::int64_t i = 0; i < partition_rows; ++i) {
          column[static_cast<std::size_t>(i)] = static_cast<float>(values(i, j));
        }
        write_narrow_column(file.id(), name, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, column);
      }
      made.columns.push_back(std::move(name));
    }
    file.close();
    return made;
  }();
  return partition;
}

// One iteration opens the partition and reads all of it, as a rank does with each partition.
void read_partition(benchmark::State& state, const BenchPartition& partition) {
  const std::int64_t block_rows = state.range(0);
  const auto num_columns = static_cast<std::int64_t>(partition.columns.size());
  std::vector<double> block(static_cast<std::size_t>(block_rows * num_columns));
  std::int64_t rows = 0;
  std::int64_t bytes = 0;
  for (auto _ : state) {
    lake::PartitionReader reader(partition.path, "/", partition.columns);
    for (std::int64_t start = 0; start < reader.num_rows(); start += block_rows) {
      const std::int64_t count = std::min(block_rows, reader.num_rows() - start);
      reader.read_block(start, count, block.data(), block_rows);
    }
    benchmark::DoNotOptimize(block.data());
    benchmark::DoNotOptimize(reader.checksum());
    rows += reader.num_rows();
    bytes += reader.bytes_read();
  }
  // Bytes are the doubles delivered (rows × columns × 8), whatever the stored width.
  state.SetItemsProcessed(rows);
  state.SetBytesProcessed(bytes);
  state.counters["columns"] = static_cast<double>(num_columns);
}

void BM_read_block_contiguous_f64(benchmark::State& state) {
  read_partition(state, contiguous_partition());
}
void BM_read_block_deflate_f64(benchmark::State& state) {
  read_partition(state, deflate_partition());
}
void BM_read_block_convert_i32_f32(benchmark::State& state) {
  read_partition(state, narrow_partition());
}

BENCHMARK(BM_read_block_contiguous_f64)
    ->ArgName("block_rows")
    ->Arg(8192)
    ->Arg(65536)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_read_block_deflate_f64)
    ->ArgName("block_rows")
    ->Arg(8192)
    ->Arg(65536)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_read_block_convert_i32_f32)
    ->ArgName("block_rows")
    ->Arg(8192)
    ->Arg(65536)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

} // namespace
} // namespace sluice::bench
