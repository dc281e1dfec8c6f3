// Batch scoring: stream each partition's features through the model into a prediction file.
#include "sluice/coordinator/predict_lake.hpp"

#include "pipeline_stream.hpp"

#include "sluice/hdf5/appendable_column.hpp"
#include "sluice/hdf5/file.hpp"
#include "sluice/schedule/collective.hpp"

#include <fmt/format.h>

#include <Eigen/Core>

namespace sluice::coordinator {
namespace {

// The raw columns go through the snapshot's pipeline (the same runner as training), then the
// model; only the rows the pipeline keeps are scored, with `_row` giving their raw row index.
std::int64_t predict_partition(const snapshot::Snapshot& snapshot,
                               const lake::PartitionInfo& partition, const PredictOptions& options) {
  const model::FittedModel& fitted = *snapshot.model;
  const transform::Pipeline& pipeline = *snapshot.pipeline;
  std::vector<int> slots;
  for (const std::string& name : fitted.features()) slots.push_back(pipeline.find_column(name));
  const std::vector<std::string> outputs = fitted.outputs();
  const auto num_outputs = static_cast<Eigen::Index>(outputs.size());
  // A label that no step reads is not needed to score: lakes to score usually lack it.
  const std::string unread =
      !snapshot.label.empty() && !pipeline.is_read_by_steps(snapshot.label) ? snapshot.label : "";

  std::int64_t scored = 0;
  write_file_durably(options.output / partition.relative_path, [&](hdf5::File& file) {
    std::vector<hdf5::AppendableColumn> writers;
    for (const std::string& name : outputs) {
      writers.push_back(hdf5::AppendableColumn::create_float64(file.id(), name, options.block_rows, 0));
    }
    hdf5::AppendableColumn rows = hdf5::AppendableColumn::create_int64(file.id(), "_row", options.block_rows, 0);
    Eigen::MatrixXd features;
    Eigen::MatrixXd scores;
    scored = stream_partition(partition, options.group, pipeline, options.block_rows, unread,
                              [&](const transform::PipelineRunner& runner) {
                                const std::int64_t n = runner.rows();
                                features.resize(n, static_cast<Eigen::Index>(slots.size()));
                                scores.resize(n, num_outputs);
                                runner.gather(slots, features.data(), n);
                                fitted.score(features.data(), n, n, scores.data(), n);
                                for (Eigen::Index c = 0; c < num_outputs; ++c) {
                                  writers[static_cast<std::size_t>(c)].append(std::span<const double>(
                                      scores.col(c).data(), static_cast<std::size_t>(n)));
                                }
                                rows.append(std::span<const std::int64_t>(runner.row_index(),
                                                                          static_cast<std::size_t>(n)));
                              })
                 .rows_out;
  });
  return scored;
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
