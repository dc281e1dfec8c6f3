// Tests of the LPT partition planner (pure: no MPI).
#include "sluice/schedule/partition_planner.hpp"

#include <gtest/gtest.h>

#include <numeric>

using sluice::schedule::plan_partitions;

TEST(PartitionPlannerTest, plan_balances_by_rows_longest_first) {
  std::vector<std::int64_t> rows{10, 70, 20, 30, 40, 50};
  auto plan = plan_partitions(rows, 2);
  EXPECT_EQ(plan.rows[0] + plan.rows[1], 220);
  EXPECT_EQ(std::max(plan.rows[0], plan.rows[1]), 110); // LPT reaches the optimum here
  for (std::size_t r = 0; r < 2; ++r) {
    EXPECT_TRUE(std::is_sorted(plan.partitions[r].begin(), plan.partitions[r].end()));
    for (std::size_t i : plan.partitions[r]) EXPECT_EQ(plan.owner[i], static_cast<int>(r));
  }
  EXPECT_NEAR(plan.imbalance(), 1.0, 1e-12);
}

TEST(PartitionPlannerTest, plan_leaves_extra_ranks_idle) {
  std::vector<std::int64_t> rows{5, 5};
  auto plan = plan_partitions(rows, 4);
  EXPECT_EQ(plan.owner[0], 0);
  EXPECT_EQ(plan.owner[1], 1);
  EXPECT_TRUE(plan.partitions[2].empty());
  EXPECT_TRUE(plan.partitions[3].empty());
  EXPECT_EQ(plan.rows[3], 0);
}

TEST(PartitionPlannerTest, plan_is_deterministic_and_handles_skew) {
  std::vector<std::int64_t> rows(100);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<std::int64_t>(100000 / (i + 1));
  auto a = plan_partitions(rows, 7);
  auto b = plan_partitions(rows, 7);
  EXPECT_EQ(a.owner, b.owner);
  // The largest partition bounds the makespan; LPT stays within 4/3 of optimal.
  const double total = static_cast<double>(std::reduce(rows.begin(), rows.end(), std::int64_t{0}));
  const double lower_bound = std::max(total / 7.0, static_cast<double>(rows[0]));
  EXPECT_LE(static_cast<double>(*std::max_element(a.rows.begin(), a.rows.end())), lower_bound * 4.0 / 3.0);
}

TEST(PartitionPlannerTest, plan_of_nothing_is_empty) {
  auto plan = plan_partitions({}, 3);
  EXPECT_TRUE(plan.owner.empty());
  EXPECT_EQ(plan.partitions.size(), 3u);
}

TEST(PartitionPlannerTest, pinned_partitions_keep_their_rank_and_the_rest_balance_around_them) {
  // Partition 1 (70) is pinned to rank 1: LPT then fills rank 0 first with 50, 40 and 20
  // (110) and gives rank 1 the 30 and 10 (110 with the pinned one).
  std::vector<std::int64_t> rows{10, 70, 20, 30, 40, 50};
  std::vector<int> pinned{-1, 1, -1, -1, -1, -1};
  auto plan = plan_partitions(rows, 2, pinned);
  EXPECT_EQ(plan.owner, (std::vector<int>{1, 1, 0, 1, 0, 0}));
  EXPECT_EQ(plan.rows, (std::vector<std::int64_t>{110, 110}));
  EXPECT_EQ(plan.partitions[1], (std::vector<std::size_t>{0, 1, 3}));
  // Pinned to rank 0 where LPT would have put it anyway: the plan is the unpinned one.
  std::vector<int> same{-1, 0, -1, -1, -1, -1};
  EXPECT_EQ(plan_partitions(rows, 2, same).owner, plan_partitions(rows, 2).owner);
  // An owner outside the ranks is no pin.
  std::vector<int> outside{-1, 5, -1, -1, -1, -1};
  EXPECT_EQ(plan_partitions(rows, 2, outside).owner, plan_partitions(rows, 2).owner);
}
