// The engine's side of FeatureProfile: a per-partition partial gathered in the first pass,
// merged along the partition tree like every other partial, and finished on the coordinator.
#pragma once

#include "fit_statistics.hpp"

#include "sluice/model/trainer.hpp"
#include "sluice/transform/feature_profile.hpp"

#include <cstdint>
#include <vector>

namespace sluice::transform {

/// One partition's profile partial. Per column: the moments of its finite values (Chan's merge)
/// and its non-finite count; and a bottom-k sample of the rows whose values are all finite,
/// ranked by a hash of (partition path, row number). Merging keeps the k smallest hashes of both
/// sides, so the merged sample — and the bin edges taken from it — depend only on the lake,
/// never on the rank or thread count.
class ProfileAccumulator {
public:
  /// `first_row`: where the rows it is given start within the partition (its segment's start).
  ProfileAccumulator(std::int64_t num_columns, std::uint64_t path_hash, std::int64_t first_row = 0);
  /// The next `rows` rows of the partition (column-major, leading dimension ld).
  void add_block(const double* data, std::int64_t leading_dimension, std::int64_t rows);
  model::Partial finish() const;

private:
  struct Sampled {
    std::uint64_t hash;
    std::vector<double> values;
  };
  std::int64_t num_columns_;
  std::uint64_t path_hash_;
  std::int64_t next_row_ = 0;
  std::vector<Moments> moments_;
  std::vector<double> nonfinite_;
  std::vector<Sampled> heap_; ///< max-heap by hash, at most profile_sample_rows
};

/// into ← into ⊕ from (either may be empty: the identity).
void merge_profile(model::Partial& into, const model::Partial& from);

/// The profile of the merged partial, with bins at the sample's quantiles.
FeatureProfile finish_profile(const model::Partial& merged, const std::vector<std::string>& names);

} // namespace sluice::transform
