// Segments folded on each partition's home, then the partition-indexed merge tree.
#include "unit_reduce.hpp"

namespace sluice::coordinator {
namespace {

using schedule::combine;

model::Partial fold(std::vector<model::Partial> segments, const schedule::MergeFunction& merge) {
  model::Partial result;
  for (model::Partial& segment : segments) combine(result, std::move(segment), merge);
  return result;
}

} // namespace

model::Partial reduce_units(schedule::Transport& transport, const std::vector<WorkUnit>& units,
                            std::span<const int> unit_owner, std::size_t num_partitions,
                            std::map<std::size_t, std::vector<model::Partial>> unit_partials,
                            const schedule::MergeFunction& merge,
                            const schedule::TreeReduceOptions& options) {
  const int me = transport.rank();
  std::vector<int> home(num_partitions, -1);
  for (std::size_t u = 0; u < units.size(); ++u) {
    int& partition_home = home[units[u].partition];
    if (partition_home < 0 && unit_owner[u] >= 0) partition_home = unit_owner[u];
  }
  const auto take = [&](std::size_t u) {
    auto found = unit_partials.find(u);
    if (found == unit_partials.end()) return model::Partial{}; // skipped here (curation)
    return fold(std::move(found->second), merge);
  };
  // Sends first, in unit order (the order the home receives them in), so no rank waits on
  // another that is itself waiting.
  for (std::size_t u = 0; u < units.size(); ++u) {
    const int partition_home = home[units[u].partition];
    if (unit_owner[u] == me && partition_home != me) transport.send(partition_home, take(u));
  }
  std::map<std::size_t, std::vector<double>> local;
  for (std::size_t u = 0; u < units.size();) {
    const std::size_t partition = units[u].partition;
    std::size_t end = u;
    while (end < units.size() && units[end].partition == partition) ++end;
    if (home[partition] == me) {
      model::Partial node;
      for (std::size_t v = u; v < end; ++v) {
        if (unit_owner[v] < 0) continue;
        combine(node, unit_owner[v] == me ? take(v) : transport.receive(unit_owner[v]), merge);
      }
      local[partition] = std::move(node);
    }
    u = end;
  }
  return schedule::tree_reduce(transport, home, std::move(local), merge, options);
}

} // namespace sluice::coordinator
