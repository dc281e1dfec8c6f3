// Async-signal-safe stop flag set by SIGUSR1/SIGTERM (Slurm's --signal and scancel).
#include "stop_signal.hpp"

#include <atomic>
#include <csignal>

namespace sluice::coordinator {
namespace {

volatile std::sig_atomic_t stop_flag = 0;

extern "C" void on_stop_signal(int) { stop_flag = 1; }

} // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool is_stop_requested() noexcept { return stop_flag != 0; }

} // namespace sluice::coordinator
