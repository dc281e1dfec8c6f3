// Applying a pipeline to a block: each step is a loop over whole columns; row filters compact the
// live columns in place, so later steps only see the rows kept.
#include "sluice/transform/pipeline_runner.hpp"

#include "expression.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace sluice::transform {

struct PipelineRunner::Scratch {
  Expression::Workspace workspace;
  std::vector<const double*> arguments;
  std::vector<double> result;
};

bool is_validation_row(const Split& split, std::uint64_t path_hash, std::int64_t row) {
  const std::uint64_t key[2] = {path_hash, static_cast<std::uint64_t>(row)};
  const std::uint64_t hash = XXH3_64bits_withSeed(key, sizeof key, split.seed);
  const double uniform = static_cast<double>(hash >> 11) * 0x1.0p-53;
  return uniform < split.fraction;
}

double hive_key_value(const std::vector<std::string>& values, const std::string& value) {
  char* end = nullptr;
  const double number = std::strtod(value.c_str(), &end);
  if (!value.empty() && end == value.c_str() + value.size() && std::isfinite(number)) return number;
  auto found = std::lower_bound(values.begin(), values.end(), value);
  if (found == values.end() || *found != value) return std::nan("");
  return static_cast<double>(found - values.begin());
}

PipelineRunner::PipelineRunner(const Pipeline& pipeline, int pass, RowSet rows, StepObserver observer)
    : pipeline_(&pipeline), pass_(pass), row_set_(rows), observer_(std::move(observer)),
      scratch_(std::make_unique<Scratch>()) {
  row_steps_ = pipeline.row_steps(pass);
  kept_counts_.assign(2 + row_steps_.size(), 0);
  slots_.resize(pipeline.columns().size());
  is_live_.assign(slots_.size(), 0);
  num_raw_ = static_cast<std::size_t>(std::count_if(
      pipeline.columns().begin(), pipeline.columns().end(),
      [](const Column& c) { return c.source == ColumnSource::raw; }));
}

PipelineRunner::~PipelineRunner() = default;
PipelineRunner::PipelineRunner(PipelineRunner&&) noexcept = default;

void PipelineRunner::keep_rows(const std::vector<char>& keep) {
  std::int64_t kept = 0;
  for (std::int64_t i = 0; i < rows_; ++i) kept += keep[static_cast<std::size_t>(i)] != 0;
  if (kept == rows_) return;
  for (std::size_t s = 0; s < slots_.size(); ++s) {
    if (!is_live_[s]) continue;
    double* values = slots_[s].data();
    std::int64_t at = 0;
    for (std::int64_t i = 0; i < rows_; ++i) {
      values[at] = values[i];
      at += keep[static_cast<std::size_t>(i)] != 0;
    }
  }
  std::int64_t at = 0;
  for (std::int64_t i = 0; i < rows_; ++i) {
    row_index_[static_cast<std::size_t>(at)] = row_index_[static_cast<std::size_t>(i)];
    at += keep[static_cast<std::size_t>(i)] != 0;
  }
  rows_ = kept;
}

