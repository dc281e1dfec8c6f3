// Discover, inspect and plan: which partitions take part, their rows, and which rank reads each.
#pragma once

#include "partial_cache.hpp"
#include "partition_worker.hpp"

#include "sluice/coordinator/partition_check.hpp"
#include "sluice/job/job_spec.hpp"
#include "sluice/lake/partition_info.hpp"
#include "sluice/lake/partition_reader.hpp"
#include "sluice/mpi/communicator.hpp"
#include "sluice/snapshot/snapshot.hpp"
#include "sluice/transform/pipeline.hpp"

#include <map>
#include <memory>
#include <vector>

namespace sluice::coordinator {

/// A task of a pass: a whole partition, or one segment of the split grid of a partition with
/// more than lake.split_rows rows (found before the first pass), so several ranks share it.
struct WorkUnit {
  std::size_t partition = 0;
  std::int64_t first_row = 0;
  std::int64_t end_row = -1; ///< -1: to the end of the partition (a whole partition)

  bool is_whole() const noexcept { return end_row < 0; }
};

/// Everything per work unit, in the order of (partition, first row): the order partials merge in.
struct Plan {
  std::vector<WorkUnit> units;
  std::vector<int> owner;              ///< reading rank per unit; -1: its partition was skipped
  /// Rows per unit: known once the first pass has opened every file (from the partial
  /// cache for cached ones), 0 before.
  std::vector<std::int64_t> rows;
  std::vector<std::int64_t> bytes;     ///< the unit's share of its file's size (planning weight)
  std::vector<char> is_cached;         ///< first pass's partial comes from the partial cache
  /// A partition (whole, or its first split) whose file its owner keeps open from the row count:
  /// read by that rank in the first pass whatever the schedule.
  std::vector<char> is_pinned;
  std::map<std::size_t, PartitionOutcome> cached;  ///< root only, with partials, by unit
  double imbalance = 1.0;
  std::size_t num_split = 0;           ///< partitions shared out in several units

  /// The partition's units, as [first, end) unit indices.
  std::pair<std::size_t, std::size_t> units_of(std::size_t partition) const;
};

/// Partition files opened before the first pass and kept open for it, by partition index: the
/// rank that opened a file to count its rows reads it (whole, or its first split) with the same
/// handle.
using OpenReaders = std::map<std::size_t, std::shared_ptr<lake::PartitionReader>>;

/// What was learnt of the partitions large enough to be split before the first pass.
struct ProbedPartitions {
  /// Rows per partition, for those large enough to be split (file bytes >= lake.split_rows); -1
  /// where a file was not looked at or could not be opened (the reader reports such a file
  /// later).
  std::vector<std::int64_t> rows;
  /// Per partition: the rank that keeps the file open to read it (or its first split), or -1.
  std::vector<int> home;
  OpenReaders kept; ///< this rank's open files (those with home == this rank)
};

/// At most this many files stay open per rank between the row count and the first pass (file
/// handles and HDF5's per-file caches); the others are opened again by their readers.
inline constexpr std::size_t max_kept_readers = 64;

/// Collective: each rank opens its share of the files large enough to be split (balanced by file
/// size) and counts their rows. The file stays open on that rank (up to max_kept_readers), which
/// then reads it whole or reads its first split: no file is opened only to be counted.
ProbedPartitions probe_large_partitions(const mpi::Communicator& comm, const job::JobSpec& job,
                                        const std::vector<lake::PartitionInfo>& partitions,
                                        const std::vector<std::string>& columns);

/// Pure: the work units of a lake, given the rows probed per partition (-1: unknown, one whole
/// unit) and the split grid.
std::vector<WorkUnit> make_units(const std::vector<std::int64_t>& probed_rows,
                                 std::int64_t split_rows);

/// Collective: rank 0 lists the lake's partitions, every rank gets the list.
std::vector<lake::PartitionInfo> discover(const mpi::Communicator& comm, const job::JobSpec& job);

/// Collective: looks every partition up in the partial cache (if any) and balances the partitions over the ranks by file size
/// (largest first to the least-loaded rank). No file is opened here: each partition is opened
/// once, by the rank that reads it, which checks its schema then.
/// `probed` (rows and homes, the same on every rank) from probe_large_partitions, or empty.
Plan make_plan(const mpi::Communicator& comm, const std::vector<lake::PartitionInfo>& partitions,
               const ProbedPartitions& probed, std::int64_t split_rows,
               const PartialCache* cache);

/// Collective, after the first pass: every rank learns each unit's rows and which partitions
/// were skipped while reading (every unit of a partition with one bad unit; they take no part in
/// later passes). Throws on every rank when every partition was skipped.
void complete_plan(const mpi::Communicator& comm,
                   const std::map<std::size_t, PartitionOutcome>& outcomes, Plan& plan);

/// One pass's share-out: the rank reading each unit (-1: none this pass) and each
/// unit's weight for progress and largest-first ordering.
struct PassPlan {
  std::vector<int> reader;
  std::vector<std::int64_t> weight;
  bool is_first = false; ///< the first pass: where bad partitions may be skipped
  std::vector<char> is_pinned; ///< first pass: Plan::is_pinned; later passes: all 0
};

/// The first pass leaves out cached partitions (their partials come from the cache) and,
/// rows being unknown until files are opened, weighs partitions by file size; later passes read
/// every partition that was not skipped and weigh it by its rows.
PassPlan plan_pass(const Plan& plan, bool is_first_pass);

/// Collective: rank 0 opens the first partition's group (its member list only, no data) and
/// checks the pipeline against it: no derived column shadows a column of the lake and, unless bad
/// partitions are skipped, every raw input exists. A file that cannot be opened is left to the
/// reader (and the bad-partition policy). Under `[lake] isolate = true` the group is first listed
/// by `checker` in another process, and a file it refuses is not opened here either.
void check_pipeline_columns(const mpi::Communicator& comm, const job::JobSpec& job,
                            const std::vector<lake::PartitionInfo>& partitions,
                            const transform::Pipeline& pipeline,
                            const PartitionChecker& checker);

/// Runs fn on the root only; a failure there becomes the same AgreedError on every rank.
void on_root(const mpi::Communicator& comm, const std::function<void()>& fn);

} // namespace sluice::coordinator
