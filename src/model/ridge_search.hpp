// RidgeSearchTrainer: ridge with alpha chosen by k-fold cross-validation in one statistics pass.
#pragma once

#include "linear_model.hpp"

#include "sluice/job/job_spec.hpp"
#include "sluice/model/ridge_trainer.hpp"
#include "sluice/model/trainer.hpp"

#include <cstdint>
#include <memory>

namespace sluice::model {

enum class FoldBy { row, partition };

// SplitMix64's finaliser: a bijection of 64-bit words that mixes every input bit into every output bit.
constexpr std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The fold (0..num_folds-1) of row `row` (counted within its partition, finite or not) of the
// partition whose path hashes to path_hash. Keyed only by data identity, never by rank, thread,
// block size or partition order, so adding partitions leaves the other rows' folds alone.
constexpr std::int64_t fold_of(std::uint64_t seed, std::uint64_t path_hash, std::int64_t row,
                               FoldBy fold_by, std::int64_t num_folds) {
  std::uint64_t hash = mix64(mix64(seed) ^ path_hash);
  if (fold_by == FoldBy::row) hash = mix64(hash ^ static_cast<std::uint64_t>(row));
  return static_cast<std::int64_t>(hash % static_cast<std::uint64_t>(num_folds));
}

struct RidgeSearchOptions {
  std::vector<double> alphas;
  std::int64_t num_folds = 5;
  FoldBy fold_by = FoldBy::row;
  std::uint64_t seed = 0;
  bool fit_intercept = true;
};

// Scores exactly like the LinearModel it wraps (kind "ridge"); save() adds the search table, so a
// loaded snapshot is a plain LinearModel.
class RidgeSearchModel final : public FittedModel {
public:
  RidgeSearchModel(std::shared_ptr<const LinearModel> linear, const RidgeSearchOptions& options,
                   Eigen::MatrixXd validation_mse, Eigen::VectorXd mean_mse)
      : linear_(std::move(linear)), options_(options), validation_mse_(std::move(validation_mse)),
        mean_mse_(std::move(mean_mse)) {}

  std::string_view kind() const override { return linear_->kind(); }
  const std::vector<std::string>& features() const override { return linear_->features(); }
  std::vector<std::string> outputs() const override { return linear_->outputs(); }
  void score(const double* in, std::int64_t in_ld, std::int64_t rows, double* out,
             std::int64_t out_ld) const override {
    linear_->score(in, in_ld, rows, out, out_ld);
  }
  void save(ParameterWriter& writer) const override;
  std::string describe() const override;

private:
  std::shared_ptr<const LinearModel> linear_;
  RidgeSearchOptions options_;
  Eigen::MatrixXd validation_mse_; // folds × alphas; -1 marks an alpha whose solve was singular
  Eigen::VectorXd mean_mse_;       // per alpha, unweighted mean over folds; -1 as above
};

// Partial: [all-rows SufficientStats buffer, fold 0's buffer, ..., fold K-1's buffer], each
// SufficientStats::buffer_size(k). The all-rows part is the plain ridge partial, bit for bit, so
// the refit with the chosen alpha equals a `kind = "ridge", alpha = chosen` run.
class RidgeSearchTrainer final : public Trainer {
public:
  // Reads model.alpha (an array), folds, fold_by, seed and fit_intercept.
  explicit RidgeSearchTrainer(const job::ModelSpec& spec);

  std::string_view kind() const override { return "ridge"; }
  const std::vector<std::string>& columns() const override { return columns_; }
  bool is_iterative() const override { return false; }
  std::string pass_name() const override { return "statistics"; }
  std::unique_ptr<PartialAccumulator> make_accumulator(const PartitionKey& partition,
                                                       const AccumulatorOptions& options) const override;
  void merge(Partial& into, const Partial& from) const override;
  bool update(const Partial& merged) override;
  std::shared_ptr<const FittedModel> model() const override { return model_; }
  Metrics metrics() const override;
  const SufficientStats* statistics() const override { return &stats_; }

private:
  std::vector<std::string> features_;
  std::vector<std::string> columns_;
  RidgeSearchOptions options_;
  SufficientStats stats_;
  RidgeFit fit_;
  double chosen_alpha_ = 0.0;
  double best_mse_ = 0.0;
  std::shared_ptr<const RidgeSearchModel> model_;
};

} // namespace sluice::model
