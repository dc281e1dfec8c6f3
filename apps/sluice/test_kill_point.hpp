// --test-kill-at POINT[:RANK[:NTH]]: a hidden testing option that SIGKILLs a rank at a named point.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace sluice::app {

/// The points of a run where the library calls RunOptions::fault_point (run_job.hpp).
inline constexpr std::string_view kill_points[] = {"read", "reduce", "snapshot_written",
                                                   "pointer_moving"};

/// A fault_point callback that raises SIGKILL in this process (rank `rank`) the NTH time POINT is
/// reached on a matching rank (RANK omitted: every rank; NTH omitted: 1). An empty spec gives an
/// empty callback. Throws ConfigError naming the option for a malformed spec or an unknown point.
std::function<void(std::string_view)> make_kill_point(const std::string& spec, int rank);

} // namespace sluice::app
