// Work units: the split grid's units of a lake, and their reduce, whose bits do not depend on
// which rank reads which unit nor on whether a partition is split.
#include "coordinator/lake_plan.hpp"
#include "coordinator/unit_reduce.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <thread>

using namespace sluice;
using coordinator::WorkUnit;

namespace {

// Deliberately non-associative, so any change of bracketing changes the bits.
void lopsided_merge(std::vector<double>& into, const std::vector<double>& from) {
  into[0] = (into[0] * 1.0000001 + from[0] / 3.0) * 0.7;
  into[1] += from[1];
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

// Runs reduce_units on `num_ranks` in-process ranks; unit u's segment partials go to owner[u].
std::vector<double> reduce_on(int num_ranks, const std::vector<WorkUnit>& units,
                              const std::vector<int>& owner, std::size_t num_partitions,
                              const std::vector<std::vector<std::vector<double>>>& segments) {
  schedule::InProcessNetwork network(num_ranks);
  std::vector<std::vector<double>> results(static_cast<std::size_t>(num_ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < num_ranks; ++r) {
    threads.emplace_back([&, r] {
      std::map<std::size_t, std::vector<model::Partial>> local;
      for (std::size_t u = 0; u < units.size(); ++u) {
        if (owner[u] == r) local[u] = segments[u];
      }
      results[static_cast<std::size_t>(r)] = coordinator::reduce_units(
          network.endpoint(r), units, owner, num_partitions, std::move(local), lopsided_merge,
          {.is_result_on_all_ranks = false});
    });
  }
  for (auto& thread : threads) thread.join();
  return results[0];
}

std::vector<double> value(double x) { return {x, 1.0}; }

} // namespace

TEST(WorkUnits, partitions_above_the_split_rows_become_one_unit_per_segment) {
  const std::vector<std::int64_t> probed = {-1, 5000, 1000, 1001, 0};
  const std::vector<WorkUnit> units = coordinator::make_units(probed, 1000);
  const std::vector<std::tuple<std::size_t, std::int64_t, std::int64_t>> expected = {
      {0, 0, -1},    {1, 0, 1000},    {1, 1000, 2000}, {1, 2000, 3000}, {1, 3000, 4000},
      {1, 4000, 5000}, {2, 0, -1},    {3, 0, 1000},    {3, 1000, 1001}, {4, 0, -1}};
  ASSERT_EQ(units.size(), expected.size());
  for (std::size_t u = 0; u < units.size(); ++u) {
    EXPECT_EQ(std::tuple(units[u].partition, units[u].first_row, units[u].end_row), expected[u]) << u;
  }
  coordinator::Plan plan;
  plan.units = units;
  using Range = std::pair<std::size_t, std::size_t>;
  EXPECT_EQ(plan.units_of(1), Range(1, 6));
  EXPECT_EQ(plan.units_of(3), Range(7, 9));
  EXPECT_EQ(plan.units_of(4), Range(9, 10));
}

TEST(WorkUnits, reduce_has_the_same_bits_for_any_reader_and_split_or_whole) {
  // Partition 0: 3 segments, 1: 2, 2: 1, 3: 4. Whole: one unit per partition, holding all of its
  // segments; split: one unit per segment.
  const std::vector<std::size_t> segments_per_partition = {3, 2, 1, 4};
  std::vector<WorkUnit> whole, split;
  std::vector<std::vector<std::vector<double>>> whole_segments, split_segments;
  double x = 1.0;
  for (std::size_t p = 0; p < segments_per_partition.size(); ++p) {
    whole.push_back({p, 0, -1});
    whole_segments.emplace_back();
    for (std::size_t s = 0; s < segments_per_partition[p]; ++s) {
      const auto first = static_cast<std::int64_t>(s * 100);
      split.push_back({p, first, first + 100});
      split_segments.push_back({value(x)});
      whole_segments.back().push_back(value(x));
      x = x * 1.7 + 0.3;
    }
  }
  // The reference: each partition's segments folded left to right, then the partition tree.
  std::vector<double> reference;
  {
    std::vector<model::Partial> folded;
    for (const auto& segments : whole_segments) {
      model::Partial f = segments.front();
      for (std::size_t s = 1; s < segments.size(); ++s) lopsided_merge(f, segments[s]);
      folded.push_back(f);
    }
    schedule::InProcessNetwork network(1);
    std::map<std::size_t, std::vector<double>> local;
    for (std::size_t p = 0; p < folded.size(); ++p) local[p] = folded[p];
    reference = schedule::tree_reduce(network.endpoint(0), std::vector<int>(folded.size(), 0),
                                      std::move(local), lopsided_merge);
  }
  EXPECT_TRUE(same_bits(reduce_on(1, whole, std::vector<int>(whole.size(), 0), 4, whole_segments),
                        reference));
  std::mt19937 random(7);
  for (int num_ranks = 1; num_ranks <= 4; ++num_ranks) {
    for (int trial = 0; trial < 10; ++trial) {
      std::vector<int> owner(split.size());
      for (int& o : owner) o = static_cast<int>(random() % static_cast<unsigned>(num_ranks));
      EXPECT_TRUE(same_bits(reduce_on(num_ranks, split, owner, 4, split_segments), reference))
          << num_ranks << " ranks, trial " << trial;
      std::vector<int> whole_owner(whole.size());
      for (int& o : whole_owner) o = static_cast<int>(random() % static_cast<unsigned>(num_ranks));
      EXPECT_TRUE(same_bits(reduce_on(num_ranks, whole, whole_owner, 4, whole_segments), reference))
          << num_ranks << " ranks (whole), trial " << trial;
    }
  }
  // A skipped partition (every unit -1) is left out, as if it contributed nothing.
  std::vector<int> owner(split.size(), 0);
  for (std::size_t u = 3; u < 5; ++u) owner[u] = -1; // partition 1
  std::vector<double> without = reduce_on(2, split, owner, 4, split_segments);
  EXPECT_FALSE(same_bits(without, reference));
  EXPECT_EQ(without[1], 8.0); // 10 segments, 2 left out
}
