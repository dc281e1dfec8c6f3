// Synthetic lakes with a known linear truth, for demos, tests and benchmarks.
#pragma once

#include "sluice/hdf5/dataset.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sluice::lake {

struct SyntheticLakeOptions {
  std::filesystem::path root;
  std::int64_t num_partitions = 8;
  std::int64_t rows_per_partition = 10000; ///< mean rows per partition
  std::int64_t num_features = 8;
  std::uint64_t seed = 1;
  double skew = 0.0;       ///< 0: equal sizes; s > 0: partition i gets rows ∝ 1/(i+1)^s
  double noise = 0.1;      ///< standard deviation of the label noise
  std::int64_t num_days = 4; ///< Hive directories day=2026-11-01 .. day=2026-11-<num_days>
  hdf5::WriteOptions storage;
  std::int64_t write_block_rows = 65536;
};

/// The truth the lake was drawn from: y = X·coefficients + intercept + noise.
struct SyntheticTruth {
  std::vector<double> coefficients;
  double intercept = 0.0;
  double noise = 0.0;
  std::vector<std::string> feature_names;
  std::string label = "y";
};

/// Row counts per partition for the options (sums to num_partitions × rows_per_partition).
std::vector<std::int64_t> synthetic_partition_rows(const SyntheticLakeOptions& options);
/// The relative path of partition i, e.g. "day=2026-11-03/part-00002.h5".
std::string synthetic_partition_path(const SyntheticLakeOptions& options, std::int64_t index);
/// The truth for the options' seed and sizes (computable without writing anything).
SyntheticTruth synthetic_truth(const SyntheticLakeOptions& options);

/// Writes partition `index`. Its bytes depend only on the options and the index, so a lake
/// written by any number of processes, in any order, is the same lake.
void write_synthetic_partition(const SyntheticLakeOptions& options, std::int64_t index);

} // namespace sluice::lake
