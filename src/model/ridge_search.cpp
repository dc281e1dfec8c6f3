// Ridge alpha search: per-fold statistics in the same pass as plain ridge's, CV solves from them.
#include "ridge_search.hpp"

#include "ridge_regression.hpp"
#include "tiled_accumulator.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numeric>

namespace sluice::model {
namespace {

constexpr std::size_t max_alphas = 1000;

// The all-rows statistics come from the very BlockAccumulator plain ridge uses (same tiles, same
// non-finite report). Each tile's finite rows are also sorted by fold into scratch, and each
// fold's run of rows is accumulated on its own; tiles are folded in tile order.
class SearchAccumulator final : public PartialAccumulator {
public:
  SearchAccumulator(Eigen::Index num_columns, const PartitionKey& partition,
                    const RidgeSearchOptions& search, const AccumulatorOptions& options)
      : all_(num_columns, options), num_columns_(num_columns), partition_(partition),
        search_{.num_folds = search.num_folds, .fold_by = search.fold_by, .seed = search.seed},
        options_(options),
        folds_(static_cast<std::size_t>(search.num_folds), SufficientStats::empty(num_columns)),
        rows_seen_(options.first_row) {}

  std::int64_t begin_block(std::int64_t rows) override {
    const std::int64_t num_tiles = all_.begin_block(rows);
    if (search_.fold_by == FoldBy::row && static_cast<std::int64_t>(slots_.size()) < num_tiles) {
      const std::vector<SufficientStats> empty(folds_.size(), SufficientStats::empty(num_columns_));
      slots_.resize(static_cast<std::size_t>(num_tiles), Slot{empty, {}, {}, {}, {}});
    }
    return num_tiles;
  }

  void compute_tile(std::int64_t t, const double* data, std::int64_t leading_dimension,
                    std::int64_t rows) override {
    all_.compute_tile(t, data, leading_dimension, rows);
    if (search_.fold_by == FoldBy::partition) return; // the partition's fold is its all-rows part
    const std::int64_t begin = t * tile_rows;
    const std::int64_t first_row = rows_seen_ + begin;
    ConstTile tile(data + begin, std::min(tile_rows, rows - begin), num_columns_,
                   Eigen::OuterStride<>(leading_dimension));
    Slot& slot = slots_[static_cast<std::size_t>(t)];
    NonFiniteReport ignored; // all_ reports the non-finite values
    FiniteRows finite{tile, {}, first_row};
    if (!select_finite_rows(tile, first_row, options_.nonfinite, ignored, slot.finite, finite)) {
      for (SufficientStats& stats : slot.stats) stats = SufficientStats::empty(num_columns_);
      return;
    }
    const Eigen::Index n = finite.rows.rows();
    slot.offsets.assign(slot.stats.size() + 1, 0);
    slot.position.resize(static_cast<std::size_t>(n));
    for (Eigen::Index i = 0; i < n; ++i) {
      const std::int64_t fold = fold_of(search_.seed, partition_.path_hash, finite.row_number(i),
                                        FoldBy::row, search_.num_folds);
      slot.position[static_cast<std::size_t>(i)] = fold; // the fold, for now
      ++slot.offsets[static_cast<std::size_t>(fold) + 1];
    }
    std::partial_sum(slot.offsets.begin(), slot.offsets.end(), slot.offsets.begin());
    std::vector<Eigen::Index> next(slot.offsets.begin(), slot.offsets.end() - 1);
    for (Eigen::Index& at : slot.position) at = next[static_cast<std::size_t>(at)]++;
    slot.sorted.resize(n, num_columns_);
    for (Eigen::Index j = 0; j < num_columns_; ++j) {
      for (Eigen::Index i = 0; i < n; ++i) {
        slot.sorted(slot.position[static_cast<std::size_t>(i)], j) = finite.rows(i, j);
      }
    }
    for (std::size_t f = 0; f < slot.stats.size(); ++f) {
      const std::int64_t count = slot.offsets[f + 1] - slot.offsets[f];
      BlockAccumulator fold(num_columns_, {.nonfinite = NonFinitePolicy::error, .num_threads = 1});
      fold.begin_block(count);
      if (count > 0) fold.compute_tile(0, slot.sorted.data() + slot.offsets[f], n, count);
      fold.end_block(count);
      slot.stats[f] = fold.stats();
    }
  }

  void end_block(std::int64_t rows) override {
    const std::int64_t num_tiles = (rows + tile_rows - 1) / tile_rows;
    all_.end_block(rows);
    for (std::int64_t t = 0; t < num_tiles && search_.fold_by == FoldBy::row; ++t) {
      const Slot& slot = slots_[static_cast<std::size_t>(t)];
      for (std::size_t f = 0; f < folds_.size(); ++f) folds_[f].merge(slot.stats[f]);
    }
    rows_seen_ += rows;
  }

