// Reference statistics computed directly from all rows at once, for checking the streamed ones.
#pragma once

#include "sluice/model/sufficient_stats.hpp"

namespace sluice::testing_support {

/// n, column means and the centred co-moment matrix of rows, in one dense computation.
inline model::SufficientStats direct_stats(const Eigen::MatrixXd& rows) {
  model::SufficientStats s = model::SufficientStats::empty(rows.cols());
  s.count = rows.rows();
  s.mean = rows.colwise().mean().transpose();
  Eigen::MatrixXd centred = rows.rowwise() - s.mean.transpose();
  s.comoment = centred.transpose() * centred;
  return s;
}

} // namespace sluice::testing_support
