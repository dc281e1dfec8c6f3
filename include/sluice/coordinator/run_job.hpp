// run_job: the whole batch flow on every rank, from lake discovery to a published snapshot.
#pragma once

#include "sluice/coordinator/partition_check.hpp"
#include "sluice/error.hpp"
#include "sluice/job/job_spec.hpp"
#include "sluice/model/trainer.hpp"
#include "sluice/mpi/communicator.hpp"
#include "sluice/schedule/collective.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::coordinator {

/// Thrown on every rank when a stop was requested: the first pass's finished partitions are in
/// the partial cache, from which the next run of the same job resumes.
class StoppedError : public schedule::AgreedError {
public:
  using AgreedError::AgreedError;
};

struct RunOptions {
  int threads = 0;              ///< overrides the job's [run] threads when > 0
  bool is_publishing = true;    ///< false: fit and report, publish nothing
  /// false: neither read nor fill the partial cache ([cache]) — a full retrain.
  bool use_partial_cache = true;
  /// Set by the application (e.g. from a SIGUSR1/SIGTERM handler) to ask the run to stop at the
  /// next partition boundary; the library never installs signal handlers itself.
  const std::atomic<bool>* stop_requested = nullptr;
  /// Test hook: behave as if a stop was requested after this many partitions on each rank.
  std::int64_t stop_after_partitions = -1;
  /// Test hook: behave as if a stop was requested after this many blocks of any one partition
  /// (a stop is honoured between blocks, so a huge partition cannot delay it).
  std::int64_t stop_after_blocks = -1;
  /// Test hook: sleep this long between blocks, so that fault tests find the job still running
  /// on any machine (`sluice run --test-block-delay-ms`).
  std::int64_t test_block_delay_ms = 0;
  /// Test hook: only this rank pauses (-1: every rank), to play a slow node
  /// (`sluice run --test-slow-rank`).
  int test_slow_rank = -1;
  /// Test hook: called with the name of each point a fault-injection test may stop the run at:
  /// "read" (a partition finished on this rank), "reduce" (before a pass's merge),
  /// "snapshot_written" (root: the snapshot complete under its temporary name, not yet linked
  /// into place) and "pointer_moving" (root: just before CURRENT is renamed). The library only
  /// calls it; the application decides what happens (`sluice run --test-kill-at`).
  std::function<void(std::string_view)> fault_point;
  /// Under `[lake] isolate = true`: checks each partition in another process before the first
  /// pass opens it (partition_check.hpp). The application provides it; a job asking for
  /// isolation without one fails before reading.
  PartitionChecker check_partition;
};

/// What a champion/challenger gate ([publish.gate]) decided.
struct GateResult {
  bool is_accepted = true;   ///< false: nothing was published (sluice run exits 7)
  std::optional<std::int64_t> champion_version; ///< what the alias named (none: no champion)
  std::optional<double> champion_value;
  double challenger_value = 0.0;
  std::string summary;       ///< one line, also the reason recorded in the history
};

struct RunResult {
  std::shared_ptr<const model::FittedModel> model; ///< on every rank
  model::Metrics metrics;              ///< on every rank
  int num_passes = 0;
  std::int64_t version = 0;            ///< published version (0 if not publishing)
  std::filesystem::path snapshot_path; ///< on every rank
  std::int64_t num_rows = 0;
  std::int64_t num_partitions = 0;
  std::int64_t num_cached_partitions = 0; ///< first pass taken from the partial cache
  std::int64_t num_read_partitions = 0;   ///< opened and read in the first pass
  std::int64_t warm_start_version = 0;    ///< the version an iterative fit started from; 0: cold
  double seconds = 0.0;
  std::optional<GateResult> gate; ///< set when the job has a gate and was publishing
};

/// Collective over comm. Runs the job; any rank's failure becomes the same sluice::Error on every
/// rank, and nothing is published unless every step succeeded.
RunResult run_job(const mpi::Communicator& comm, const job::JobSpec& job,
                  const RunOptions& options = {});

/// The OpenMP threads a rank uses: options, then the job file, then OMP_NUM_THREADS, else 1.
int threads_per_rank(const job::JobSpec& job, const RunOptions& options);

} // namespace sluice::coordinator
