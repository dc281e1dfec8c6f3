// Drift: the distribution of new rows against the training profile a snapshot keeps — mean
// shift in training standard deviations and the population stability index over the bins fixed
// at training time.
#pragma once

#include "sluice/transform/feature_profile.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::transform {

struct DriftThresholds {
  double psi = 0.25;           ///< PSI above this is drift (0.1–0.25 is usually read as moderate)
  double mean_shift_sd = 3.0;  ///< |mean shift| in training standard deviations above this is drift
};

struct ColumnDrift {
  std::string name;
  double train_mean = 0.0, train_std = 0.0;
  double count = 0.0, nonfinite = 0.0;   ///< new finite and non-finite values
  double mean = 0.0, std = 0.0;          ///< of the new finite values
  /// (mean − train_mean) / train_std; nullopt when the training column was constant and the
  /// mean moved (an infinite shift: drift)
  std::optional<double> mean_shift_sd;
  double psi = 0.0;
  std::vector<double> proportions;       ///< new share of each training bin
  bool is_drifted = false;
};

/// PSI = Σ (actual − expected) · ln(actual / expected), each share floored at 1e-4 so an empty
/// bin counts as rare rather than infinitely surprising.
double population_stability_index(const std::vector<double>& expected,
                                  const std::vector<double>& actual);

/// Accumulates blocks of new rows of `columns` (each must be in the profile), then compares.
class DriftAccumulator {
public:
  DriftAccumulator(const FeatureProfile& profile, const std::vector<std::string>& columns);
  /// Column-major rows × columns, leading dimension ld.
  void add_block(const double* data, std::int64_t leading_dimension, std::int64_t rows);
  std::vector<ColumnDrift> finish(const DriftThresholds& thresholds) const;

private:
  std::vector<const ColumnProfile*> trained_;
  std::vector<double> count_, mean_, m2_, nonfinite_;
  std::vector<std::vector<double>> bin_counts_;
};

} // namespace sluice::transform
