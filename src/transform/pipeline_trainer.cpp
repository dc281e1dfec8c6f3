// The pipeline and the model as one plug-in. Partials by phase:
//   fit pass p   the statistics of the steps fitted in p (fit_statistics.hpp), in step order
//   model pass   [rows in, rows after the split, rows after each row-dropping step...,
//                 size of the model's partial, the model's partial]
//   validate     the validation metric partial (validation_metrics.hpp)
#include "sluice/transform/pipeline_trainer.hpp"

#include "fit_statistics.hpp"
#include "validation_metrics.hpp"

#include "sluice/error.hpp"
#include "sluice/model/model_kinds.hpp"
#include "sluice/model/sufficient_stats.hpp"
#include "sluice/transform/pipeline_runner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace sluice::transform {
namespace {

// "'x'", or "'x' (made by transform[2] (derive))" for a derived column.
std::string describe_column(const Pipeline& pipeline, int slot) {
  const Column& column = pipeline.columns()[static_cast<std::size_t>(slot)];
  if (column.source == ColumnSource::derived) {
    return fmt::format("'{}' (made by {})", column.name,
                       pipeline.steps()[static_cast<std::size_t>(column.step)].label());
  }
  return fmt::format("'{}'", column.name);
}

BlockSource source_of(const model::PartitionKey& key, std::int64_t first_row) {
  return {key.hive_keys, key.path_hash, first_row, std::string(key.path)};
}

// A fit pass: apply what is fitted, gather the statistics of what is being fitted.
class FitAccumulator final : public model::PartialAccumulator {
public:
  FitAccumulator(const Pipeline& pipeline, int pass, const model::PartitionKey& key,
                 std::int64_t first_row)
      : pipeline_(pipeline), pass_(pass), key_(key),
        runner_(pipeline, pass, RowSet::training,
                [this](std::size_t step, std::size_t column, const double* values, std::int64_t rows) {
                  observe(step, column, values, rows);
                }),
        first_row_(first_row) {
    for (std::size_t s = 0; s < pipeline.steps().size(); ++s) {
      const Step& step = pipeline.steps()[s];
      if (step.fit_pass != pass) continue;
      first_of_step_.push_back(moments_.size());
      step_index_.push_back(s);
      for (std::size_t c = 0; c < step.columns.size(); ++c) {
        moments_.emplace_back();
        counts_.emplace_back();
      }
    }
  }

  std::int64_t begin_block(std::int64_t) override { return 0; }
  std::int64_t prepare_block(const double* data, std::int64_t ld, std::int64_t rows) override {
    runner_.apply(data, ld, rows, source_of(key_, first_row_));
    first_row_ += rows;
    return 0;
  }
  void compute_tile(std::int64_t, const double*, std::int64_t, std::int64_t) override {}
  void end_block(std::int64_t) override {}
  model::NonFiniteReport nonfinite() const override { return {}; }

  model::Partial finish() override {
    model::Partial partial;
    for (std::size_t k = 0; k < step_index_.size(); ++k) {
      const Step& step = pipeline_.steps()[step_index_[k]];
      for (std::size_t c = 0; c < step.columns.size(); ++c) {
        const std::size_t at = first_of_step_[k] + c;
        if (uses_moments(step)) append(partial, moments_[at]);
        else append(partial, counts_[at]);
      }
    }
    return partial;
  }

private:
  void observe(std::size_t step_index, std::size_t column, const double* values, std::int64_t rows) {
    const Step& step = pipeline_.steps()[step_index];
    const std::size_t k = static_cast<std::size_t>(
        std::find(step_index_.begin(), step_index_.end(), step_index) - step_index_.begin());
    const std::size_t at = first_of_step_[k] + column;
    if (uses_moments(step)) {
      moments_[at].add(values, rows, step);
      return;
    }
    ValueCounts& counts = counts_[at];
    for (std::int64_t i = 0; i < rows && !counts.is_over; ++i) {
      const double x = values[i];
      if (std::isnan(x) || (step.missing && x == *step.missing)) continue;
      if (x != std::floor(x) || std::isinf(x)) {
        throw DataError(fmt::format(
            "{}: column '{}' holds {} at row {}: {} needs integer values (categories or counts)",
            step.label(), step.columns[column], x, runner_.row_index()[i],
            step.kind == StepKind::one_hot ? "one_hot" : "most_frequent"));
      }
      counts.counts[x] += 1.0;
      counts.is_over = static_cast<std::int64_t>(counts.counts.size()) > value_cap(step);
      if (counts.is_over) counts.counts.clear();
    }
  }

