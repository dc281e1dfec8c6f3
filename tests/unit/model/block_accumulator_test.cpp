// Tests of BlockAccumulator: thread-count independence to the bit, non-finite handling.
#include "sluice/model/block_accumulator.hpp"

#include "direct_stats.hpp"

#include <gtest/gtest.h>

#include <limits>

using namespace sluice::model;

namespace {

SufficientStats accumulate(const Eigen::MatrixXd& data, std::int64_t block_rows, int threads,
                           NonFinitePolicy policy = NonFinitePolicy::error,
                           NonFiniteReport* report = nullptr) {
  BlockAccumulator accumulator(data.cols(), {.nonfinite = policy, .num_threads = threads});
  for (std::int64_t start = 0; start < data.rows(); start += block_rows) {
    const std::int64_t count = std::min<std::int64_t>(block_rows, data.rows() - start);
    Eigen::MatrixXd block = data.middleRows(start, count);
    accumulator.add_block(block.data(), block.rows(), count);
  }
  if (report != nullptr) *report = accumulator.nonfinite();
  return accumulator.stats();
}

} // namespace

TEST(BlockAccumulatorTest, add_block_matches_direct_statistics) {
  Eigen::MatrixXd data = Eigen::MatrixXd::Random(10000, 6);
  SufficientStats stats = accumulate(data, 3000, 1);
  Eigen::VectorXd mean = data.colwise().mean().transpose();
  Eigen::MatrixXd centred = data.rowwise() - mean.transpose();
  Eigen::MatrixXd expected = centred.transpose() * centred;
  Eigen::MatrixXd full = stats.comoment.selfadjointView<Eigen::Lower>();
  EXPECT_EQ(stats.count, 10000);
  EXPECT_LT((stats.mean - mean).norm(), 1e-14);
  EXPECT_LT((full - expected).norm() / expected.norm(), 1e-13);
}

TEST(BlockAccumulatorTest, add_block_bits_do_not_depend_on_thread_count) {
  Eigen::MatrixXd data = Eigen::MatrixXd::Random(20000, 9);
  SufficientStats one = accumulate(data, 8192, 1);
  for (int threads : {2, 3, 4}) {
    SufficientStats many = accumulate(data, 8192, threads);
    EXPECT_EQ(many.mean, one.mean) << threads << " threads";
    EXPECT_EQ(many.comoment, one.comoment) << threads << " threads";
  }
}

TEST(BlockAccumulatorTest, add_block_reports_first_nonfinite_value) {
  Eigen::MatrixXd data = Eigen::MatrixXd::Random(5000, 3);
  data(4100, 2) = std::numeric_limits<double>::quiet_NaN();
  data(4200, 0) = std::numeric_limits<double>::infinity();
  data(4200, 1) = -std::numeric_limits<double>::infinity();
  NonFiniteReport report;
  accumulate(data, 1000, 2, NonFinitePolicy::error, &report);
  EXPECT_EQ(report.num_values, 3);
  EXPECT_EQ(report.num_rows, 2);
  EXPECT_EQ(report.first_row, 4100);
  EXPECT_EQ(report.first_column, 2);
}

TEST(BlockAccumulatorTest, add_block_drops_nonfinite_rows_when_asked) {
  Eigen::MatrixXd data = Eigen::MatrixXd::Random(3000, 3);
  data(10, 1) = std::numeric_limits<double>::quiet_NaN();
  data(2999, 0) = std::numeric_limits<double>::infinity();
  NonFiniteReport report;
  SufficientStats stats = accumulate(data, 1000, 1, NonFinitePolicy::drop_rows, &report);
  Eigen::MatrixXd kept(2998, 3);
  for (Eigen::Index i = 0, k = 0; i < data.rows(); ++i) {
    if (i != 10 && i != 2999) kept.row(k++) = data.row(i);
  }
  EXPECT_EQ(stats.count, 2998);
  EXPECT_EQ(report.num_rows, 2);
  EXPECT_LT((stats.mean - kept.colwise().mean().transpose()).norm(), 1e-14);
}

TEST(BlockAccumulatorTest, add_block_bits_do_not_depend_on_buffer_alignment) {
  // Vectorised reductions may split work by address alignment; the statistics must not.
  Eigen::MatrixXd data = Eigen::MatrixXd::Random(5001, 7);
  std::vector<SufficientStats> results;
  for (std::size_t offset = 0; offset < 4; ++offset) {
    std::vector<double> storage(static_cast<std::size_t>(data.size()) + offset);
    std::copy_n(data.data(), data.size(), storage.begin() + static_cast<std::ptrdiff_t>(offset));
    BlockAccumulator accumulator(7, {});
    accumulator.add_block(storage.data() + offset, data.rows(), data.rows());
    results.push_back(accumulator.stats());
  }
  for (std::size_t offset = 1; offset < 4; ++offset) {
    EXPECT_EQ(results[offset].mean, results[0].mean) << "offset " << offset;
    EXPECT_EQ(results[offset].comoment, results[0].comoment) << "offset " << offset;
  }
}

TEST(BlockAccumulatorTest, add_block_keeps_precision_far_from_the_origin) {
  // A column whose mean is ~1.7e4 standard deviations away would lose 8 digits in raw products
  // (about 1e-8 relative); such tiles must be centred first.
  Eigen::MatrixXd data = Eigen::MatrixXd::Random(6000, 3);
  data.col(1).array() += 1e4;
  SufficientStats stats = accumulate(data, 4096, 2);
  SufficientStats expected = sluice::testing_support::direct_stats(data);
  Eigen::MatrixXd full = stats.comoment.selfadjointView<Eigen::Lower>();
  // The dense reference rounds values of size 1e4 to centred values of size ~0.6, so it carries
  // about 1e4/0.6·eps ≈ 4e-12 relative error itself; 1e-10 leaves room for that and no more.
  EXPECT_LT((full - expected.comoment).norm() / expected.comoment.norm(), 1e-10);
  EXPECT_LT(std::abs(full(1, 1) - expected.comoment(1, 1)) / expected.comoment(1, 1), 1e-10);
}
