// Graceful stop: SIGUSR1 or SIGTERM asks the run to stop at the next partition boundary.
#pragma once

namespace sluice::coordinator {

/// Installs handlers for SIGUSR1 and SIGTERM that only set a flag. Idempotent.
void install_stop_handlers();
/// True once a stop signal arrived.
bool is_stop_requested() noexcept;

} // namespace sluice::coordinator
