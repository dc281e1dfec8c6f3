// Snapshot: everything serving needs (model, pipeline) plus metrics and lineage, as one HDF5 file.
#pragma once

#include "sluice/model/sufficient_stats.hpp"
#include "sluice/model/trainer.hpp"
#include "sluice/transform/feature_profile.hpp"
#include "sluice/transform/pipeline.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace sluice::snapshot {

/// The layout version written to the root attribute `format_version` (docs/snapshot-format.md).
/// 2: model parameters by kind under /model, metrics by name, /history; partials merged along the
/// partition-index tree (so ridge bits differ in the last places from version 1's serial fold).
/// 3: the fitted transformation pipeline under /pipeline (version 2 files read as an empty one).
inline constexpr std::int64_t format_version = 3;
/// The oldest format version read_snapshot still reads.
inline constexpr std::int64_t oldest_format_version = 2;

struct PartitionLineage {
  std::string path;     ///< relative to the lake root
  std::int64_t rows = 0;
  std::string checksum; ///< 16 hex digits, XXH3-64 of the used columns' values
  std::string keys;     ///< Hive keys as "k1=v1/k2=v2"
};

struct SkippedPartition {
  std::string path;
  std::string reason;
};

struct Snapshot {
  // model
  std::string model_name;
  std::int64_t version = 0;
  std::string model_kind;
  std::vector<std::string> feature_names;
  std::string label;                                ///< empty for kinds without one
  std::shared_ptr<const model::FittedModel> model;  ///< parameters, scoring
  // pipeline: how serving turns a raw row into the model's input — the fitted steps, and a JSON
  // summary (the lake group, the non-finite policy, the steps) for people and tools
  std::shared_ptr<const transform::Pipeline> pipeline;
  std::string pipeline_json;
  // metrics, by name in the kind's order, and the per-iteration history of iterative kinds
  model::Metrics metrics;
  model::History history;
  std::int64_t num_rows = 0;
  std::int64_t num_dropped_rows = 0;
  // lineage
  std::string job_text;
  std::string sluice_version;
  std::string xtx_kernel;  ///< the XᵀX kernel variant: model bits depend on it
  std::int64_t num_ranks = 0;
  std::int64_t threads_per_rank = 0;
  std::int64_t warm_start_version = 0;  ///< the version an iterative fit started from; 0: cold
  std::string created_utc;
  std::string lake_root;
  std::vector<PartitionLineage> partitions;
  std::vector<SkippedPartition> skipped;
  // the merged statistics of kinds that have them (ridge, PCA), so a later job can update the
  // model without re-reading old data; count 0 when absent
  model::SufficientStats statistics;
  // the distribution of every column read in training (moments and bins), for `sluice drift`;
  // empty in snapshots published before it was kept
  transform::FeatureProfile profile;

  /// The metric's value, or NaN when the kind has no such metric.
  double metric(const std::string& name) const;
};

/// Writes the snapshot to file (created or truncated). The caller makes it durable and visible.
void write_snapshot(const std::filesystem::path& file, const Snapshot& snapshot);
/// Reads a snapshot; throws DataError if the file is not a snapshot of a known format version.
Snapshot read_snapshot(const std::filesystem::path& file);

/// Scores rows with the snapshot's model: `rows` is column-major rows × feature_names; the
/// result is rows × model->outputs(), column-major.
Eigen::MatrixXd score(const Snapshot& snapshot, const Eigen::Ref<const Eigen::MatrixXd>& rows);

/// The raw columns a caller supplies per row to score_raw: the inputs of the snapshot's pipeline
/// (the model's features when the pipeline is empty; the label only if a step reads it), then
/// the Hive keys the pipeline uses as columns (their numeric values), in order.
std::vector<std::string> raw_columns(const Snapshot& snapshot);

/// Scores of raw rows: the model's outputs for every input row (NaN for a row the pipeline's
/// filters or row policies left out) and, per row, whether it was kept.
struct RawScores {
  Eigen::MatrixXd outputs;   ///< rows × model->outputs(), column-major
  std::vector<char> kept;    ///< 1: the row passed the pipeline and was scored
};

/// Applies the snapshot's fitted pipeline, then its model, to raw rows (column-major
/// rows × raw_columns(snapshot)): the same code path as training. Thread-safe.
RawScores score_raw(const Snapshot& snapshot, const Eigen::Ref<const Eigen::MatrixXd>& raw);

} // namespace sluice::snapshot
