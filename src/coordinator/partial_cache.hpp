// The partial cache: each partition's first-pass partial kept beside the registry, so a rerun
// reads only new or changed partitions and a killed job resumes where it died.
#pragma once

#include "partition_worker.hpp"

#include "sluice/job/job_spec.hpp"
#include "sluice/lake/partition_info.hpp"
#include "sluice/model/trainer.hpp"
#include "sluice/transform/pipeline.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sluice::coordinator {

/// Everything that changes a first-pass partial's bits, hashed (32 hex digits): the Sluice
/// version and Gram kernel, the model table, the pipeline and split as compiled (with the Hive
/// values they use), the trainer's columns, the lake group, block rows and non-finite policy.
/// Not the rank or thread count, which never change the bits.
std::string partial_settings_key(const job::JobSpec& job, const model::Trainer& trainer,
                                 const transform::Pipeline& pipeline);

/// A directory of entries `SETTINGS/ENTRY.partial`. An entry is found by the partition's
/// relative path and file identity (size, modification and change times, inode: the quick check
/// make and rsync use, which needs no read) and holds the partition's content checksum, outcome
/// and partial, sealed by an XXH3-64 of the entry. Entries are written under a unique temporary
/// name and renamed into place, so concurrent jobs and ranks never see a torn one; identical keys
/// always hold identical bits. A damaged or vanished entry is a miss: it costs a read, never a
/// wrong model.
class PartialCache {
public:
  PartialCache(std::filesystem::path root, std::string settings_key, std::int64_t max_bytes);

  const std::filesystem::path& root() const noexcept { return root_; }

  /// The entry key of the partition as its file is now ("" when it cannot be stat'ed). Taken
  /// before the partition is read, so a file changed while being read is read again next time.
  std::string entry_key(const lake::PartitionInfo& partition) const;
  /// The entry key of one work unit: the partition's, with the row range of a split.
  std::string entry_key(const lake::PartitionInfo& partition, std::int64_t first_row,
                        std::int64_t end_row) const;

  /// The cached outcome (with its partial) under key, or nothing.
  std::optional<PartitionOutcome> load(const std::string& key) const;

  /// Stores a finished partition's outcome under key. Best effort: a failure is a warning.
  void store(const std::string& key, const PartitionOutcome& outcome) const;

  /// Removes the least recently used entries until the cache holds at most max_bytes, and
  /// temporaries left by writers that died more than a day ago.
  void trim() const;

private:
  std::filesystem::path entry_path(const std::string& key) const;

  std::filesystem::path root_;
  std::string settings_key_;
  std::int64_t max_bytes_;
};

/// The cache a job uses, or nothing when [cache] enabled = false or the run asks for none.
std::optional<PartialCache> open_partial_cache(const job::JobSpec& job, bool is_wanted,
                                               const model::Trainer& trainer,
                                               const transform::Pipeline& pipeline);

} // namespace sluice::coordinator
