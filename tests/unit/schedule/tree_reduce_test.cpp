// The merge tree: homes by level, identical bits on any rank count, bounded work on rank 0.
#include "sluice/schedule/tree_reduce.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <thread>

using namespace sluice::schedule;

namespace {

// Deliberately non-associative, so any change of bracketing changes the bits.
void lopsided_merge(std::vector<double>& into, const std::vector<double>& from) {
  into[0] = (into[0] * 1.0000001 + from[0] / 3.0) * 0.7;
  into[1] += from[1];
}

std::vector<double> run_on(int num_ranks, const std::vector<int>& owner,
                           const std::vector<std::vector<double>>& leaves,
                           std::vector<std::int64_t>* received = nullptr,
                           TreeReduceOptions options = {}) {
  InProcessNetwork network(num_ranks);
  std::vector<std::vector<double>> results(static_cast<std::size_t>(num_ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < num_ranks; ++r) {
    threads.emplace_back([&, r] {
      std::map<std::size_t, std::vector<double>> local;
      for (std::size_t i = 0; i < owner.size(); ++i) {
        if (owner[i] == r) local[i] = leaves[i];
      }
      results[static_cast<std::size_t>(r)] =
          tree_reduce(network.endpoint(r), owner, std::move(local), lopsided_merge, options);
    });
  }
  for (auto& thread : threads) thread.join();
  if (received != nullptr) {
    for (int r = 0; r < num_ranks; ++r) received->push_back(network.num_received(r));
  }
  for (int r = 1; r < num_ranks && options.is_result_on_all_ranks; ++r) {
    EXPECT_EQ(results[static_cast<std::size_t>(r)], results[0]) << "rank " << r;
  }
  return results[0];
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

} // namespace

TEST(TreeReduceTest, homes_follow_lowest_participating_leaf) {
  const std::vector<int> owner = {-1, 2, 1, 1, -1, -1, 0};
  auto homes = merge_tree_homes(owner);
  ASSERT_EQ(homes.size(), 4u);
  EXPECT_EQ(homes[1], (std::vector<int>{2, 1, -1, 0}));
  EXPECT_EQ(homes[2], (std::vector<int>{2, 0}));
  EXPECT_EQ(homes[3], (std::vector<int>{2}));
}

TEST(TreeReduceTest, result_bits_do_not_depend_on_rank_count_or_ownership) {
  std::mt19937_64 random(5);
  std::normal_distribution<double> normal;
  const std::size_t num_partitions = 37;
  std::vector<std::vector<double>> leaves;
  for (std::size_t i = 0; i < num_partitions; ++i) leaves.push_back({normal(random), 1.0});
  leaves[5].clear();  // a partition that contributed nothing
  leaves[20].clear();
  std::vector<int> single(num_partitions, 0);
  single[11] = -1;    // one that takes no part at all
  const std::vector<double> reference = run_on(1, single, leaves);
  ASSERT_EQ(reference.size(), 2u);
  EXPECT_EQ(reference[1], 34.0);
  for (int num_ranks : {2, 3, 4, 7}) {
    for (int trial = 0; trial < 3; ++trial) {
      std::vector<int> owner(num_partitions);
      for (auto& o : owner) o = static_cast<int>(random() % static_cast<std::uint64_t>(num_ranks));
      owner[11] = -1;
      EXPECT_TRUE(same_bits(run_on(num_ranks, owner, leaves), reference))
          << num_ranks << " ranks, trial " << trial;
    }
  }
}

TEST(TreeReduceTest, rank_zero_receives_its_share_plus_one_message_per_level) {
  const std::size_t num_partitions = 1024;
  const int num_ranks = 16;
  std::vector<std::vector<double>> leaves(num_partitions, std::vector<double>{1.0, 1.0});
  std::vector<int> owner(num_partitions);
  for (std::size_t i = 0; i < num_partitions; ++i) owner[i] = static_cast<int>(i % num_ranks);
  std::vector<std::int64_t> received;
  run_on(num_ranks, owner, leaves, &received, {.is_result_on_all_ranks = false});
  // Rank 0 owns 64 strided leaves: each is the lowest leaf of a node at each of the log2(16)
  // levels where the strides of the other ranks meet it, and the levels above are its own.
  EXPECT_EQ(received[0], 64 * 4);
  EXPECT_EQ(received[5], 0); // rank 5 is never the lowest leaf of a pair
  // Blocks of contiguous partitions: rank 0 receives one message per level above its block.
  for (std::size_t i = 0; i < num_partitions; ++i) owner[i] = static_cast<int>(i / 64);
  received.clear();
  run_on(num_ranks, owner, leaves, &received, {.is_result_on_all_ranks = false});
  EXPECT_EQ(received[0], 4);
}

TEST(TreeReduceTest, nothing_participating_gives_empty_everywhere) {
  EXPECT_TRUE(run_on(3, {-1, -1, -1}, {{1.0, 1.0}, {1.0, 1.0}, {1.0, 1.0}}).empty());
  EXPECT_TRUE(run_on(2, {}, {}).empty());
}
