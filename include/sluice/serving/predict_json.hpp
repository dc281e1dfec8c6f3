// The JSON of the serving API: predict requests in, predictions, metadata and errors out.
#pragma once

#include "sluice/serving/loaded_model.hpp"
#include "sluice/serving/scoring_service.hpp"

#include <Eigen/Core>

#include <string>
#include <string_view>

namespace sluice::serving {

/// Decodes a predict request body into rows × model.raw_columns() (column-major). Accepts
///   {"columns": {"x00": [1.5, 2.0], "x01": [0.25, -1]}}     (one array per column), or
///   {"rows": [{"x00": 1.5, "x01": 0.25}, {"x00": 2.0, "x01": -1}]}
/// with every raw column given exactly once (per row), numbers only (integers are taken as
/// float64) and at least one row. Throws RequestError naming the key, column or row at fault.
Eigen::MatrixXd parse_predict_request(std::string_view body, const LoadedModel& model);

/// {"model": NAME, "version": N, "outputs": {"prediction": [...], ...}, "kept": [true, ...]}; a
/// row that was not kept has null outputs. Numbers are written to round-trip exactly.
std::string predict_response_json(const Scores& scores);

/// {"model", "version", "kind", "raw_columns", "features", "label", "outputs", "metrics",
///  "num_rows", "created"} of the model.
std::string metadata_json(const LoadedModel& model);

/// {"status": "ok", "model", "version", "last_refresh_error"} of the service now.
std::string health_json(const ScoringService& service);

/// "a, b, c" for a message; the first 20 names and the count when there are more.
std::string describe_columns(const std::vector<std::string>& names);

/// {"error": MESSAGE}
std::string error_json(std::string_view message);

} // namespace sluice::serving
