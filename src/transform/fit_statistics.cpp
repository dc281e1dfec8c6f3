// Fitting the stateful steps from merged statistics, with the stable (Chan et al.) merge of
// moments so that the variance of a scaler does not depend on the magnitude of the mean.
#include "fit_statistics.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>

#include <cmath>

namespace sluice::transform {

bool uses_moments(const Step& step) {
  return step.kind == StepKind::scale ||
         (step.kind == StepKind::impute && step.strategy == ImputeStrategy::mean);
}

std::int64_t value_cap(const Step& step) {
  return step.kind == StepKind::one_hot ? step.max_categories : max_distinct_values;
}

void Moments::add(const double* values, std::int64_t rows, const Step& step) {
  // The block's own count, mean and M2 (two passes over the block), then merged.
  Moments block;
  double sum = 0.0;
  for (std::int64_t i = 0; i < rows; ++i) {
    const double x = values[i];
    if (!std::isfinite(x) || (step.missing && x == *step.missing)) continue;
    if (block.count == 0.0) {
      block.min = x;
      block.max = x;
    }
    block.count += 1.0;
    sum += x;
    block.min = std::min(block.min, x);
    block.max = std::max(block.max, x);
  }
  if (block.count == 0.0) return;
  block.mean = sum / block.count;
  for (std::int64_t i = 0; i < rows; ++i) {
    const double x = values[i];
    if (!std::isfinite(x) || (step.missing && x == *step.missing)) continue;
    const double d = x - block.mean;
    block.m2 += d * d;
  }
  merge(block);
}

void Moments::merge(const Moments& other) {
  if (other.count == 0.0) return;
  if (count == 0.0) {
    *this = other;
    return;
  }
  const double n = count + other.count;
  const double delta = other.mean - mean;
  mean += delta * (other.count / n);
  m2 += other.m2 + delta * delta * (count * other.count / n);
  count = n;
  min = std::min(min, other.min);
  max = std::max(max, other.max);
}

void append(std::vector<double>& partial, const Moments& m) {
  partial.insert(partial.end(), {m.count, m.mean, m.m2, m.min, m.max});
}

void append(std::vector<double>& partial, const ValueCounts& counts) {
  if (counts.is_over) {
    partial.push_back(-1.0);
    return;
  }
  partial.push_back(static_cast<double>(counts.counts.size()));
  for (const auto& [value, count] : counts.counts) partial.insert(partial.end(), {value, count});
}

Moments read_moments(const std::vector<double>& partial, std::size_t& at) {
  Moments m{partial.at(at), partial.at(at + 1), partial.at(at + 2), partial.at(at + 3), partial.at(at + 4)};
  at += Moments::size;
  return m;
}

ValueCounts read_counts(const std::vector<double>& partial, std::size_t& at) {
  ValueCounts counts;
  const double size = partial.at(at++);
  if (size < 0) {
    counts.is_over = true;
    return counts;
  }
  for (std::size_t i = 0; i < static_cast<std::size_t>(size); ++i) {
    counts.counts.emplace(partial.at(at), partial.at(at + 1));
    at += 2;
  }
  return counts;
}

void merge_fit_partials(const Pipeline& pipeline, int pass, std::vector<double>& into,
                        const std::vector<double>& from) {
  std::vector<double> merged;
  std::size_t a = 0, b = 0;
  for (const Step& step : pipeline.steps()) {
    if (step.fit_pass != pass) continue;
    for (std::size_t c = 0; c < step.columns.size(); ++c) {
      if (uses_moments(step)) {
        Moments m = read_moments(into, a);
        m.merge(read_moments(from, b));
        append(merged, m);
      } else {
        ValueCounts left = read_counts(into, a);
        const ValueCounts right = read_counts(from, b);
        left.is_over = left.is_over || right.is_over;
        if (!left.is_over) {
          for (const auto& [value, count] : right.counts) left.counts[value] += count;
          left.is_over = static_cast<std::int64_t>(left.counts.size()) > value_cap(step);
        }
        append(merged, left);
      }
    }
  }
  into = std::move(merged);
}

void fit_steps(Pipeline& pipeline, int pass, const std::vector<double>& merged) {
  std::size_t at = 0;
  for (Step& step : pipeline.steps()) {
    if (step.fit_pass != pass) continue;
    step.center.clear();
    step.scale.clear();
    step.categories.clear();
    for (const std::string& column : step.columns) {
      if (uses_moments(step)) {
        const Moments m = read_moments(merged, at);
        if (m.count == 0.0) {
          throw DataError(fmt::format("{}: no finite value of column '{}' reaches the step (do the "
                                      "filters before it keep any row?)", step.label(), column));
        }
        if (step.kind == StepKind::impute) {
          step.center.push_back(m.mean);
          step.scale.push_back(1.0);
        } else if (step.method == ScaleMethod::standard) {
          const double std = std::sqrt(m.m2 / m.count); // population (ddof 0), as scikit-learn
          if (!(std > 0.0)) {
            throw DataError(fmt::format("{}: column '{}' is constant ({}) over the {} rows that "
                                        "reach the step; it cannot be scaled", step.label(), column,
                                        m.mean, m.count));
          }
          step.center.push_back(m.mean);
          step.scale.push_back(std);
        } else {
          if (!(m.max > m.min)) {
            throw DataError(fmt::format("{}: column '{}' is constant ({}) over the {} rows that "
                                        "reach the step; it cannot be min-max scaled", step.label(),
                                        column, m.min, m.count));
          }
          step.center.push_back(m.min);
          step.scale.push_back(m.max - m.min);
        }
        continue;
      }
      const ValueCounts counts = read_counts(merged, at);
      if (counts.is_over) {
        throw DataError(fmt::format("{}: column '{}' holds more than {} distinct values{}",
                                    step.label(), column, value_cap(step),
                                    step.kind == StepKind::one_hot ? " (raise max_categories, or "
                                                                     "encode a coarser column)" : ""));
      }
      if (counts.counts.empty()) {
        throw DataError(fmt::format("{}: no value of column '{}' reaches the step (do the filters "
                                    "before it keep any row?)", step.label(), column));
      }
      if (step.kind == StepKind::one_hot) {
        std::vector<double> categories;
        for (const auto& [value, count] : counts.counts) categories.push_back(value);
        step.categories.push_back(std::move(categories));
      } else {
        // The most frequent value; among ties the smallest (as pandas' mode()[0]).
        double best = counts.counts.begin()->first;
        double best_count = -1.0;
        for (const auto& [value, count] : counts.counts) {
          if (count > best_count) {
            best = value;
            best_count = count;
          }
        }
        step.center.push_back(best);
        step.scale.push_back(1.0);
      }
    }
    step.is_fitted = true;
  }
  for (std::size_t s = 0; s < pipeline.steps().size(); ++s) {
    const Step& step = pipeline.steps()[s];
    if (step.fit_pass == pass && step.kind == StepKind::one_hot) {
      pipeline.add_one_hot_columns(static_cast<int>(s));
    }
  }
}

} // namespace sluice::transform
