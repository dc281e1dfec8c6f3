// FeatureProfile: the distribution of every column a model was trained on, kept in the snapshot
// so later data can be compared with it (`sluice drift`).
#pragma once

#include "sluice/model/parameters.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::transform {

/// Bins per column (fewer when the training values have fewer distinct quantiles).
inline constexpr int profile_bins = 10;
/// Rows kept in the training sample the bin edges come from.
inline constexpr std::int64_t profile_sample_rows = 1024;
/// Rows 0, s, 2s, ... of each partition are the sample's candidates.
inline constexpr std::int64_t profile_sample_stride = 16;

struct ColumnProfile {
  std::string name;
  double count = 0.0;      ///< finite values
  double mean = 0.0;
  double std = 0.0;        ///< population standard deviation
  double nonfinite = 0.0;  ///< NaN/Inf values seen
  /// Inner bin edges, ascending and distinct: value x falls in bin profile_bin(edges, x), so
  /// bin 0 is x < edges[0] and the last bin x >= edges.back().
  std::vector<double> edges;
  std::vector<double> proportions;  ///< the training share of each bin (edges.size() + 1)
};

struct FeatureProfile {
  std::vector<ColumnProfile> columns;
  bool empty() const noexcept { return columns.empty(); }
  /// The column's profile, or nullptr.
  const ColumnProfile* find(const std::string& name) const;
};

/// The bin of `value` among `edges` (see ColumnProfile::edges).
std::size_t profile_bin(const std::vector<double>& edges, double value);

/// Stores the profile (docs/snapshot-format.md, "/profile") / reads it back.
void save_profile(const FeatureProfile& profile, model::ParameterWriter& writer);
FeatureProfile load_profile(const model::ParameterReader& reader);

} // namespace sluice::transform
