// curate_lake (`sluice transform`): the job's pipeline, fitted across ranks or taken from a
// snapshot, applied to every partition, written as a new lake with a manifest.
#pragma once

#include "sluice/coordinator/run_job.hpp"
#include "sluice/job/job_spec.hpp"
#include "sluice/mpi/communicator.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>

namespace sluice::coordinator {

struct CurateOptions {
  /// Apply this snapshot's fitted pipeline instead of fitting the job's own.
  std::optional<std::filesystem::path> snapshot;
  RunOptions run;
};

struct CurateResult {
  std::int64_t num_partitions = 0;  ///< written now or found complete from an earlier run
  std::int64_t num_reused = 0;      ///< found complete (same pipeline, same source file)
  std::int64_t num_skipped = 0;     ///< bad partitions skipped under on_bad_partition = "skip"
  std::int64_t rows_in = 0;
  std::int64_t rows_out = 0;
  std::int64_t num_fit_passes = 0;
  std::filesystem::path manifest;
  std::uint64_t pipeline_hash = 0;
};

/// Collective. Writes [curate] path/<relative path> for each partition: the pipeline's output
/// columns (float64, chunked, deflated as configured) and a row-index column `_row`, each file
/// under a temporary name renamed when complete; then `_manifest.json` (partitions, rows,
/// content checksums, the pipeline's hash, the sources' checksums). A rerun reuses the
/// partitions already written by the same pipeline from the same source files. Failures are
/// agreed on by every rank; nothing is left under a final name half-written.
CurateResult curate_lake(const mpi::Communicator& comm, const job::JobSpec& job,
                         const CurateOptions& options);

} // namespace sluice::coordinator
