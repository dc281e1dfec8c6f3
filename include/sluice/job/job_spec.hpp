// JobSpec: a validated job file (TOML), the single description of what a run does.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::job {

enum class BadPartitionPolicy { error, skip };
enum class NonFiniteAction { error, drop_rows };
enum class ModelKind { ridge, ols };

struct LakeSpec {
  std::filesystem::path root;
  std::string glob = "**/*.h5";
  std::string group = "/";
  std::map<std::string, std::vector<std::string>> selection;
  std::int64_t block_rows = 16384;
  BadPartitionPolicy on_bad_partition = BadPartitionPolicy::error;
  NonFiniteAction on_nonfinite = NonFiniteAction::error;
};

struct ModelSpec {
  ModelKind kind = ModelKind::ridge;
  std::vector<std::string> features;
  std::string label;
  double alpha = 0.0;
  bool fit_intercept = true;
};

struct PublishSpec {
  std::filesystem::path registry;
  std::string name;
};

struct RunSpec {
  int threads = 0; ///< OpenMP threads per rank; 0: OMP_NUM_THREADS, else 1
};

struct JobSpec {
  std::string text;           ///< the job file as written, kept in the snapshot's lineage
  std::string source;         ///< where it came from, for messages
  LakeSpec lake;
  ModelSpec model;
  PublishSpec publish;
  RunSpec run;

  /// Feature columns then the label: the columns every partition must provide.
  std::vector<std::string> columns() const;
};

/// Parses and validates job text. Relative paths are resolved against base_directory. Unknown
/// keys, wrong types and invalid values throw ConfigError naming the source and the key.
JobSpec parse_job(std::string_view text, const std::filesystem::path& base_directory,
                  const std::string& source);

/// Reads and parses a job file; relative paths are relative to the file's directory.
JobSpec load_job(const std::filesystem::path& file);

std::string_view to_string(ModelKind kind);

} // namespace sluice::job
