// Metrics of a fitted model on the validation rows of a split, from mergeable per-partition
// partials: regression (rmse, r2), classification (log loss, accuracy, exact AUC), clustering
// (inertia). The kind of metric follows from the model's outputs.
#pragma once

#include "sluice/model/trainer.hpp"

#include <cstdint>
#include <vector>

namespace sluice::transform {

enum class MetricFamily { none, regression, classification, clustering };

MetricFamily metric_family(const model::FittedModel& model);

/// Adds scored rows to a validation partial: `outputs` is rows × model outputs (column-major,
/// leading dimension rows), `labels` the label per row (nullptr without a label).
void add_validation_rows(MetricFamily family, const double* outputs, const double* labels,
                         std::int64_t rows, std::vector<double>& partial);

void merge_validation(MetricFamily family, std::vector<double>& into, const std::vector<double>& from);

/// "validation_rmse", ... from the merged partial.
model::Metrics validation_metrics(MetricFamily family, const std::vector<double>& merged);

} // namespace sluice::transform
