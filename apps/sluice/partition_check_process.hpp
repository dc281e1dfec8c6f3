// Isolated partition checks for `sluice run`: one limited process per partition reads it first.
#pragma once

#include "sluice/coordinator/partition_check.hpp"

namespace sluice::app {

/// The checker `sluice run` gives the library: starts sluice-check-partition (found beside this
/// program) with the request as arguments and its output on a pipe, and waits for that process
/// only (waitpid on its pid), killing it at the request's wall-clock limit or when
/// should_abandon says so. The process sets its own limits (RLIMIT_AS, RLIMIT_CPU, no core
/// file). Safe to call from several threads at once.
coordinator::PartitionChecker make_partition_checker();

} // namespace sluice::app
