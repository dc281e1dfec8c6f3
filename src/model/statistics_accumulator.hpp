// StatisticsAccumulator: a partition's SufficientStats as a pass partial (ridge, PCA, search).
#pragma once

#include "sluice/model/block_accumulator.hpp"
#include "sluice/model/trainer.hpp"

namespace sluice::model {

/// Wraps BlockAccumulator (count, means and centred co-moments of every column, the XᵀX kernel
/// with its fused finite check) behind the PartialAccumulator interface.
class StatisticsAccumulator final : public PartialAccumulator {
public:
  StatisticsAccumulator(Eigen::Index num_columns, const AccumulatorOptions& options)
      : accumulator_(num_columns, options) {}
  std::int64_t begin_block(std::int64_t rows) override { return accumulator_.begin_block(rows); }
  void compute_tile(std::int64_t tile, const double* data, std::int64_t leading_dimension,
                    std::int64_t rows) override {
    accumulator_.compute_tile(tile, data, leading_dimension, rows);
  }
  void end_block(std::int64_t rows) override { accumulator_.end_block(rows); }
  Partial finish() override { return accumulator_.stats().to_buffer(); }
  NonFiniteReport nonfinite() const override { return accumulator_.nonfinite(); }

private:
  BlockAccumulator accumulator_;
};

/// into ← into ⊕ from for two SufficientStats buffers of the same size.
inline void merge_statistics(Partial& into, const Partial& from) {
  const Eigen::Index k = SufficientStats::columns_of_buffer(into.size());
  SufficientStats left = SufficientStats::from_buffer(into, k);
  left.merge(SufficientStats::from_buffer(from, k));
  into = left.to_buffer();
}

} // namespace sluice::model
