// What the job-running commands share: reading the job file everywhere, and stop signals.
#include "commands.hpp"

#include "sluice/schedule/collective.hpp"

#include <csignal>

namespace sluice::app {
namespace {

std::atomic<bool> stop_requested{false};

extern "C" void on_job_stop_signal(int) { stop_requested.store(true); }

} // namespace

job::JobSpec load_job_everywhere(const mpi::Communicator& comm, const std::string& file) {
  std::optional<schedule::LocalFailure> failure;
  job::JobSpec job;
  try {
    job = job::load_job(file);
  } catch (const Error& error) {
    failure = schedule::LocalFailure::of(0, error);
  }
  schedule::raise_if_any_failed(comm, failure);
  return job;
}

const std::atomic<bool>& install_stop_handlers() {
  stop_requested.store(false);
  struct sigaction action {};
  action.sa_handler = on_job_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  return stop_requested;
}

} // namespace sluice::app
