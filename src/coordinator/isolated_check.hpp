// Isolated checks: a partition opened and read in another process before this one touches it.
#pragma once

#include "partition_worker.hpp"

#include "sluice/coordinator/run_job.hpp"

#include <optional>
#include <string>

namespace sluice::coordinator {

/// What the first pass does with a partition after its isolated check.
struct IsolatedVerdict {
  /// Set: the partition is bad (this message, naming the file); the run must not open it.
  std::optional<std::string> refusal;
  bool is_interrupted = false; ///< a stop was requested while the check ran
};

/// The request the run sends for `columns` of a partition (empty columns: list the group).
PartitionCheckRequest make_check_request(const job::JobSpec& job,
                                         const std::filesystem::path& path,
                                         const std::vector<std::string>& columns);

/// Under `[lake] isolate = true`, before the first pass opens a partition: has it checked through
/// options.check_partition. Returns an empty verdict (read it) otherwise, in later passes, and
/// when the check passed. Throws ConfigError when isolation is asked for without a checker, and
/// whatever the checker throws when it cannot run: failures of the run, not of the partition.
IsolatedVerdict check_in_isolation(const PartitionTask& task, const RunOptions& options);

/// Under `[lake] isolate = true`, before a partition is read outside a pass (`sluice transform`
/// writing the curated lake): has `columns` of it checked and throws DataError with the refusal
/// when the check did not pass. Throws ConfigError without a checker, as check_in_isolation.
void require_isolated_check(const job::JobSpec& job, const RunOptions& options,
                            const std::filesystem::path& path,
                            const std::vector<std::string>& columns);

} // namespace sluice::coordinator
