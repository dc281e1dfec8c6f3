// Validation partials. Regression: [n, mean_y, M2_y, Σe²] (Chan merge of the label's moments);
// classification: [n, Σ log loss, correct, then ascending (p, positives, negatives) triples] so
// the AUC is exact; clustering: [n, Σ distance²].
#include "validation_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sluice::transform {

MetricFamily metric_family(const model::FittedModel& model) {
  const std::vector<std::string> outputs = model.outputs();
  if (outputs.empty()) return MetricFamily::none;
  if (outputs[0] == "prediction") return MetricFamily::regression;
  if (outputs[0] == "probability") return MetricFamily::classification;
  if (outputs[0] == "cluster") return MetricFamily::clustering;
  return MetricFamily::none;
}

namespace {

void merge_sorted_triples(std::vector<double>& into, std::size_t from_at, const std::vector<double>& from) {
  std::vector<double> merged(into.begin(), into.begin() + 3);
  std::size_t a = 3, b = from_at;
  while (a + 2 < into.size() || b + 2 < from.size()) {
    const bool take_a = b + 2 >= from.size() || (a + 2 < into.size() && into[a] <= from[b]);
    const double* t = take_a ? &into[a] : &from[b];
    if (merged.size() > 3 && merged[merged.size() - 3] == t[0]) {
      merged[merged.size() - 2] += t[1];
      merged[merged.size() - 1] += t[2];
    } else {
      merged.insert(merged.end(), {t[0], t[1], t[2]});
    }
    (take_a ? a : b) += 3;
  }
  into = std::move(merged);
}

} // namespace

void add_validation_rows(MetricFamily family, const double* outputs, const double* labels,
                         std::int64_t rows, std::vector<double>& partial) {
  if (rows == 0 || family == MetricFamily::none) return;
  std::vector<double> block;
  switch (family) {
  case MetricFamily::regression: {
    double sum = 0.0;
    for (std::int64_t i = 0; i < rows; ++i) sum += labels[i];
    const double mean = sum / static_cast<double>(rows);
    double m2 = 0.0, sse = 0.0;
    for (std::int64_t i = 0; i < rows; ++i) {
      m2 += (labels[i] - mean) * (labels[i] - mean);
      sse += (labels[i] - outputs[i]) * (labels[i] - outputs[i]);
    }
    block = {static_cast<double>(rows), mean, m2, sse};
    break;
  }
  case MetricFamily::classification: {
    constexpr double eps = std::numeric_limits<double>::epsilon(); // scikit-learn's clip
    double loss = 0.0, correct = 0.0;
    std::vector<std::pair<double, double>> scored; // (p, y)
    for (std::int64_t i = 0; i < rows; ++i) {
      const double p = std::clamp(outputs[i], eps, 1.0 - eps);
      loss -= labels[i] != 0.0 ? std::log(p) : std::log1p(-p);
      correct += (outputs[rows + i] == labels[i]) ? 1.0 : 0.0;
      scored.emplace_back(outputs[i], labels[i]);
    }
    std::sort(scored.begin(), scored.end());
    block = {static_cast<double>(rows), loss, correct};
    for (const auto& [p, y] : scored) {
      if (block.size() > 3 && block[block.size() - 3] == p) {
        block[block.size() - (y != 0.0 ? 2 : 1)] += 1.0;
      } else {
        block.insert(block.end(), {p, y != 0.0 ? 1.0 : 0.0, y != 0.0 ? 0.0 : 1.0});
      }
    }
    break;
  }
  case MetricFamily::clustering: {
    double inertia = 0.0;
    for (std::int64_t i = 0; i < rows; ++i) inertia += outputs[rows + i] * outputs[rows + i];
    block = {static_cast<double>(rows), inertia};
    break;
  }
  case MetricFamily::none: return;
  }
  if (partial.empty()) {
    partial = std::move(block);
  } else {
    merge_validation(family, partial, block);
  }
}

void merge_validation(MetricFamily family, std::vector<double>& into, const std::vector<double>& from) {
  if (from.empty()) return;
  if (into.empty()) {
    into = from;
    return;
  }
  switch (family) {
  case MetricFamily::regression: {
    const double n = into[0] + from[0];
    const double delta = from[1] - into[1];
    into[1] += delta * (from[0] / n);
    into[2] += from[2] + delta * delta * (into[0] * from[0] / n);
    into[3] += from[3];
    into[0] = n;
    break;
  }
  case MetricFamily::classification: {
    into[0] += from[0];
    into[1] += from[1];
    into[2] += from[2];
    merge_sorted_triples(into, 3, from);
    break;
  }
  case MetricFamily::clustering:
    into[0] += from[0];
    into[1] += from[1];
    break;
  case MetricFamily::none: break;
  }
}

model::Metrics validation_metrics(MetricFamily family, const std::vector<double>& merged) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double n = merged.empty() ? 0.0 : merged[0];
  switch (family) {
  case MetricFamily::regression:
    return {{"validation_rmse", n > 0 ? std::sqrt(merged[3] / n) : nan},
            {"validation_r2", n > 0 && merged[2] > 0 ? 1.0 - merged[3] / merged[2] : nan},
            {"validation_rows", n}};
  case MetricFamily::classification: {
    if (n == 0) return {{"validation_log_loss", nan}, {"validation_accuracy", nan}, {"validation_auc", nan}, {"validation_rows", 0.0}};
    double negatives_below = 0.0, pairs = 0.0, positives = 0.0, negatives = 0.0;
    for (std::size_t t = 3; t + 2 < merged.size(); t += 3) {
      pairs += merged[t + 1] * (negatives_below + 0.5 * merged[t + 2]);
      negatives_below += merged[t + 2];
      positives += merged[t + 1];
      negatives += merged[t + 2];
    }
    return {{"validation_log_loss", merged[1] / n},
            {"validation_accuracy", merged[2] / n},
            {"validation_auc", positives > 0 && negatives > 0 ? pairs / (positives * negatives) : nan},
            {"validation_rows", n}};
  }
  case MetricFamily::clustering:
    return {{"validation_inertia", n > 0 ? merged[1] : nan}, {"validation_rows", n}};
  case MetricFamily::none: break;
  }
  return {{"validation_rows", n}};
}

} // namespace sluice::transform
