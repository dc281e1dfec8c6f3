// Batch scoring: stream each partition's features through the model into a prediction file.
#include "sluice/coordinator/predict_lake.hpp"

#include "sluice/hdf5/dataset.hpp"
#include "sluice/hdf5/file.hpp"
#include "sluice/lake/partition_reader.hpp"
#include "sluice/schedule/collective.hpp"
#include "sluice/snapshot/atomic_file.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <Eigen/Core>

namespace sluice::coordinator {
namespace {

std::int64_t predict_partition(const snapshot::Snapshot& model, const lake::PartitionInfo& partition,
                               const PredictOptions& options) {
  lake::PartitionReader reader(partition.path, options.group, model.feature_names);
  const auto d = static_cast<Eigen::Index>(model.feature_names.size());
  const std::int64_t block_rows = std::min(options.block_rows, std::max<std::int64_t>(reader.num_rows(), 1));
  Eigen::MatrixXd block(block_rows, d);
  Eigen::VectorXd predictions(block_rows);

  std::filesystem::path target = options.output / partition.relative_path;
  std::filesystem::create_directories(target.parent_path());
  std::filesystem::path temporary = target;
  temporary += fmt::format(".tmp-{}", ::getpid());
  {
    hdf5::File file = hdf5::File::create(temporary);
    auto writer = hdf5::ColumnWriter::create(file.id(), "prediction", reader.num_rows());
    for (std::int64_t row = 0; row < reader.num_rows(); row += block_rows) {
      const std::int64_t count = std::min(block_rows, reader.num_rows() - row);
      reader.read_block(row, count, block.data(), block_rows);
      predictions.head(count).noalias() = block.topRows(count) * model.coefficients;
      predictions.head(count).array() += model.intercept;
      writer.write(row, std::span<const double>(predictions.data(), static_cast<std::size_t>(count)));
    }
    file.close();
  }
  snapshot::fsync_path(temporary);
  snapshot::rename_durably(temporary, target);
  return reader.num_rows();
}

} // namespace

PredictResult predict_lake(const mpi::Communicator& comm, const snapshot::Snapshot& model,
                           const PredictOptions& options) {
  std::vector<lake::PartitionInfo> partitions;
  std::optional<schedule::LocalFailure> failure;
  try {
    partitions = lake::discover_partitions(options.lake); // cheap: a directory walk per rank
  } catch (const Error& error) {
    failure = schedule::LocalFailure{-1, error.what()};
  }
  schedule::raise_if_any_failed(comm, failure);
  PredictResult mine;
  for (std::size_t i = static_cast<std::size_t>(comm.rank()); i < partitions.size() && !failure;
       i += static_cast<std::size_t>(comm.size())) {
    try {
      mine.num_rows += predict_partition(model, partitions[i], options);
      ++mine.num_partitions;
    } catch (const Error& error) {
      failure = schedule::LocalFailure{static_cast<std::int64_t>(i),
                                       fmt::format("{} [rank {}]", error.what(), comm.rank())};
    }
  }
  schedule::raise_if_any_failed(comm, failure);
  return {.num_rows = comm.sum(mine.num_rows), .num_partitions = comm.sum(mine.num_partitions)};
}

} // namespace sluice::coordinator
