// The library's side of isolated checks: what to ask for, and what a failed check means.
#include "isolated_check.hpp"

#include "sluice/coordinator/partition_check.hpp"
#include "sluice/error.hpp"

#include <fmt/format.h>
#include <fmt/std.h>

#include <csignal>
#include <cmath>

namespace sluice::coordinator {
namespace {

// The name a signal is known by; the number alone for others.
std::string signal_name(int signal) {
  switch (signal) {
  case SIGSEGV: return "SIGSEGV";
  case SIGBUS: return "SIGBUS";
  case SIGABRT: return "SIGABRT";
  case SIGFPE: return "SIGFPE";
  case SIGILL: return "SIGILL";
  case SIGKILL: return "SIGKILL";
  case SIGXCPU: return "SIGXCPU";
  case SIGTRAP: return "SIGTRAP";
  case SIGSYS: return "SIGSYS";
  default: return fmt::format("signal {}", signal);
  }
}

// The address space the reader needs beyond the program itself: a block of every column (twice,
// as the run reads them), and a chunk inflating into a buffer that doubles, with a margin.
std::int64_t automatic_memory_bytes(const job::JobSpec& job, std::size_t num_columns) {
  constexpr std::int64_t base = std::int64_t{1} << 30;
  const auto columns = static_cast<std::int64_t>(std::max<std::size_t>(num_columns, 1));
  return base + 2 * job.lake.block_rows * columns * static_cast<std::int64_t>(sizeof(double)) +
         4 * job.lake.max_chunk_bytes;
}

} // namespace

std::string describe_failed_check(const PartitionCheckRequest& request,
                                  const PartitionCheckResult& result) {
  using Status = PartitionCheckResult::Status;
  const std::string where = fmt::format("partition {}", request.path);
  switch (result.status) {
  case Status::refused: return result.message;
  case Status::timed_out:
    return fmt::format("{}: opening and reading it in an isolated process did not finish within "
                       "{:g} s (lake.isolate_timeout_s): libhdf5 hangs or loops on the file, or "
                       "the limit is too low for its size; the partition is refused",
                       where, request.timeout_s);
  case Status::signalled:
    if (result.signal == SIGXCPU) {
      return fmt::format("{}: opening and reading it in an isolated process used more than its "
                         "CPU-time limit of {:g} s (RLIMIT_CPU, lake.isolate_timeout_s); the "
                         "partition is refused",
                         where, std::ceil(request.timeout_s));
    }
    if (result.signal == SIGKILL) {
      // Not sent by the run (a timeout is reported as such): the hard CPU-time limit, or the
      // kernel's out-of-memory killer.
      return fmt::format("{}: the isolated process checking it was killed (SIGKILL: its hard "
                         "CPU-time limit of {:g} s, or the system ran out of memory); the "
                         "partition is refused",
                         where, std::ceil(request.timeout_s) + 2);
    }
    return fmt::format("{}: libhdf5 crashed ({}) while checking it in an isolated process (a "
                       "crafted or corrupt file; limits: {} bytes of address space, {:g} s); the "
                       "partition is refused, and this process never opens it",
                       where, signal_name(result.signal), request.memory_bytes, request.timeout_s);
  case Status::passed:
  case Status::abandoned: break;
  }
  return fmt::format("{}: the isolated check ended without a verdict", where);
}

PartitionCheckRequest make_check_request(const job::JobSpec& job, const std::filesystem::path& path,
                                         const std::vector<std::string>& columns) {
  return {.path = path,
          .group = job.lake.group,
          .columns = columns,
          .limits = {.max_column_bytes = job.lake.max_column_bytes,
                     .max_chunk_bytes = job.lake.max_chunk_bytes},
          .block_rows = job.lake.block_rows,
          .memory_bytes = job.lake.isolate_memory_bytes > 0
                              ? job.lake.isolate_memory_bytes
                              : automatic_memory_bytes(job, columns.size()),
          .timeout_s = job.lake.isolate_timeout_s};
}

namespace {

void require_checker(const job::JobSpec& job, const RunOptions& options) {
  if (!options.check_partition) {
    throw ConfigError(fmt::format("{}: lake.isolate = true, but this program cannot start "
                                  "isolated checks (no partition checker was given to the run)",
                                  job.source));
  }
}

} // namespace

void require_isolated_check(const job::JobSpec& job, const RunOptions& options,
                            const std::filesystem::path& path,
                            const std::vector<std::string>& columns) {
  if (!job.lake.isolate) return;
  require_checker(job, options);
  const PartitionCheckRequest request = make_check_request(job, path, columns);
  const PartitionCheckResult result = options.check_partition(request);
  if (result.status != PartitionCheckResult::Status::passed) {
    throw DataError(describe_failed_check(request, result));
  }
}

IsolatedVerdict check_in_isolation(const PartitionTask& task, const RunOptions& options) {
  // Only the first pass: a partition refused there is never planned again, and one that passed
  // was read by this process already.
  if (!task.job->lake.isolate || !task.may_skip) return {};
  require_checker(*task.job, options);
  PartitionCheckRequest request =
      make_check_request(*task.job, task.partition->path, task.trainer->columns());
  // Zero blocks done: a stop request ends the wait, and the wait keeps the rank's heartbeat.
  if (task.should_stop) request.should_abandon = [&task] { return task.should_stop(0); };
  const PartitionCheckResult result = options.check_partition(request);
  using Status = PartitionCheckResult::Status;
  if (result.status == Status::passed) return {};
  if (result.status == Status::abandoned) return {.is_interrupted = true};
  return {.refusal = describe_failed_check(request, result)};
}

} // namespace sluice::coordinator
