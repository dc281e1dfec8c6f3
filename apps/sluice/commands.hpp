// The sluice subcommands: each registers its options on the CLI and runs after parsing.
#pragma once

#include "sluice/job/job_spec.hpp"
#include "sluice/mpi/communicator.hpp"

#include <CLI/CLI.hpp>

#include <atomic>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace sluice::app {

/// What main calls once the command line is parsed; each returns the process exit code. A
/// collective command runs on every rank. A local one only reads and prints files: it runs
/// without MPI in a plain process (so `sluice snapshots list` starts at once, even where MPI
/// cannot start), and on rank 0 alone when a launcher started several copies of it.
struct Command {
  std::function<int(const mpi::Communicator&)> collective;
  std::function<int()> local;
};

void add_run_command(CLI::App& app, Command& selected);
void add_gen_command(CLI::App& app, Command& selected);
void add_inspect_command(CLI::App& app, Command& selected);
void add_snapshots_command(CLI::App& app, Command& selected);
void add_report_command(CLI::App& app, Command& selected);
void add_predict_command(CLI::App& app, Command& selected);
void add_drift_command(CLI::App& app, Command& selected);
void add_serve_command(CLI::App& app, Command& selected);

/// The snapshot named by FILE.h5, or REGISTRY NAME (its current version), or REGISTRY NAME VERSION.
std::filesystem::path resolve_snapshot(const std::vector<std::string>& targets,
                                       const std::string& verb);

/// Runs fn on rank 0 only; its failure is reported like any collective one.
int on_root_only(const mpi::Communicator& comm, const std::function<int()>& fn);

/// Reads the job file on every rank; a bad file is reported once, by every rank alike.
job::JobSpec load_job_everywhere(const mpi::Communicator& comm, const std::string& file);
/// Installs SIGUSR1/SIGTERM handlers (Slurm's --signal and scancel) that set the returned flag,
/// cleared now: a run stops at the next block boundary and saves what it finished.
const std::atomic<bool>& install_stop_handlers();
void add_transform_command(CLI::App& app, Command& selected);
/// Exit code of a run stopped on request with its progress saved (EX_TEMPFAIL).
inline constexpr int exit_stopped = 75;
/// `run` with [publish.gate]: the new model did not beat the champion; nothing was published.
inline constexpr int exit_gate_rejected = 7;
/// `drift`: at least one column drifted past a threshold (a retraining trigger).
inline constexpr int exit_drift_found = 8;

} // namespace sluice::app