std::int64_t PipelineRunner::apply(const double* raw, std::int64_t ld, std::int64_t rows,
                                   const BlockSource& source) {
  const Pipeline& pipeline = *pipeline_;
  const auto n = static_cast<std::size_t>(rows);
  for (auto& slot : slots_) {
    if (slot.size() < n) slot.resize(n);
  }
  if (row_index_.size() < n) row_index_.resize(n);
  if (keep_.size() < n) keep_.resize(n);
  std::fill(is_live_.begin(), is_live_.end(), 0);
  rows_ = rows;
  std::size_t raw_index = 0;
  std::size_t key_index = num_raw_; // serving: the key values follow the raw columns
  for (std::size_t s = 0; s < pipeline.columns().size(); ++s) {
    const Column& column = pipeline.columns()[s];
    if (column.source == ColumnSource::raw) {
      std::copy(raw + static_cast<std::int64_t>(raw_index) * ld,
                raw + static_cast<std::int64_t>(raw_index) * ld + rows, slots_[s].data());
      ++raw_index;
      is_live_[s] = 1;
    } else if (column.source == ColumnSource::hive_key && source.hive_keys == nullptr) {
      std::copy(raw + static_cast<std::int64_t>(key_index) * ld,
                raw + static_cast<std::int64_t>(key_index) * ld + rows, slots_[s].data());
      ++key_index;
      is_live_[s] = 1;
    } else if (column.source == ColumnSource::hive_key) {
      double value = std::nan("");
      {
        auto found = source.hive_keys->find(column.name);
        if (found != source.hive_keys->end()) {
          value = hive_key_value(pipeline.hive_values().at(column.name), found->second);
        }
      }
      std::fill(slots_[s].begin(), slots_[s].begin() + rows, value);
      is_live_[s] = 1;
    }
  }
  for (std::int64_t i = 0; i < rows; ++i) row_index_[static_cast<std::size_t>(i)] = source.first_row + i;
  kept_counts_[0] += rows;

  const Split& split = pipeline.split();
  if (row_set_ != RowSet::all && split.is_enabled()) {
    const bool want_validation = row_set_ == RowSet::validation;
    if (!split.key.empty()) {
      bool is_validation = false;
      if (source.hive_keys != nullptr) {
        auto found = source.hive_keys->find(split.key);
        is_validation = found != source.hive_keys->end() &&
                        std::find(split.values.begin(), split.values.end(), found->second) !=
                            split.values.end();
      }
      if (is_validation != want_validation) rows_ = 0;
    } else {
      for (std::int64_t i = 0; i < rows; ++i) {
        keep_[static_cast<std::size_t>(i)] =
            is_validation_row(split, source.path_hash, source.first_row + i) == want_validation;
      }
      keep_rows(keep_);
    }
  }
  kept_counts_[1] += rows_;

  std::size_t row_step = 0;
  for (std::size_t s = 0; s < pipeline.steps().size(); ++s) {
    const Step& step = pipeline.steps()[s];
    if (step.is_stateful()) {
      if (step.fit_pass == pass_) {
        if (observer_) {
          for (std::size_t c = 0; c < step.columns.size(); ++c) {
            observer_(s, c, slots_[static_cast<std::size_t>(pipeline.find_column(step.columns[c]))].data(),
                      rows_);
          }
        }
        continue;
      }
      if (step.fit_pass > pass_) continue;
    } else if (step.level > pass_) {
      continue;
    }
    run_step(s, source);
    if (row_step < row_steps_.size() && row_steps_[row_step] == s) {
      kept_counts_[2 + row_step] += rows_;
      ++row_step;
    }
  }
  return rows_;
}

