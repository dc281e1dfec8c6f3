// New rows against the training profile: Chan moments per column and counts per training bin.
#include "sluice/transform/drift.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace sluice::transform {

double population_stability_index(const std::vector<double>& expected,
                                  const std::vector<double>& actual) {
  constexpr double floor = 1e-4;
  double psi = 0.0;
  for (std::size_t i = 0; i < expected.size() && i < actual.size(); ++i) {
    const double e = std::max(expected[i], floor), a = std::max(actual[i], floor);
    psi += (a - e) * std::log(a / e);
  }
  return psi;
}

DriftAccumulator::DriftAccumulator(const FeatureProfile& profile,
                                   const std::vector<std::string>& columns) {
  for (const std::string& name : columns) {
    const ColumnProfile* trained = profile.find(name);
    if (trained == nullptr) {
      throw ConfigError(fmt::format("column '{}' has no training profile in the snapshot", name));
    }
    trained_.push_back(trained);
    bin_counts_.emplace_back(trained->proportions.size(), 0.0);
  }
  count_.assign(columns.size(), 0.0);
  mean_ = m2_ = nonfinite_ = count_;
}

void DriftAccumulator::add_block(const double* data, std::int64_t ld, std::int64_t rows) {
  for (std::size_t c = 0; c < trained_.size(); ++c) {
    const double* column = data + static_cast<std::int64_t>(c) * ld;
    double n = 0.0, sum = 0.0;
    for (std::int64_t i = 0; i < rows; ++i) {
      const double x = column[i];
      if (!std::isfinite(x)) {
        nonfinite_[c] += 1.0;
        continue;
      }
      n += 1.0;
      sum += x;
      bin_counts_[c][profile_bin(trained_[c]->edges, x)] += 1.0;
    }
    if (n == 0.0) continue;
    const double block_mean = sum / n;
    double block_m2 = 0.0;
    for (std::int64_t i = 0; i < rows; ++i) {
      if (std::isfinite(column[i])) block_m2 += (column[i] - block_mean) * (column[i] - block_mean);
    }
    // Chan's merge of the block into the running moments.
    const double total = count_[c] + n, delta = block_mean - mean_[c];
    mean_[c] += delta * (n / total);
    m2_[c] += block_m2 + delta * delta * (count_[c] * n / total);
    count_[c] = total;
  }
}

std::vector<ColumnDrift> DriftAccumulator::finish(const DriftThresholds& thresholds) const {
  std::vector<ColumnDrift> result;
  for (std::size_t c = 0; c < trained_.size(); ++c) {
    const ColumnProfile& trained = *trained_[c];
    ColumnDrift drift{.name = trained.name,
                      .train_mean = trained.mean,
                      .train_std = trained.std,
                      .count = count_[c],
                      .nonfinite = nonfinite_[c],
                      .mean = mean_[c],
                      .std = count_[c] > 0 ? std::sqrt(m2_[c] / count_[c]) : 0.0};
    if (count_[c] > 0) {
      if (trained.std > 0) {
        drift.mean_shift_sd = (drift.mean - trained.mean) / trained.std;
      } else if (drift.mean == trained.mean) {
        drift.mean_shift_sd = 0.0;
      }
      for (double n : bin_counts_[c]) drift.proportions.push_back(n / count_[c]);
      drift.psi = population_stability_index(trained.proportions, drift.proportions);
      drift.is_drifted = drift.psi > thresholds.psi || !drift.mean_shift_sd ||
                         std::abs(*drift.mean_shift_sd) > thresholds.mean_shift_sd;
    }
    result.push_back(std::move(drift));
  }
  return result;
}

} // namespace sluice::transform
