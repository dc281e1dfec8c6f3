// PartitionCheck: the hook through which a run has each partition opened and read by another
// process before it reads the partition itself ([lake] isolate).
#pragma once

#include "sluice/lake/read_limits.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace sluice::coordinator {

/// One partition to check the way the first pass reads it: the guarded open, the schema checks
/// and every block of `columns` in order, in a process that may die without harm.
struct PartitionCheckRequest {
  std::filesystem::path path;
  std::string group = "/";
  /// Empty: only open the table's group and list its members (what a pipeline's column check
  /// does before the first pass).
  std::vector<std::string> columns;
  lake::ReadLimits limits;
  std::int64_t block_rows = 16384;
  std::int64_t memory_bytes = 0; ///< the process's address-space limit (RLIMIT_AS)
  double timeout_s = 300.0;      ///< its wall-clock and CPU-time (RLIMIT_CPU) limit
  /// Asked while the check runs, on the calling thread, every few tens of milliseconds: true
  /// abandons the check (a stop was requested). May also send the rank's heartbeat.
  std::function<bool()> should_abandon;
};

struct PartitionCheckResult {
  enum class Status {
    passed,    ///< read completely without error: the run may read it
    refused,   ///< the reader refused it; `message` says why and names the file
    signalled, ///< the process died of `signal` (a crash inside libhdf5, or a limit's signal)
    timed_out, ///< still running after timeout_s: the process was killed
    abandoned, ///< should_abandon said so: the process was killed, nothing is known
  };
  Status status = Status::passed;
  int signal = 0;
  std::string message;
};

/// Runs one check and waits for it. Provided by the application (`sluice run` starts itself
/// with an internal subcommand); the library only calls it. Throws sluice::Error when the check
/// itself could not run (no process could be started): a failure of the run, not of the file.
using PartitionChecker = std::function<PartitionCheckResult(const PartitionCheckRequest&)>;

/// The bad-partition message for a check that did not pass (status other than passed and
/// abandoned): one line naming the file and the signal or limit.
std::string describe_failed_check(const PartitionCheckRequest& request,
                                  const PartitionCheckResult& result);

} // namespace sluice::coordinator
