// The mergeable statistics that fit the pipeline's stateful steps: moments (count, mean, M2, min,
// max: Chan's stable merge, never Σx² − n·x̄²) and value counts (sorted distinct values).
#pragma once

#include "sluice/transform/pipeline.hpp"

#include <cstdint>
#include <map>
#include <vector>

namespace sluice::transform {

struct Moments {
  double count = 0.0, mean = 0.0, m2 = 0.0;
  double min = 0.0, max = 0.0;

  /// Adds the usable values of a column block (finite, not the step's missing sentinel).
  void add(const double* values, std::int64_t rows, const Step& step);
  /// this ← this ⊕ other, `other` covering later rows.
  void merge(const Moments& other);
  static constexpr std::size_t size = 5;
};

/// Distinct values and their counts; `is_over` once more than the cap were seen.
struct ValueCounts {
  std::map<double, double> counts;
  bool is_over = false;
};

/// The statistics a step needs, per column: moments or value counts.
bool uses_moments(const Step& step);
/// The cap on distinct values of a counting step (one_hot: max_categories).
std::int64_t value_cap(const Step& step);

/// Appends one column's statistics to a partial / reads them back from `at`, advancing it.
void append(std::vector<double>& partial, const Moments& moments);
void append(std::vector<double>& partial, const ValueCounts& counts);
Moments read_moments(const std::vector<double>& partial, std::size_t& at);
ValueCounts read_counts(const std::vector<double>& partial, std::size_t& at);

/// into ← into ⊕ from for a fit pass's partial of `pipeline` at `pass` (layouts equal by
/// construction). Never throws: a cap overflow is carried as a flag for update() to report.
void merge_fit_partials(const Pipeline& pipeline, int pass, std::vector<double>& into,
                        const std::vector<double>& from);

/// Sets the fitted values of the steps fitted in `pass` from the merged partial. Throws
/// DataError naming the step and column: no rows reached it, a constant column before scaling,
/// more categories than the cap, a non-integer category.
void fit_steps(Pipeline& pipeline, int pass, const std::vector<double>& merged);

} // namespace sluice::transform
