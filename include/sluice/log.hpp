// Logging set-up: only rank 0 logs at info level by default, every rank logs warnings and errors.
#pragma once

namespace sluice {

/// Configures the default spdlog logger for a process of the given rank.
void configure_logging(int rank, bool is_verbose);

} // namespace sluice
