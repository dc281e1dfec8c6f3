// Tests of SufficientStats: merging equals computing on the concatenation; serialisation is exact.
#include "sluice/model/sufficient_stats.hpp"

#include "direct_stats.hpp"
#include "sluice/error.hpp"

#include <gtest/gtest.h>

using sluice::model::SufficientStats;

using sluice::testing_support::direct_stats;

TEST(SufficientStatsTest, merge_equals_statistics_of_concatenated_rows) {
  Eigen::MatrixXd rows = Eigen::MatrixXd::Random(300, 4);
  rows.col(0).array() += 1e6; // far from the origin: where naive sums lose digits
  SufficientStats merged = SufficientStats::empty(4);
  for (Eigen::Index start : {0, 7, 150}) {
    const Eigen::Index end = start == 0 ? 7 : (start == 7 ? 150 : 300);
    merged.merge(direct_stats(rows.middleRows(start, end - start)));
  }
  SufficientStats expected = direct_stats(rows);
  EXPECT_EQ(merged.count, 300);
  EXPECT_LT((merged.mean - expected.mean).norm() / expected.mean.norm(), 1e-15);
  Eigen::MatrixXd full = merged.comoment.selfadjointView<Eigen::Lower>();
  // Both sides round centred values of size ~1 taken from values of size 1e6: each carries a
  // relative error of order 1e6·eps ≈ 2e-10, so that is the tightest honest bound.
  EXPECT_LT((full - expected.comoment).norm() / expected.comoment.norm(), 5e-10);
}

TEST(SufficientStatsTest, merge_with_empty_is_identity) {
  SufficientStats a = direct_stats(Eigen::MatrixXd::Random(10, 3));
  SufficientStats copy = a;
  a.merge(SufficientStats::empty(3));
  EXPECT_EQ(a.count, copy.count);
  EXPECT_EQ(a.mean, copy.mean);
  SufficientStats empty = SufficientStats::empty(3);
  empty.merge(copy);
  EXPECT_EQ(empty.mean, copy.mean);
  EXPECT_EQ(empty.comoment, copy.comoment);
}

TEST(SufficientStatsTest, buffer_round_trip_is_bitwise) {
  SufficientStats a = direct_stats(Eigen::MatrixXd::Random(50, 5));
  auto buffer = a.to_buffer();
  ASSERT_EQ(buffer.size(), SufficientStats::buffer_size(5));
  SufficientStats b = SufficientStats::from_buffer(buffer, 5);
  EXPECT_EQ(b.count, a.count);
  EXPECT_EQ(b.mean, a.mean);
  // Only the lower triangle travels (and is ever read): a symmetric matrix as one triangle.
  EXPECT_EQ(buffer.size(), 1u + 5u + 15u);
  Eigen::MatrixXd lower_a = a.comoment.triangularView<Eigen::Lower>();
  Eigen::MatrixXd lower_b = b.comoment.triangularView<Eigen::Lower>();
  EXPECT_EQ(lower_b, lower_a);
  EXPECT_EQ(SufficientStats::columns_of_buffer(buffer.size()), 5);
  EXPECT_EQ(SufficientStats::columns_of_buffer(buffer.size() + 1), -1);
  EXPECT_THROW(SufficientStats::from_buffer(std::span<const double>(buffer).first(3), 5),
               sluice::Error);
}
