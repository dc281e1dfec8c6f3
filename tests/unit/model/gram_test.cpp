// Tests of gram_lower: products and column sums for every shape against an exact reference,
// strides, non-finite values, and bits that do not depend on where the data sits in memory.
#include "sluice/model/gram.hpp"

#include <gtest/gtest.h>

#include <Eigen/Dense>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using sluice::model::gram_lower;

namespace {

// Small integers keep every product and partial sum exact, so any summation order must agree
// with the reference to the bit and a wrong entry cannot hide behind a tolerance.
Eigen::MatrixXd small_integers(Eigen::Index rows, Eigen::Index cols, int salt) {
  Eigen::MatrixXd x(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j)
    for (Eigen::Index i = 0; i < rows; ++i)
      x(i, j) = static_cast<double>(((i * 7 + j * 13 + salt) % 17) - 8);
  return x;
}

} // namespace

TEST(GramTest, lower_triangle_is_exact_for_every_shape_and_leaves_the_upper_alone) {
  for (Eigen::Index cols : {1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 33}) {
    for (Eigen::Index rows : {0, 1, 2, 3, 4, 5, 7, 8, 9, 2047, 2048, 2051}) {
      const Eigen::Index ld = rows + 5; // a strided view, as tiles of a bigger block are
      Eigen::MatrixXd storage = Eigen::MatrixXd::Constant(ld, cols, 1e300);
      storage.topRows(rows) = small_integers(rows, cols, static_cast<int>(rows + cols));
      const Eigen::MatrixXd x = storage.topRows(rows);
      const Eigen::MatrixXd expected = x.transpose() * x;

      const Eigen::VectorXd expected_sums = x.colwise().sum().transpose();

      Eigen::MatrixXd out = Eigen::MatrixXd::Constant(cols, cols, -42.0);
      Eigen::VectorXd sums = Eigen::VectorXd::Constant(cols, -42.0);
      gram_lower(storage.data(), ld, rows, cols, out.data(), out.outerStride(), sums.data());
      for (Eigen::Index j = 0; j < cols; ++j) {
        ASSERT_EQ(sums(j), expected_sums(j)) << "rows " << rows << " cols " << cols << " sum " << j;
        for (Eigen::Index i = 0; i < cols; ++i) {
          const double want = i >= j ? expected(i, j) : -42.0;
          ASSERT_EQ(out(i, j), want) << "rows " << rows << " cols " << cols << " at (" << i << ", "
                                     << j << ")";
        }
      }
    }
  }
}

TEST(GramTest, matches_a_dense_product_on_random_data) {
  const Eigen::MatrixXd x = Eigen::MatrixXd::Random(2048, 33);
  const Eigen::MatrixXd expected = x.transpose() * x;
  Eigen::MatrixXd out = Eigen::MatrixXd::Zero(33, 33);
  Eigen::VectorXd sums(33);
  gram_lower(x.data(), x.outerStride(), x.rows(), x.cols(), out.data(), out.outerStride(),
             sums.data());
  const Eigen::VectorXd want_sums = x.colwise().sum().transpose();
  EXPECT_LT((sums - want_sums).cwiseAbs().maxCoeff(), 1e-12);
  const Eigen::MatrixXd lower = out.triangularView<Eigen::Lower>();
  const Eigen::MatrixXd want = expected.triangularView<Eigen::Lower>();
  EXPECT_LT((lower - want).cwiseAbs().maxCoeff() / want.cwiseAbs().maxCoeff(), 1e-14);
}

TEST(GramTest, bits_do_not_depend_on_the_address_of_the_data) {
  const Eigen::Index rows = 1001, cols = 9;
  const Eigen::MatrixXd x = Eigen::MatrixXd::Random(rows, cols);
  Eigen::MatrixXd first(cols, cols + 1); // products, then the sums as the last column
  for (int shift = 0; shift < 4; ++shift) { // moves the columns off and back onto 32-byte bounds
    std::vector<double> buffer(static_cast<std::size_t>(rows * cols + shift));
    Eigen::Map<Eigen::MatrixXd>(buffer.data() + shift, rows, cols) = x;
    Eigen::MatrixXd out = Eigen::MatrixXd::Zero(cols, cols + 1);
    gram_lower(buffer.data() + shift, rows, rows, cols, out.data(), cols, out.col(cols).data());
    if (shift == 0) {
      first = out;
      continue;
    }
    for (Eigen::Index k = 0; k < out.size(); ++k) {
      ASSERT_EQ(std::memcmp(&out.data()[k], &first.data()[k], sizeof(double)), 0)
          << "shift " << shift << " entry " << k;
    }
  }
}

TEST(GramTest, a_nan_or_inf_makes_only_its_own_column_sum_non_finite) {
  for (double bad : {std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()}) {
    for (Eigen::Index row : {0, 5, 1026, 2050}) { // vector body and the 1-3 row tail
      Eigen::MatrixXd x = small_integers(2051, 7, 3);
      x(row, 4) = bad;
      Eigen::MatrixXd out = Eigen::MatrixXd::Zero(7, 7);
      Eigen::VectorXd sums(7);
      gram_lower(x.data(), x.outerStride(), x.rows(), x.cols(), out.data(), out.outerStride(),
                 sums.data());
      for (Eigen::Index j = 0; j < 7; ++j) {
        EXPECT_EQ(std::isfinite(sums(j)), j != 4) << "value " << bad << " row " << row;
      }
    }
  }
}
