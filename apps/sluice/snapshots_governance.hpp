// The registry-governance verbs of `sluice snapshots`: alias, rollback, gc, verify, history, diff.
#pragma once

#include "commands.hpp"

namespace sluice::app {

/// Adds alias set|rm|list, rollback, gc, verify, history and diff under `snapshots`.
void add_governance_subcommands(CLI::App& snapshots, Command& selected);

} // namespace sluice::app