  const Pipeline& pipeline_;
  int pass_;
  model::PartitionKey key_;
  PipelineRunner runner_;
  std::int64_t first_row_ = 0;
  std::vector<std::size_t> step_index_, first_of_step_;
  std::vector<Moments> moments_;
  std::vector<ValueCounts> counts_;
};

// A model pass: the whole pipeline, then the model's own accumulator on the result.
class ModelAccumulator final : public model::PartialAccumulator {
public:
  ModelAccumulator(const Pipeline& pipeline, const model::Trainer& inner,
                   const std::vector<int>& slots, const model::PartitionKey& key,
                   model::AccumulatorOptions options, int pass)
      : pipeline_(pipeline), key_(key), slots_(slots), runner_(pipeline, pass, RowSet::training),
        is_error_on_nonfinite_(options.nonfinite == model::NonFinitePolicy::error) {
    first_row_ = rows_before_ = options.first_row; // the inner numbers its kept rows from here
    options.is_known_usable = false; // derived values may be non-finite where raw ones were not
    options.nonfinite = model::NonFinitePolicy::drop_rows; // counted here, refused in finish()
    inner_ = inner.make_accumulator(key, options);
  }

  std::int64_t begin_block(std::int64_t) override { return 0; }
  std::int64_t prepare_block(const double* data, std::int64_t ld, std::int64_t rows) override {
    kept_ = runner_.apply(data, ld, rows, source_of(key_, first_row_));
    first_row_ += rows;
    if (kept_ == 0) return 0;
    block_.resize(static_cast<std::size_t>(kept_) * slots_.size());
    runner_.gather(slots_, block_.data(), kept_);
    return inner_->prepare_block(block_.data(), kept_, kept_);
  }
  void compute_tile(std::int64_t tile, const double*, std::int64_t, std::int64_t) override {
    inner_->compute_tile(tile, block_.data(), kept_, kept_);
  }
  void end_block(std::int64_t) override {
    if (kept_ == 0) return;
    inner_->end_block(kept_);
    const model::NonFiniteReport report = inner_->nonfinite();
    if (first_raw_row_ < 0 && report.num_values > 0) {
      const std::int64_t at = report.first_row - rows_before_;
      first_raw_row_ = at >= 0 && at < kept_ ? runner_.row_index()[at] : report.first_row;
    }
    rows_before_ += kept_;
  }
  model::NonFiniteReport nonfinite() const override {
    model::NonFiniteReport report = inner_->nonfinite();
    report.first_row = first_raw_row_;
    return report;
  }

  model::Partial finish() override {
    const model::NonFiniteReport report = nonfinite();
    if (is_error_on_nonfinite_ && report.num_values > 0) {
      throw DataError(fmt::format(
          "{} NaN/Inf values (or beyond ±1e100) in the model's columns after the pipeline; the "
          "first in column {}, row {} (set lake.on_nonfinite = \"drop_rows\" to drop such rows)",
          report.num_values,
          describe_column(pipeline_, slots_.at(static_cast<std::size_t>(report.first_column))),
          report.first_row));
    }
    model::Partial inner = inner_->finish();
    model::Partial partial(runner_.kept_counts().begin(), runner_.kept_counts().end());
    partial.push_back(static_cast<double>(inner.size()));
    partial.insert(partial.end(), inner.begin(), inner.end());
    return partial;
  }

private:
  const Pipeline& pipeline_;
  model::PartitionKey key_;
  std::vector<int> slots_;
  PipelineRunner runner_;
  bool is_error_on_nonfinite_;
  std::unique_ptr<model::PartialAccumulator> inner_;
  std::vector<double> block_;
  std::int64_t kept_ = 0, first_row_ = 0, rows_before_ = 0, first_raw_row_ = -1;
};

// The validation pass: the whole pipeline on the validation rows, scored by the fitted model.
class ValidationAccumulator final : public model::PartialAccumulator {
public:
  ValidationAccumulator(const Pipeline& pipeline, std::shared_ptr<const model::FittedModel> model,
                        std::vector<int> feature_slots, int label_slot, const model::PartitionKey& key,
                        std::int64_t first_row)
      : key_(key), model_(std::move(model)), feature_slots_(std::move(feature_slots)),
        label_slot_(label_slot), runner_(pipeline, fully_fitted, RowSet::validation),
        family_(metric_family(*model_)), first_row_(first_row) {}

