// Deterministic synthetic partitions: Gaussian features, a linear label with Gaussian noise.
#include "sluice/lake/synthetic_lake.hpp"

#include "sluice/error.hpp"
#include "sluice/hdf5/file.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numeric>
#include <random>

namespace sluice::lake {

std::vector<std::int64_t> synthetic_partition_rows(const SyntheticLakeOptions& options) {
  const std::int64_t total = options.num_partitions * options.rows_per_partition;
  std::vector<double> weights(static_cast<std::size_t>(options.num_partitions));
  for (std::size_t i = 0; i < weights.size(); ++i) {
    weights[i] = 1.0 / std::pow(static_cast<double>(i + 1), options.skew);
  }
  const double sum = std::reduce(weights.begin(), weights.end());
  std::vector<std::int64_t> rows(weights.size());
  std::int64_t assigned = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    rows[i] = std::max<std::int64_t>(1, std::llround(static_cast<double>(total) * weights[i] / sum));
    assigned += rows[i];
  }
  rows.front() = std::max<std::int64_t>(1, rows.front() + total - assigned); // keep the total exact
  return rows;
}

std::string synthetic_partition_path(const SyntheticLakeOptions& options, std::int64_t index) {
  const std::int64_t day = index % std::max<std::int64_t>(options.num_days, 1) + 1;
  return fmt::format("day=2026-11-{:02d}/part-{:05d}.h5", day, index);
}

SyntheticTruth synthetic_truth(const SyntheticLakeOptions& options) {
  SyntheticTruth truth;
  std::mt19937_64 engine(options.seed);
  std::uniform_real_distribution<double> uniform(-2.0, 2.0);
  for (std::int64_t j = 0; j < options.num_features; ++j) {
    truth.coefficients.push_back(uniform(engine));
    truth.feature_names.push_back(fmt::format("x{:02d}", j));
  }
  truth.intercept = uniform(engine);
  truth.noise = options.noise;
  return truth;
}

void write_synthetic_partition(const SyntheticLakeOptions& options, std::int64_t index) {
  const SyntheticTruth truth = synthetic_truth(options);
  const std::int64_t rows = synthetic_partition_rows(options).at(static_cast<std::size_t>(index));
  const std::int64_t d = options.num_features;
  std::filesystem::path path = options.root / synthetic_partition_path(options, index);
  std::filesystem::create_directories(path.parent_path());
  hdf5::File file = hdf5::File::create(path);
  std::vector<hdf5::ColumnWriter> writers;
  for (std::int64_t j = 0; j < d; ++j) {
    writers.push_back(hdf5::ColumnWriter::create(file.id(), truth.feature_names[static_cast<std::size_t>(j)],
                                                 rows, options.storage));
  }
  writers.push_back(hdf5::ColumnWriter::create(file.id(), truth.label, rows, options.storage));

  std::seed_seq seed{options.seed, static_cast<std::uint64_t>(index), std::uint64_t{0x5eed}};
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal;
  const std::int64_t block = std::max<std::int64_t>(1, options.write_block_rows);
  std::vector<double> columns(static_cast<std::size_t>(block * (d + 1)));
  for (std::int64_t start = 0; start < rows; start += block) {
    const std::int64_t count = std::min(block, rows - start);
    for (std::int64_t i = 0; i < count; ++i) {
      double y = truth.intercept;
      for (std::int64_t j = 0; j < d; ++j) {
        // Features are offset from zero so centring matters, as it does in real data.
        const double x = normal(engine) + 0.25 * static_cast<double>(j % 5);
        columns[static_cast<std::size_t>(j * block + i)] = x;
        y += truth.coefficients[static_cast<std::size_t>(j)] * x;
      }
      columns[static_cast<std::size_t>(d * block + i)] = y + options.noise * normal(engine);
    }
    for (std::int64_t j = 0; j <= d; ++j) {
      writers[static_cast<std::size_t>(j)].write(
          start, std::span<const double>(columns.data() + j * block, static_cast<std::size_t>(count)));
    }
  }
  writers.clear();
  file.close();
}

} // namespace sluice::lake
