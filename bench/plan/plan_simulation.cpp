// Planner and merge-tree simulation at scale, without MPI: plans P partitions (log-normal file
// sizes) over R ranks with the same functions `sluice run` calls, builds the merge tree's homes,
// counts the messages the reduce would send, and reports the time and peak memory against the
// target (planning 1,000,000 partitions over 10,000 ranks in under 2 s on one core).
//   sluice_plan_simulation [--partitions 1000000] [--ranks 10000] [--seed 1]
#include "sluice/schedule/partition_planner.hpp"
#include "sluice/schedule/tree_reduce.hpp"

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// File sizes around 64 MiB, log-normal with sigma 1 (a lake of uneven partitions).
std::vector<std::int64_t> lake_sizes(std::size_t count, std::uint64_t seed) {
  std::vector<std::int64_t> sizes(count);
  for (std::int64_t& size : sizes) {
    const double u1 = (static_cast<double>(splitmix(seed) >> 11) + 0.5) * 0x1p-53;
    const double u2 = (static_cast<double>(splitmix(seed) >> 11) + 0.5) * 0x1p-53;
    const double normal = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    size = static_cast<std::int64_t>(64.0 * 1048576.0 * std::exp(normal));
  }
  return sizes;
}

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

} // namespace

int main(int argc, char** argv) {
  std::size_t partitions = 1000000;
  int ranks = 10000;
  std::uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--partitions") == 0) partitions = std::strtoull(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--ranks") == 0) ranks = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--seed") == 0) seed = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: %s [--partitions N] [--ranks R] [--seed S]\n", argv[0]);
      return 2;
    }
  }
  if (partitions == 0 || ranks < 1) {
    std::fprintf(stderr, "--partitions and --ranks must be positive\n");
    return 2;
  }
  const std::vector<std::int64_t> sizes = lake_sizes(partitions, seed);
  const double base_rss = peak_rss_mib();
  using Clock = std::chrono::steady_clock;

  const auto plan_start = Clock::now();
  const sluice::schedule::Assignment assignment = sluice::schedule::plan_partitions(sizes, ranks);
  const double plan_s = std::chrono::duration<double>(Clock::now() - plan_start).count();

  const auto tree_start = Clock::now();
  const std::vector<std::vector<int>> homes = sluice::schedule::merge_tree_homes(assignment.owner);
  const double tree_s = std::chrono::duration<double>(Clock::now() - tree_start).count();

  // A node whose child lives elsewhere costs one message; the busiest rank merges the most.
  std::int64_t messages = 0;
  std::vector<std::int64_t> merges(static_cast<std::size_t>(ranks), 0);
  for (std::size_t level = 1; level < homes.size(); ++level) {
    for (std::size_t node = 0; node < homes[level].size(); ++node) {
      const int home = homes[level][node];
      if (home < 0) continue;
      for (std::size_t child = 2 * node; child < 2 * node + 2 && child < homes[level - 1].size(); ++child) {
        const int child_home = homes[level - 1][child];
        if (child_home < 0) continue;
        if (child_home != home) ++messages;
        if (child != 2 * node) ++merges[static_cast<std::size_t>(home)];
      }
    }
  }
  std::int64_t busiest = 0;
  for (std::int64_t m : merges) busiest = std::max(busiest, m);
  const double total_s = plan_s + tree_s;
  std::printf("plan_simulation partitions=%zu ranks=%d plan_s=%.3f tree_s=%.3f total_s=%.3f "
              "imbalance=%.4f tree_levels=%zu messages=%lld busiest_rank_merges=%lld "
              "peak_rss_mib=%.1f input_rss_mib=%.1f\n",
              partitions, ranks, plan_s, tree_s, total_s, assignment.imbalance(), homes.size(),
              static_cast<long long>(messages), static_cast<long long>(busiest), peak_rss_mib(), base_rss);
  std::printf("verdict: planning + merge tree %.3f s %s the 2 s target on one core\n", total_s,
              total_s < 2.0 ? "PASS, within" : "MISS, beyond");
  return 0;
}