  std::int64_t begin_block(std::int64_t) override { return 0; }
  std::int64_t prepare_block(const double* data, std::int64_t ld, std::int64_t rows) override {
    const std::int64_t kept = runner_.apply(data, ld, rows, source_of(key_, first_row_));
    first_row_ += rows;
    if (kept == 0) return 0;
    features_.resize(static_cast<std::size_t>(kept) * feature_slots_.size());
    runner_.gather(feature_slots_, features_.data(), kept);
    const std::size_t num_outputs = model_->outputs().size();
    outputs_.resize(static_cast<std::size_t>(kept) * num_outputs);
    model_->score(features_.data(), kept, kept, outputs_.data(), kept);
    // Rows the model cannot score (a non-finite input) are left out of the metrics.
    labels_.assign(static_cast<std::size_t>(kept), 0.0);
    if (label_slot_ >= 0) std::copy(runner_.column(label_slot_), runner_.column(label_slot_) + kept, labels_.begin());
    std::int64_t usable = 0;
    for (std::int64_t i = 0; i < kept; ++i) {
      bool is_usable = std::isfinite(labels_[static_cast<std::size_t>(i)]);
      for (std::size_t o = 0; o < num_outputs; ++o) {
        is_usable = is_usable && std::isfinite(outputs_[o * static_cast<std::size_t>(kept) + static_cast<std::size_t>(i)]);
      }
      if (!is_usable) continue;
      for (std::size_t o = 0; o < num_outputs; ++o) {
        outputs_[o * static_cast<std::size_t>(kept) + static_cast<std::size_t>(usable)] =
            outputs_[o * static_cast<std::size_t>(kept) + static_cast<std::size_t>(i)];
      }
      labels_[static_cast<std::size_t>(usable)] = labels_[static_cast<std::size_t>(i)];
      ++usable;
    }
    if (usable < kept) {
      for (std::size_t o = 1; o < num_outputs; ++o) {
        std::copy_n(outputs_.begin() + static_cast<std::ptrdiff_t>(o) * kept, usable,
                    outputs_.begin() + static_cast<std::ptrdiff_t>(o) * usable);
      }
    }
    add_validation_rows(family_, outputs_.data(), labels_.data(), usable, partial_);
    return 0;
  }
  void compute_tile(std::int64_t, const double*, std::int64_t, std::int64_t) override {}
  void end_block(std::int64_t) override {}
  model::NonFiniteReport nonfinite() const override { return {}; }
  model::Partial finish() override { return partial_; }

private:
  model::PartitionKey key_;
  std::shared_ptr<const model::FittedModel> model_;
  std::vector<int> feature_slots_;
  int label_slot_;
  PipelineRunner runner_;
  MetricFamily family_;
  std::int64_t first_row_ = 0;
  std::vector<double> features_, outputs_, labels_;
  model::Partial partial_;
};

std::string join_steps(const Pipeline& pipeline, int pass) {
  std::string text;
  for (const Step& step : pipeline.steps()) {
    if (step.fit_pass == pass) text += fmt::format("{}{}", text.empty() ? "" : ", ", step.label());
  }
  return text;
}

} // namespace

PipelineTrainer::PipelineTrainer(Pipeline pipeline, job::ModelSpec model)
    : pipeline_(std::move(pipeline)), spec_(std::move(model)) {
  raw_inputs_ = pipeline_.raw_inputs();
  // The model's keys are checked now, before any data is read, on the names as given. Without a
  // model (a transform-only job) the passes fit the pipeline alone.
  if (!spec_.kind.empty()) inner_ = model::make_trainer(spec_);
  merged_scaler_pass_ = find_mergeable_scalers();
  fit_passes_to_run_ = pipeline_.num_fit_passes() - (merged_scaler_pass_ >= 0 ? 1 : 0);
  if (fit_passes_to_run_ == 0) start_model();
}

PipelineTrainer::~PipelineTrainer() = default;

void PipelineTrainer::start_model() {
  if (spec_.kind.empty()) {
    phase_ = Phase::done;
    return;
  }
  job::ModelSpec spec = spec_;
  spec.features.clear();
  for (const std::string& name : spec_.features) {
    for (int slot : pipeline_.resolve(name, "model feature")) {
      spec.features.push_back(pipeline_.columns()[static_cast<std::size_t>(slot)].name);
    }
  }
  if (spec.features.empty()) {
    throw DataError("the model has no feature columns after the pipeline (a one_hot column with no "
                    "category?)");
  }
  inner_ = model::make_trainer(spec);
  model_slots_.clear();
  for (const std::string& name : inner_->columns()) {
    const int slot = pipeline_.find_column(name);
    if (slot < 0) throw ConfigError(fmt::format("model column '{}' is no column of the pipeline", name));
    model_slots_.push_back(slot);
  }
  num_counts_ = 2 + pipeline_.row_steps(fully_fitted).size();
  phase_ = Phase::model;
}

