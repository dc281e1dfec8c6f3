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

std::int64_t predict_partition(const snapshot::Snapshot& snapshot,
                               const lake::PartitionInfo& partition, const PredictOptions& options) {
  const model::FittedModel& fitted = *snapshot.model;
  lake::PartitionReader reader(partition.path, options.group, fitted.features());
  const auto d = static_cast<Eigen::Index>(fitted.features().size());
  const std::vector<std::string> outputs = fitted.outputs();
  const auto num_outputs = static_cast<Eigen::Index>(outputs.size());
  const std::int64_t block_rows =
      std::min(options.block_rows, std::max<std::int64_t>(reader.num_rows(), 1));
  Eigen::MatrixXd block(block_rows, d);
  Eigen::MatrixXd scores(block_rows, num_outputs);

  std::filesystem::path target = options.output / partition.relative_path;
  std::filesystem::create_directories(target.parent_path());
  std::filesystem::path temporary = target;
  temporary += fmt::format(".tmp-{}", ::getpid());
  {
    hdf5::File file = hdf5::File::create(temporary);
    std::vector<hdf5::ColumnWriter> writers;
    for (const std::string& name : outputs) {
      writers.push_back(hdf5::ColumnWriter::create(file.id(), name, reader.num_rows()));
    }
    for (std::int64_t row = 0; row < reader.num_rows(); row += block_rows) {
      const std::int64_t count = std::min(block_rows, reader.num_rows() - row);
      reader.read_block(row, count, block.data(), block_rows);
      fitted.score(block.data(), block_rows, count, scores.data(), block_rows);
      for (Eigen::Index c = 0; c < num_outputs; ++c) {
        writers[static_cast<std::size_t>(c)].write(
            row, std::span<const double>(scores.col(c).data(), static_cast<std::size_t>(count)));
      }
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
    failure = schedule::LocalFailure::of(-1, error);
  }
  schedule::raise_if_any_failed(comm, failure);
  PredictResult mine;
  for (std::size_t i = static_cast<std::size_t>(comm.rank()); i < partitions.size() && !failure;
       i += static_cast<std::size_t>(comm.size())) {
    try {
      mine.num_rows += predict_partition(model, partitions[i], options);
      ++mine.num_partitions;
    } catch (const std::exception& error) {
      failure = schedule::LocalFailure{static_cast<std::int64_t>(i),
                                       fmt::format("{} [rank {}]", error.what(), comm.rank()),
                                       kind_of(error)};
    }
  }
  schedule::raise_if_any_failed(comm, failure);
  return {.num_rows = comm.sum(mine.num_rows), .num_partitions = comm.sum(mine.num_partitions)};
}

} // namespace sluice::coordinator
