// Exact pairwise merging and serialisation of centred sufficient statistics.
#include "sluice/model/sufficient_stats.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sluice::model {

SufficientStats SufficientStats::empty(Eigen::Index num_columns) {
  return SufficientStats{.count = 0,
                         .mean = Eigen::VectorXd::Zero(num_columns),
                         .comoment = Eigen::MatrixXd::Zero(num_columns, num_columns)};
}

void SufficientStats::merge(const SufficientStats& other) {
  if (other.count == 0) return;
  if (count == 0) {
    *this = other;
    return;
  }
  const double n_a = static_cast<double>(count);
  const double n_b = static_cast<double>(other.count);
  const double n = n_a + n_b;
  Eigen::VectorXd delta = other.mean - mean;
  mean += delta * (n_b / n);
  comoment.triangularView<Eigen::Lower>() += other.comoment;
  comoment.selfadjointView<Eigen::Lower>().rankUpdate(delta, n_a * n_b / n);
  count += other.count;
}

std::size_t SufficientStats::buffer_size(Eigen::Index num_columns) {
  const auto k = static_cast<std::size_t>(num_columns);
  return 1 + k + k * (k + 1) / 2;
}

Eigen::Index SufficientStats::columns_of_buffer(std::size_t size) {
  for (Eigen::Index k = 0; buffer_size(k) <= size; ++k) {
    if (buffer_size(k) == size) return k;
  }
  return -1;
}

std::vector<double> SufficientStats::to_buffer() const {
  const Eigen::Index k = num_columns();
  std::vector<double> buffer(buffer_size(k));
  buffer[0] = static_cast<double>(count); // exact below 2^53 rows
  std::copy_n(mean.data(), k, buffer.begin() + 1);
  auto out = buffer.begin() + 1 + k;
  for (Eigen::Index j = 0; j < k; ++j) {
    out = std::copy_n(comoment.col(j).data() + j, k - j, out);
  }
  return buffer;
}

SufficientStats SufficientStats::from_buffer(std::span<const double> buffer,
                                             Eigen::Index num_columns) {
  if (buffer.size() != buffer_size(num_columns)) {
    throw Error(fmt::format("statistics buffer has {} values, expected {}", buffer.size(),
                            buffer_size(num_columns)));
  }
  SufficientStats stats = empty(num_columns);
  stats.count = static_cast<std::int64_t>(buffer[0]);
  std::copy_n(buffer.begin() + 1, num_columns, stats.mean.data());
  auto in = buffer.begin() + 1 + num_columns;
  for (Eigen::Index j = 0; j < num_columns; ++j) {
    std::copy_n(in, num_columns - j, stats.comoment.col(j).data() + j);
    in += num_columns - j;
  }
  return stats;
}

} // namespace sluice::model
