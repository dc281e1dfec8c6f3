// run_job: the whole batch flow on every rank, from lake discovery to a published snapshot.
#pragma once

#include "sluice/error.hpp"
#include "sluice/job/job_spec.hpp"
#include "sluice/model/trainer.hpp"
#include "sluice/mpi/communicator.hpp"
#include "sluice/schedule/collective.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>

namespace sluice::coordinator {

/// Thrown on every rank when a stop was requested: the first pass's finished partitions were
/// saved to a checkpoint that the next run of the same job resumes from.
class StoppedError : public schedule::AgreedError {
public:
  using AgreedError::AgreedError;
};

struct RunOptions {
  int threads = 0;              ///< overrides the job's [run] threads when > 0
  bool is_publishing = true;    ///< false: fit and report, publish nothing
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
};

struct RunResult {
  std::shared_ptr<const model::FittedModel> model; ///< on every rank
  model::Metrics metrics;              ///< on every rank
  int num_passes = 0;
  std::int64_t version = 0;            ///< published version (0 if not publishing)
  std::filesystem::path snapshot_path; ///< on every rank
  std::int64_t num_rows = 0;
  std::int64_t num_partitions = 0;
  std::int64_t num_resumed_partitions = 0;
  double seconds = 0.0;
};

/// Collective over comm. Runs the job; any rank's failure becomes the same sluice::Error on every
/// rank, and nothing is published unless every step succeeded.
RunResult run_job(const mpi::Communicator& comm, const job::JobSpec& job,
                  const RunOptions& options = {});

/// The OpenMP threads a rank uses: options, then the job file, then OMP_NUM_THREADS, else 1.
int threads_per_rank(const job::JobSpec& job, const RunOptions& options);

} // namespace sluice::coordinator