int PipelineTrainer::find_mergeable_scalers() const {
  const int last = pipeline_.num_fit_passes() - 1;
  if (last < 0 || !inner_) return -1;
  const std::string_view kind = inner_->kind();
  const bool reads_statistics = kind == "ridge" || kind == "ols" || kind == "pca";
  if (!reads_statistics || spec_.params.is_array("alpha")) return -1; // an alpha search has folds
  std::set<std::string> scaled;
  bool is_after_scaler = false;
  for (const Step& step : pipeline_.steps()) {
    if (step.fit_pass == last) {
      if (step.kind != StepKind::scale || step.method != ScaleMethod::standard) return -1;
      for (const std::string& column : step.columns) {
        const bool is_feature = std::find(spec_.features.begin(), spec_.features.end(), column) !=
                                spec_.features.end();
        if (!is_feature || column == spec_.label) return -1;
        scaled.insert(column);
      }
      is_after_scaler = true;
      continue;
    }
    if (!is_after_scaler) continue;
    // After a scaler: nothing may read a scaled column or drop rows (the model's rows must be
    // the scaler's).
    const bool drops_rows = step.kind == StepKind::filter ||
                            (step.kind == StepKind::impute && step.strategy == ImputeStrategy::drop);
    if (drops_rows || step.is_stateful()) return -1;
    for (const std::string& column : step.columns) {
      if (scaled.contains(column)) return -1;
    }
  }
  return last;
}

bool PipelineTrainer::is_scaler_pending() const {
  return merged_scaler_pass_ >= 0 && !pipeline_.steps().empty() &&
         std::any_of(pipeline_.steps().begin(), pipeline_.steps().end(), [&](const Step& step) {
           return step.fit_pass == merged_scaler_pass_ && !step.is_fitted;
         });
}

// The scalers' mean and population std are the model statistics' own (over the same rows); the
// statistics are then rescaled as if the model had read scaled columns: mean 0, co-moments
// divided by the stds.
void PipelineTrainer::fit_scalers_from_statistics(model::Partial& statistics) {
  const Eigen::Index k = model::SufficientStats::columns_of_buffer(statistics.size());
  model::SufficientStats stats = model::SufficientStats::from_buffer(statistics, k);
  const std::vector<std::string>& columns = inner_->columns();
  for (Step& step : pipeline_.steps()) {
    if (step.fit_pass != merged_scaler_pass_) continue;
    step.center.clear();
    step.scale.clear();
    for (const std::string& column : step.columns) {
      const auto at = static_cast<Eigen::Index>(std::find(columns.begin(), columns.end(), column) - columns.begin());
      const double mean = stats.mean(at);
      const double std = std::sqrt(stats.comoment(at, at) / static_cast<double>(stats.count));
      if (!(std > 0.0)) {
        throw DataError(fmt::format("{}: column '{}' is constant ({}) over the {} rows that reach "
                                    "the step; it cannot be scaled", step.label(), column, mean, stats.count));
      }
      step.center.push_back(mean);
      step.scale.push_back(std);
      stats.mean(at) = 0.0;
      stats.comoment.row(at) /= std;
      stats.comoment.col(at) /= std;
    }
    step.is_fitted = true;
  }
  statistics = stats.to_buffer();
  pass_notes_.push_back(fmt::format("fitted {} from the model's statistics", join_steps(pipeline_, merged_scaler_pass_)));
}

std::string_view PipelineTrainer::kind() const { return inner_ ? inner_->kind() : "transform"; }

std::string PipelineTrainer::report_column(std::int64_t index) const {
  if (phase_ != Phase::model) return fmt::format("#{}", index);
  return describe_column(pipeline_, model_slots_.at(static_cast<std::size_t>(index)));
}

bool PipelineTrainer::is_iterative() const {
  return pipeline_.num_fit_passes() > 0 || pipeline_.split().is_enabled() ||
         (inner_ && inner_->is_iterative());
}

std::string PipelineTrainer::pass_name() const {
  switch (phase_) {
  case Phase::fit: return fmt::format("fit {}", join_steps(pipeline_, fit_pass_));
  case Phase::model: return inner_->pass_name();
  case Phase::validate: return "validate";
  case Phase::done: break;
  }
  return "done";
}

bool PipelineTrainer::is_root_only_pass() const {
  return phase_ == Phase::model && inner_->is_root_only_pass();
}

