// The partition-indexed merge tree: homes by level, and the level-by-level exchange.
#include "sluice/schedule/tree_reduce.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>

namespace sluice::schedule {
void combine(std::vector<double>& into, std::vector<double> right, const MergeFunction& merge) {
  if (right.empty()) return;
  if (into.empty()) {
    into = std::move(right);
    return;
  }
  merge(into, right);
}

std::vector<std::vector<int>> merge_tree_homes(std::span<const int> leaf_owner) {
  std::vector<std::vector<int>> homes;
  homes.emplace_back(leaf_owner.begin(), leaf_owner.end());
  for (int& home : homes.back()) home = std::max(home, -1);
  while (homes.back().size() > 1) {
    const std::vector<int>& below = homes.back();
    std::vector<int> level((below.size() + 1) / 2, -1);
    for (std::size_t j = 0; j < level.size(); ++j) {
      level[j] = below[2 * j] >= 0 ? below[2 * j]
                 : 2 * j + 1 < below.size() ? below[2 * j + 1]
                                            : -1;
    }
    homes.push_back(std::move(level));
  }
  return homes;
}

std::vector<double> tree_reduce(Transport& transport, std::span<const int> leaf_owner,
                                std::map<std::size_t, std::vector<double>> local,
                                const MergeFunction& merge, const TreeReduceOptions& options) {
  const int me = transport.rank();
  std::vector<double> result;
  if (leaf_owner.empty()) return result;
  const std::vector<std::vector<int>> homes = merge_tree_homes(leaf_owner);
  for (const auto& [index, partial] : local) {
    if (index >= leaf_owner.size() || leaf_owner[index] != me) {
      throw Error(fmt::format("tree_reduce: rank {} holds partition {} it does not own", me, index));
    }
  }
  // values: this rank's nodes of the current level, by node index. A node whose parent lives
  // elsewhere is sent as soon as the level is done; messages between two ranks then arrive in
  // (level, node) order, the order the receiver asks for them.
  std::map<std::size_t, std::vector<double>> values;
  for (std::size_t i = 0; i < leaf_owner.size(); ++i) {
    if (homes[0][i] == me) {
      auto found = local.find(i);
      values[i] = found == local.end() ? std::vector<double>{} : std::move(found->second);
    }
  }
  for (std::size_t level = 1; level < homes.size(); ++level) {
    for (auto& [j, value] : values) {
      const int parent = homes[level][j / 2];
      if (parent != me) transport.send(parent, std::move(value));
    }
    std::map<std::size_t, std::vector<double>> next;
    const std::vector<int>& below = homes[level - 1];
    for (std::size_t j = 0; j < homes[level].size(); ++j) {
      if (homes[level][j] != me) continue;
      std::vector<double> node;
      for (std::size_t child = 2 * j; child < std::min(2 * j + 2, below.size()); ++child) {
        if (below[child] < 0) continue;
        std::vector<double> value = below[child] == me ? std::move(values.at(child))
                                                        : transport.receive(below[child]);
        combine(node, std::move(value), merge);
      }
      next[j] = std::move(node);
    }
    values = std::move(next);
  }
  const int top = homes.back()[0];
  if (top == me) result = std::move(values.at(0));
  transport.complete_sends();
  if (top < 0) return result;
  if (options.is_result_on_all_ranks) {
    transport.broadcast(result, top);
  } else if (top != 0) {
    if (me == top) transport.send(0, result);
    if (me == 0) result = transport.receive(top);
    transport.complete_sends();
  }
  if (!options.is_result_on_all_ranks && me != 0) result.clear();
  return result;
}

} // namespace sluice::schedule
