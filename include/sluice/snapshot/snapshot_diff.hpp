// What changed between two snapshots: parameters, hyper-parameters, metrics, pipeline, lineage.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sluice::snapshot {

/// One value that differs; `before` or `after` is null when the key exists on one side only.
struct ValueChange {
  std::string key;
  nlohmann::json before;
  nlohmann::json after;
  /// For two numeric arrays of the same shape, the largest |after - before|; else -1.
  double max_abs_difference = -1;
};

/// A partition of the lineage (by path) that was added, removed or changed (rows or checksum).
struct PartitionChange {
  std::string path;
  std::string change;  ///< "added", "removed" or "changed"
  std::int64_t rows_before = 0;
  std::int64_t rows_after = 0;
  std::string checksum_before;
  std::string checksum_after;
};

/// The differences from snapshot `a` to snapshot `b`; each list holds changed keys only.
struct SnapshotDiff {
  std::filesystem::path a;
  std::filesystem::path b;
  /// What the model saved under /model: learned values and the settings it keeps (kind order).
  std::vector<ValueChange> parameters;
  /// The job file's [model] table, flattened to "model.KEY" (features, label, alpha, k, ...).
  std::vector<ValueChange> hyper_parameters;
  /// The metrics by name, and the row and partition counts.
  std::vector<ValueChange> metrics;
  /// Every attribute and dataset under /pipeline, compared by path ("/pipeline/steps@spec").
  std::vector<ValueChange> pipeline;
  std::vector<PartitionChange> partitions;
  std::int64_t num_partitions_unchanged = 0;

  bool is_empty() const;
};

/// Reads both snapshots (each verified by read_snapshot) and compares them.
SnapshotDiff diff_snapshots(const std::filesystem::path& a, const std::filesystem::path& b);

/// The diff as JSON: {"a", "b", "parameters": [{"key","before","after","max_abs_difference"?}],
/// "hyper_parameters", "metrics", "pipeline", "partitions": {"added","removed","changed",
/// "unchanged"}}.
nlohmann::json to_json(const SnapshotDiff& diff);

} // namespace sluice::snapshot