std::unique_ptr<model::PartialAccumulator> PipelineTrainer::make_accumulator(
    const model::PartitionKey& partition, const model::AccumulatorOptions& options) const {
  switch (phase_) {
  case Phase::fit:
    return std::make_unique<FitAccumulator>(pipeline_, fit_pass_, partition, options.first_row);
  case Phase::model:
    // Scalers fitted from the model's statistics are not applied yet in the model's first pass.
    return std::make_unique<ModelAccumulator>(
        pipeline_, *inner_, model_slots_, partition, options,
        is_scaler_pending() ? merged_scaler_pass_ : fully_fitted);
  case Phase::validate: {
    const std::size_t num_features = model_slots_.size() - (spec_.label.empty() ? 0 : 1);
    std::vector<int> features(model_slots_.begin(), model_slots_.begin() + static_cast<std::ptrdiff_t>(num_features));
    return std::make_unique<ValidationAccumulator>(pipeline_, inner_->model(), features,
                                                   spec_.label.empty() ? -1 : model_slots_.back(), partition,
                                                   options.first_row);
  }
  case Phase::done: break;
  }
  throw std::logic_error("no pass left to accumulate");
}

void PipelineTrainer::merge(model::Partial& into, const model::Partial& from) const {
  switch (phase_) {
  case Phase::fit: merge_fit_partials(pipeline_, fit_pass_, into, from); return;
  case Phase::model: {
    // The row counts add up; the model's partials merge as the model says (empty: identity).
    const std::size_t counts = num_counts_;
    for (std::size_t i = 0; i < counts; ++i) into[i] += from[i];
    model::Partial left(into.begin() + static_cast<std::ptrdiff_t>(counts) + 1, into.end());
    const model::Partial right(from.begin() + static_cast<std::ptrdiff_t>(counts) + 1, from.end());
    if (left.empty()) left = right;
    else if (!right.empty()) inner_->merge(left, right);
    into.resize(counts);
    into.push_back(static_cast<double>(left.size()));
    into.insert(into.end(), left.begin(), left.end());
    return;
  }
  case Phase::validate:
    merge_validation(metric_family(*inner_->model()), into, from);
    return;
  case Phase::done: break;
  }
}

bool PipelineTrainer::update(const model::Partial& merged) {
  switch (phase_) {
  case Phase::fit:
    if (merged.empty()) throw DataError("no partition could be read to fit the pipeline");
    fit_steps(pipeline_, fit_pass_, merged);
    pass_notes_.push_back(fmt::format("fitted {}", join_steps(pipeline_, fit_pass_)));
    ++fit_pass_;
    if (fit_pass_ >= fit_passes_to_run_) start_model();
    return phase_ != Phase::done;
  case Phase::model: {
    model::Partial inner;
    if (!merged.empty()) {
      const std::size_t counts = num_counts_;
      // Which step left no row, when none is left: named before the model complains.
      pipeline_.check_rows_kept(fully_fitted,
                                std::vector<double>(merged.begin(), merged.begin() + static_cast<std::ptrdiff_t>(counts)));
      inner.assign(merged.begin() + static_cast<std::ptrdiff_t>(counts) + 1, merged.end());
      if (is_scaler_pending() && !inner.empty()) fit_scalers_from_statistics(inner);
      if (pass_notes_.size() < 64) pass_notes_.push_back(fmt::format("{}: {} rows in, {} to the model",
                                                                     inner_->pass_name(), merged[0], merged[counts - 1]));
    }
    if (inner_->update(inner)) return true;
    if (pipeline_.split().is_enabled()) {
      phase_ = Phase::validate;
      return true;
    }
    phase_ = Phase::done;
    return false;
  }
  case Phase::validate:
    validation_metrics_ = validation_metrics(metric_family(*inner_->model()), merged);
    phase_ = Phase::done;
    return false;
  case Phase::done: break;
  }
  return false;
}

std::shared_ptr<const model::FittedModel> PipelineTrainer::model() const {
  return inner_ ? inner_->model() : nullptr;
}

model::Metrics PipelineTrainer::metrics() const {
  if (!inner_) return {};
  model::Metrics metrics = inner_->metrics();
  metrics.insert(metrics.end(), validation_metrics_.begin(), validation_metrics_.end());
  return metrics;
}

model::History PipelineTrainer::history() const { return inner_ ? inner_->history() : model::History{}; }

const model::SufficientStats* PipelineTrainer::statistics() const {
  return inner_ ? inner_->statistics() : nullptr;
}

} // namespace sluice::transform
