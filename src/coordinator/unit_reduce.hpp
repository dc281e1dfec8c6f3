// reduce_units: a pass's work-unit partials merged into one, with bits fixed by the lake alone.
#pragma once

#include "lake_plan.hpp"

#include "sluice/model/trainer.hpp"
#include "sluice/schedule/transport.hpp"
#include "sluice/schedule/tree_reduce.hpp"

#include <map>
#include <span>
#include <vector>

namespace sluice::coordinator {

/// Collective. `unit_partials` holds this rank's units, each as its partials per segment of the
/// split grid. First each partition's segments are folded in row order on the partition's home
/// (the rank holding its first unit): the partial of a split read elsewhere is sent there. Then
/// the partitions merge along the tree fixed by partition index. A split is one segment, so the
/// fold is the same left fold over segments whichever ranks read which units, and so are the bits.
/// unit_owner: the rank holding each unit's partials, -1 for none (a skipped partition).
model::Partial reduce_units(schedule::Transport& transport, const std::vector<WorkUnit>& units,
                            std::span<const int> unit_owner, std::size_t num_partitions,
                            std::map<std::size_t, std::vector<model::Partial>> unit_partials,
                            const schedule::MergeFunction& merge,
                            const schedule::TreeReduceOptions& options);

} // namespace sluice::coordinator
