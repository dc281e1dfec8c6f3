// Snapshot: everything serving needs (model, pipeline) plus metrics and lineage, as one HDF5 file.
#pragma once

#include "sluice/model/sufficient_stats.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sluice::snapshot {

/// The layout version written to the root attribute `format_version` (docs/snapshot-format.md).
inline constexpr std::int64_t format_version = 1;

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
  std::string label;
  Eigen::VectorXd coefficients;
  double intercept = 0.0;
  double alpha = 0.0;
  bool fit_intercept = true;
  // pipeline: how serving turns a raw row into the model's input (JSON, see the format doc)
  std::string pipeline_json;
  // metrics
  double rmse = 0.0;
  double r2 = 0.0;
  std::int64_t num_rows = 0;
  std::int64_t num_dropped_rows = 0;
  // lineage
  std::string job_text;
  std::string sluice_version;
  std::int64_t num_ranks = 0;
  std::int64_t threads_per_rank = 0;
  std::string created_utc;
  std::string lake_root;
  std::vector<PartitionLineage> partitions;
  std::vector<SkippedPartition> skipped;
  // the merged statistics, so a later job can update the model without re-reading old data
  model::SufficientStats statistics;
};

/// Writes the snapshot to file (created or truncated). The caller makes it durable and visible.
void write_snapshot(const std::filesystem::path& file, const Snapshot& snapshot);
/// Reads a snapshot; throws DataError if the file is not a snapshot of a known format version.
Snapshot read_snapshot(const std::filesystem::path& file);

/// Applies the model to one row of feature values (in feature order): intercept + w·x.
double predict(const Snapshot& snapshot, const Eigen::Ref<const Eigen::VectorXd>& features);

} // namespace sluice::snapshot