  Partial finish() override {
    if (search_.fold_by == FoldBy::partition) {
      folds_[static_cast<std::size_t>(fold_of(search_.seed, partition_.path_hash, 0,
                                              FoldBy::partition, search_.num_folds))] = all_.stats();
    }
    Partial partial = all_.stats().to_buffer();
    for (const SufficientStats& fold : folds_) {
      const std::vector<double> buffer = fold.to_buffer();
      partial.insert(partial.end(), buffer.begin(), buffer.end());
    }
    return partial;
  }

  NonFiniteReport nonfinite() const override { return all_.nonfinite(); }

private:
  struct Slot {
    std::vector<SufficientStats> stats; // per fold
    FiniteScratch finite;
    std::vector<Eigen::Index> offsets;  // fold f's rows are sorted.middleRows(offsets[f], ...)
    std::vector<Eigen::Index> position; // row i's place in sorted
    Eigen::MatrixXd sorted;
  };

  BlockAccumulator all_;
  Eigen::Index num_columns_;
  PartitionKey partition_;
  RidgeSearchOptions search_; // alphas left empty: an accumulator needs only the fold keys
  AccumulatorOptions options_;
  std::vector<SufficientStats> folds_;
  std::vector<Slot> slots_;
  std::int64_t rows_seen_ = 0;
};

// Mean squared error on a fold of the fit (w, b), from the fold's statistics alone:
// Σ(y − b − xᵀw)² = C_yy − 2wᵀC_xy + wᵀC_xx w + n (ȳ − b − x̄ᵀw)².
double validation_mse(const SufficientStats& fold, const RidgeFit& fit) {
  const Eigen::Index d = fold.num_columns() - 1;
  const Eigen::MatrixXd full = fold.comoment.selfadjointView<Eigen::Lower>();
  const Eigen::VectorXd& w = fit.coefficients;
  const double n = static_cast<double>(fold.count);
  const double offset = fold.mean(d) - fit.intercept - fold.mean.head(d).dot(w);
  const double sse = full(d, d) - 2.0 * w.dot(full.col(d).head(d)) +
                     w.dot(full.topLeftCorner(d, d) * w) + n * offset * offset;
  return std::max(sse, 0.0) / n; // cancellation can leave a tiny negative for exact fits
}

} // namespace

void RidgeSearchModel::save(ParameterWriter& writer) const {
  linear_->save(writer);
  writer.vector("search_alphas", Eigen::Map<const Eigen::VectorXd>(
                                     options_.alphas.data(), static_cast<Eigen::Index>(options_.alphas.size())));
  writer.matrix("search_validation_mse", validation_mse_);
  writer.vector("search_mean_mse", mean_mse_);
  writer.integer("search_folds", options_.num_folds);
  writer.text("search_fold_by", options_.fold_by == FoldBy::row ? "row" : "partition");
  writer.integer("search_seed", static_cast<std::int64_t>(options_.seed));
}

std::string RidgeSearchModel::describe() const {
  return fmt::format("{} (chosen from {} alphas by {}-fold cross-validation by {})",
                     linear_->describe(), options_.alphas.size(), options_.num_folds,
                     options_.fold_by == FoldBy::row ? "row" : "partition");
}

RidgeSearchTrainer::RidgeSearchTrainer(const job::ModelSpec& spec)
    : features_(spec.features), columns_(spec.features) {
  job::ModelParams params = spec.params;
  if (spec.label.empty()) params.fail("label", "is missing (kind = 'ridge' needs one)");
  columns_.push_back(spec.label);
  options_.alphas = params.numbers("alpha").value_or(std::vector<double>{});
  if (options_.alphas.empty() || options_.alphas.size() > max_alphas) {
    params.fail("alpha", fmt::format("must be an array of 1..{} numbers, got {}", max_alphas,
                                     options_.alphas.size()));
  }
  for (double alpha : options_.alphas) {
    if (!std::isfinite(alpha) || alpha < 0) {
      params.fail("alpha", fmt::format("must hold finite numbers >= 0, got {}", alpha));
    }
  }
  options_.num_folds = params.integer("folds").value_or(5);
  if (options_.num_folds < 2 || options_.num_folds > 100) {
    params.fail("folds", fmt::format("must be 2..100, got {}", options_.num_folds));
  }
  const std::string fold_by = params.string("fold_by").value_or("row");
  if (fold_by != "row" && fold_by != "partition") {
    params.fail("fold_by", fmt::format("must be 'row' or 'partition', got '{}'", fold_by));
  }
  options_.fold_by = fold_by == "row" ? FoldBy::row : FoldBy::partition;
  const std::int64_t seed = params.integer("seed").value_or(0);
  if (seed < 0) params.fail("seed", fmt::format("must be an integer >= 0, got {}", seed));
  options_.seed = static_cast<std::uint64_t>(seed);
  options_.fit_intercept = params.boolean("fit_intercept").value_or(true);
  params.refuse_unknown_keys();
}

std::unique_ptr<PartialAccumulator> RidgeSearchTrainer::make_accumulator(
    const PartitionKey& partition, const AccumulatorOptions& options) const {
  return std::make_unique<SearchAccumulator>(static_cast<Eigen::Index>(columns_.size()), partition,
                                             options_, options);
}

void RidgeSearchTrainer::merge(Partial& into, const Partial& from) const {
  const auto k = static_cast<Eigen::Index>(columns_.size());
  const std::size_t size = SufficientStats::buffer_size(k);
  for (std::size_t at = 0; at < into.size(); at += size) {
    SufficientStats left = SufficientStats::from_buffer(std::span(into).subspan(at, size), k);
    left.merge(SufficientStats::from_buffer(std::span(from).subspan(at, size), k));
    const std::vector<double> merged = left.to_buffer();
    std::copy(merged.begin(), merged.end(), into.begin() + static_cast<std::ptrdiff_t>(at));
  }
}

bool RidgeSearchTrainer::update(const Partial& merged) {
  const auto k = static_cast<Eigen::Index>(columns_.size());
  const std::size_t size = SufficientStats::buffer_size(k);
  const auto num_folds = static_cast<std::size_t>(options_.num_folds);
  if (!merged.empty() && merged.size() != size * (num_folds + 1)) {
    throw Error(fmt::format("ridge search partial has {} values, expected {}", merged.size(),
                            size * (num_folds + 1)));
  }
  auto slot = [&](std::size_t s) {
    return merged.empty() ? SufficientStats::empty(k)
                          : SufficientStats::from_buffer(std::span(merged).subspan(s * size, size), k);
  };
  stats_ = slot(0);
  if (stats_.count == 0) throw DataError("the selected partitions hold no usable rows");
  std::vector<SufficientStats> folds;
  for (std::size_t f = 0; f < num_folds; ++f) {
    folds.push_back(slot(f + 1));
    if (folds.back().count == 0) {
      throw DataError(fmt::format("fold {} of {} holds no rows; lower model.folds", f + 1, num_folds));
    }
  }

  const auto num_alphas = static_cast<Eigen::Index>(options_.alphas.size());
  Eigen::MatrixXd table(static_cast<Eigen::Index>(num_folds), num_alphas);
  std::vector<bool> is_valid(options_.alphas.size(), true);
  for (std::size_t f = 0; f < num_folds; ++f) {
    SufficientStats training = SufficientStats::empty(k);
    for (std::size_t g = 0; g < num_folds; ++g) {
      if (g != f) training.merge(folds[g]);
    }
    for (Eigen::Index a = 0; a < num_alphas; ++a) {
      const RidgeFit fit =
          RidgeTrainer({.alpha = options_.alphas[static_cast<std::size_t>(a)],
                        .fit_intercept = options_.fit_intercept})
              .fit(training);
      const bool is_solved = fit.status == FitStatus::success;
      if (!is_solved) is_valid[static_cast<std::size_t>(a)] = false;
      table(static_cast<Eigen::Index>(f), a) = is_solved ? validation_mse(folds[f], fit) : -1.0;
    }
  }

  // An alpha singular on any fold is left out; its column reads -1 (what is published is finite).
  Eigen::VectorXd mean_mse = Eigen::VectorXd::Constant(num_alphas, -1.0);
  Eigen::Index best = -1;
  for (Eigen::Index a = 0; a < num_alphas; ++a) {
    if (!is_valid[static_cast<std::size_t>(a)]) {
      table.col(a).setConstant(-1.0);
      continue;
    }
    mean_mse(a) = table.col(a).mean();
    if (best < 0 || mean_mse(a) < mean_mse(best)) best = a;
  }
  if (best < 0) {
    throw NumericalError(
        "the normal equations are singular for every model.alpha on some fold: a feature is "
        "constant or a linear combination of others; add an alpha > 0 or drop the feature");
  }
  chosen_alpha_ = options_.alphas[static_cast<std::size_t>(best)];
  best_mse_ = mean_mse(best);
  fit_ = RidgeRegressionTrainer::solve(stats_, {.alpha = chosen_alpha_,
                                                .fit_intercept = options_.fit_intercept});
  model_ = std::make_shared<RidgeSearchModel>(
      std::make_shared<LinearModel>("ridge", features_, fit_.coefficients, fit_.intercept,
                                    chosen_alpha_, options_.fit_intercept),
      options_, std::move(table), std::move(mean_mse));
  return false;
}

Metrics RidgeSearchTrainer::metrics() const {
  return {{"rmse", fit_.rmse},
          {"r2", fit_.r2},
          {"alpha", chosen_alpha_},
          {"best_validation_mse", best_mse_},
          {"num_rows", static_cast<double>(fit_.num_rows)}};
}

} // namespace sluice::model
