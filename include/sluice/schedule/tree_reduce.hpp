// tree_reduce: merge per-partition partials along a binary tree fixed by partition index.
#pragma once

#include "sluice/schedule/transport.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <vector>

namespace sluice::schedule {

/// into ← into ⊕ from, where into covers lower partition indices. Never called with an empty side.
using MergeFunction = std::function<void(std::vector<double>& into, const std::vector<double>& from)>;

/// into ⊕ right, where an empty vector stands for "nothing" (a leaf that contributed nothing):
/// the merge the tree applies at every node.
void combine(std::vector<double>& into, std::vector<double> right, const MergeFunction& merge);

/// The tree over n leaves: level 0 holds the leaves, node j of level l covers leaves
/// [j·2^l, (j+1)·2^l). A node is computed on its home: the owner of its lowest participating leaf
/// (leaf_owner[i] < 0: partition i takes no part). homes[l][j] is that rank, or -1.
std::vector<std::vector<int>> merge_tree_homes(std::span<const int> leaf_owner);

struct TreeReduceOptions {
  bool is_result_on_all_ranks = true; ///< false: only rank 0 receives the result
};

/// Collective over the transport. `local` holds this rank's partials, by partition index, for the
/// leaves it owns (an empty vector is the identity). Each node is merged on its home, which
/// receives only its children's values, so a rank's work is its own leaves plus one merge per
/// level it is home of: rank 0 does not merge every partial. The shape, and so every bit of the
/// result, depends only on the partition indices and the partials, never on the rank count.
/// Returns the merged partial (empty when nothing participated) on every rank, or on rank 0 only.
std::vector<double> tree_reduce(Transport& transport, std::span<const int> leaf_owner,
                                std::map<std::size_t, std::vector<double>> local,
                                const MergeFunction& merge, const TreeReduceOptions& options = {});

} // namespace sluice::schedule
