// JobSpec: a validated job file (TOML), the single description of what a run does.
#pragma once

#include "sluice/job/model_params.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::job {

enum class BadPartitionPolicy { error, skip };
enum class NonFiniteAction { error, drop_rows };
/// How the first pass's work units reach the ranks: the plan made before reading ("static"),
/// or rank 0 handing them out to ranks that ask when idle ("dynamic").
enum class ScheduleMode { planned, dynamic };

/// The largest `lake.block_rows`: a block of 2^24 rows of 64 float64 columns is already 8 GiB.
inline constexpr std::int64_t max_block_rows = std::int64_t{1} << 24;
/// The longest `publish.name`, in bytes.
inline constexpr std::size_t max_model_name_bytes = 128;
/// The default `lake.split_rows`, rounded up to whole blocks.
inline constexpr std::int64_t default_split_rows = std::int64_t{1} << 20;
/// The largest `lake.split_rows`.
inline constexpr std::int64_t max_split_rows = std::int64_t{1} << 40;

struct LakeSpec {
  std::filesystem::path root;
  std::string glob = "**/*.h5";
  std::string group = "/";
  std::map<std::string, std::vector<std::string>> selection;
  std::int64_t block_rows = 16384;
  /// The split grid: every partition is accumulated in segments of this many rows (a whole
  /// number of blocks), each a leaf of the merge tree, so a large partition can be read by
  /// several ranks and the model has the same bits whoever reads which segment.
  std::int64_t split_rows = default_split_rows;
  bool is_split_rows_given = false; ///< set in the job file (not the default)
  /// Largest declared size of one column of a partition (rows × element bytes); the same
  /// default as lake::ReadLimits (a unit test holds them equal).
  std::int64_t max_column_bytes = std::int64_t{64} << 30;
  /// Largest chunk of a chunked column, in bytes (as lake::ReadLimits).
  std::int64_t max_chunk_bytes = std::int64_t{8} << 20;
  BadPartitionPolicy on_bad_partition = BadPartitionPolicy::error;
  NonFiniteAction on_nonfinite = NonFiniteAction::error;
  /// Open and read each partition in a separate, resource-limited process before the first pass
  /// reads it, so that a crash of libhdf5 on a crafted file refuses that partition instead of
  /// ending the rank (docs/lake-format.md, "Containment").
  bool isolate = false;
  /// Address-space limit (RLIMIT_AS) of that process; 0: 1 GiB plus what the job's block and
  /// chunk sizes need.
  std::int64_t isolate_memory_bytes = 0;
  /// Wall-clock and CPU-time limit of that process, per partition.
  double isolate_timeout_s = 300.0;
};

/// The [model] table: the keys every kind shares; the rest is validated by the kind itself.
struct ModelSpec {
  std::string kind = "ridge";
  std::vector<std::string> features;
  std::string label;            ///< empty for kinds without one (kmeans, pca)
  ModelParams params;           ///< every other key of [model]
};

/// A champion/challenger gate ([publish.gate]): the new model is published, and the alias moved
/// to it, only if its `metric` beats the alias's version by at least `margin`.
struct GateSpec {
  std::string alias;
  std::string metric;
  double margin = 0.0;            ///< in the metric's units, >= 0
  bool is_larger_better = false;  ///< from the metric's name (metric_direction)
};

/// Whether a larger value of the metric is better (r2, accuracy, auc…) or a smaller one (rmse,
/// log_loss, inertia…), with or without the "validation_" prefix; nullopt for other names.
std::optional<bool> metric_direction(std::string_view metric);

struct PublishSpec {
  std::filesystem::path registry;
  std::string name;
  std::optional<GateSpec> gate;
};

struct RunSpec {
  int threads = 0; ///< OpenMP threads per rank; 0: OMP_NUM_THREADS, else 1
  /// Bytes of partition data a rank may keep in memory between passes; 0: half the node's
  /// memory divided by the ranks on the node.
  std::int64_t memory_budget = 0;
  /// Seconds rank 0 waits without a word from another rank (stopped, hung, cut off) before it
  /// ends the job naming that rank and its host; 0: wait forever.
  double peer_timeout_s = 60.0;
  /// Keep the training profile of the columns read in the snapshot (/profile, for `sluice
  /// drift`); false saves its cost in the first pass (measured up to ~50 % of a read-bound pass).
  bool profile = true;
  /// Share a partition with more than lake.split_rows rows out over the ranks, one segment per
  /// task (false: one rank reads it whole); the bits are the same either way.
  bool split = true;
  /// dynamic: in the first pass each rank asks rank 0 for its next unit when idle (skewed lakes,
  /// uneven nodes); later passes keep the units where the first pass read them.
  ScheduleMode schedule = ScheduleMode::planned;
};

/// The partial cache ([cache]): each partition's first-pass partial kept beside the registry, so
/// a rerun reads only new or changed partitions.
struct CacheSpec {
  bool is_enabled = true;
  std::filesystem::path root;                      ///< default: REGISTRY/.partials
  std::int64_t max_bytes = std::int64_t{1} << 30;  ///< least recently used entries go past it
  /// Iterative kinds (logistic, kmeans) start from the model's CURRENT version when the cache is
  /// used, rather than from scratch.
  bool warm_start = true;
};

/// Where `sluice transform` writes the transformed rows (the [curate] table).
struct CurateSpec {
  std::filesystem::path root;         ///< the output lake
  std::vector<std::string> columns;   ///< empty: the pipeline's output columns
  std::int64_t chunk_rows = 65536;
  int deflate = 0;                    ///< 0..9; 0 stores contiguous, uncompressed
};

struct JobSpec {
  std::string text;           ///< the job file as written, kept in the snapshot's lineage
  std::string source;         ///< where it came from, for messages
  LakeSpec lake;
  ModelSpec model;
  PublishSpec publish;
  RunSpec run;
  CacheSpec cache;
  /// The [[transform]] steps in order, each validated by the pipeline (keys "transform[N].KEY").
  std::vector<ModelParams> transforms;
  std::optional<ModelParams> split;   ///< the [split] table, if any
  std::optional<CurateSpec> curate;   ///< the [curate] table, if any
  bool has_model = true;              ///< false: a transform-only job ([curate] without [model])

  /// Feature columns then the label (if any): the columns every partition must provide.
  std::vector<std::string> columns() const;
};

/// Parses and validates job text. Relative paths are resolved against base_directory. Unknown
/// keys, wrong types and invalid values throw ConfigError naming the source and the key.
JobSpec parse_job(std::string_view text, const std::filesystem::path& base_directory,
                  const std::string& source);

/// Reads and parses a job file; relative paths are relative to the file's directory.
JobSpec load_job(const std::filesystem::path& file);

} // namespace sluice::job