void PipelineRunner::run_step(std::size_t index, const BlockSource& source) {
  const Pipeline& pipeline = *pipeline_;
  const Step& step = pipeline.steps()[index];
  const auto n = static_cast<std::size_t>(rows_);
  const auto slot_of = [&](const std::string& name) {
    return static_cast<std::size_t>(pipeline.find_column(name));
  };
  const auto is_missing = [&](double x) { return std::isnan(x) || (step.missing && x == *step.missing); };
  switch (step.kind) {
  case StepKind::filter:
  case StepKind::derive: {
    Scratch& scratch = *scratch_;
    scratch.arguments.clear();
    for (const std::string& name : step.columns) scratch.arguments.push_back(slots_[slot_of(name)].data());
    if (step.kind == StepKind::derive) {
      const std::size_t out = slot_of(step.output);
      pipeline.expression(index).evaluate(scratch.arguments, rows_, slots_[out].data(), scratch.workspace);
      is_live_[out] = 1;
    } else {
      if (scratch.result.size() < n) scratch.result.resize(n);
      pipeline.expression(index).evaluate(scratch.arguments, rows_, scratch.result.data(), scratch.workspace);
      for (std::size_t i = 0; i < n; ++i) keep_[i] = scratch.result[i] != 0 && !std::isnan(scratch.result[i]);
      keep_rows(keep_);
    }
    break;
  }
  case StepKind::impute: {
    if (step.strategy == ImputeStrategy::drop) {
      std::fill(keep_.begin(), keep_.begin() + static_cast<std::ptrdiff_t>(n), 1);
      for (const std::string& name : step.columns) {
        const double* x = slots_[slot_of(name)].data();
        for (std::size_t i = 0; i < n; ++i) {
          if (is_missing(x[i])) keep_[i] = 0;
        }
      }
      keep_rows(keep_);
      break;
    }
    for (std::size_t c = 0; c < step.columns.size(); ++c) {
      const double fill = step.strategy == ImputeStrategy::constant ? step.fill_value : step.center[c];
      double* x = slots_[slot_of(step.columns[c])].data();
      for (std::size_t i = 0; i < n; ++i) x[i] = is_missing(x[i]) ? fill : x[i];
    }
    break;
  }
  case StepKind::scale:
    for (std::size_t c = 0; c < step.columns.size(); ++c) {
      double* x = slots_[slot_of(step.columns[c])].data();
      const double center = step.center[c];
      const double scale = step.scale[c];
      for (std::size_t i = 0; i < n; ++i) x[i] = (x[i] - center) / scale;
    }
    break;
  case StepKind::cast:
    for (const std::string& name : step.columns) {
      double* x = slots_[slot_of(name)].data();
      const auto saturate = [&](double lo, double hi) {
        for (std::size_t i = 0; i < n; ++i) {
          if (!std::isnan(x[i])) x[i] = std::clamp(std::trunc(x[i]), lo, hi);
        }
      };
      switch (step.cast_to) {
      case CastType::float64: break;
      case CastType::float32:
        for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<double>(static_cast<float>(x[i]));
        break;
      case CastType::int64: saturate(-0x1.0p63, 0x1.0p63); break;
      case CastType::int32: saturate(-2147483648.0, 2147483647.0); break;
      case CastType::int8: saturate(-128.0, 127.0); break;
      case CastType::uint8: saturate(0.0, 255.0); break;
      case CastType::boolean:
        for (std::size_t i = 0; i < n; ++i) {
          if (!std::isnan(x[i])) x[i] = x[i] != 0 ? 1.0 : 0.0;
        }
        break;
      }
    }
    break;
  case StepKind::one_hot: {
    std::size_t first_output = 0;
    for (std::size_t s = 0; s < pipeline.columns().size(); ++s) {
      if (pipeline.columns()[s].source == ColumnSource::one_hot &&
          pipeline.columns()[s].step == static_cast<int>(index)) {
        first_output = s;
        break;
      }
    }
    std::size_t out = first_output;
    for (std::size_t c = 0; c < step.columns.size(); ++c) {
      const std::vector<double>& categories = step.categories[c];
      const double* x = slots_[slot_of(step.columns[c])].data();
      for (std::size_t j = 0; j < categories.size(); ++j) {
        std::fill(slots_[out + j].begin(), slots_[out + j].begin() + static_cast<std::ptrdiff_t>(n), 0.0);
        is_live_[out + j] = 1;
      }
      for (std::size_t i = 0; i < n; ++i) {
        auto found = std::lower_bound(categories.begin(), categories.end(), x[i]);
        if (found != categories.end() && *found == x[i]) {
          slots_[out + static_cast<std::size_t>(found - categories.begin())][i] = 1.0;
        } else if (step.unseen == UnseenPolicy::error) {
          throw DataError(fmt::format(
              "{}{}: column '{}' holds {} at row {}, which is not among its {} fitted categories "
              "(unseen = \"error\")",
              source.partition.empty() ? "" : source.partition + ": ", step.label(),
              step.columns[c], x[i], row_index_[i], categories.size()));
        }
      }
      out += categories.size();
    }
    break;
  }
  case StepKind::select: break; // chooses the output columns; no values change
  }
}

void PipelineRunner::gather(const std::vector<int>& slots, double* out, std::int64_t ld) const {
  for (std::size_t j = 0; j < slots.size(); ++j) {
    const double* values = slots_[static_cast<std::size_t>(slots[j])].data();
    std::copy(values, values + rows_, out + static_cast<std::int64_t>(j) * ld);
  }
}

} // namespace sluice::transform
