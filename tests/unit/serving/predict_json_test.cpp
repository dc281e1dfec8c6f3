// Tests of the serving API's JSON: both request forms, every malformed variant, the answers.
#include "sluice/serving/predict_json.hpp"

#include "serving_fixtures.hpp"
#include "sluice/serving/request_error.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

using namespace sluice;
using namespace sluice::serving;

namespace {

// One ridge model over a, b, c, loaded once for the whole suite.
std::shared_ptr<const LoadedModel> ridge_model() {
  static std::shared_ptr<const LoadedModel> loaded = [] {
    testing_support::TempDir dir;
    snapshot::write_snapshot(dir / "m.h5", testing_support::serving_snapshot(
                                               "ridge", testing_support::ridge_parameters(0.5), "m\"odd"));
    return LoadedModel::load(dir / "m.h5");
  }();
  return loaded;
}

std::string refusal(std::string_view body) {
  try {
    parse_predict_request(body, *ridge_model());
  } catch (const RequestError& error) {
    return error.what();
  }
  return "accepted";
}

} // namespace

TEST(PredictJsonTest, parse_columns_form_in_model_order) {
  Eigen::MatrixXd raw = parse_predict_request(
      R"({"columns": {"c": [3, 30.5], "a": [1.25, -1e300], "b": [2, 0]}})", *ridge_model());
  Eigen::MatrixXd expected(2, 3);
  expected << 1.25, 2, 3, -1e300, 0, 30.5;
  EXPECT_EQ(raw, expected);
}

TEST(PredictJsonTest, parse_rows_form_in_model_order) {
  Eigen::MatrixXd raw = parse_predict_request(
      R"({"rows": [{"b": 2, "c": 3, "a": 1}, {"c": -0.125, "a": 18446744073709551615, "b": -7}]})", *ridge_model());
  Eigen::MatrixXd expected(2, 3);
  expected << 1, 2, 3, 18446744073709551615.0, -7, -0.125;
  EXPECT_EQ(raw, expected);
}

TEST(PredictJsonTest, parse_refuses_malformed_bodies_naming_the_fault) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "invalid JSON: parse error at line 1, column 1"},
      {"{\"columns\": {\"a\": [1]", "invalid JSON: parse error"},
      {"{\"columns\": {\"a\": [1e999]}}", "invalid JSON: number overflow"},
      {"{\"columns\": {\"a\": [NaN]}}", "invalid JSON"},
      {"[1, 2]", "the body must be a JSON object with \"columns\" or \"rows\", got an array"},
      {"17", "the body must be a JSON object with \"columns\" or \"rows\", got a number"},
      {"{}", "the body has neither \"columns\" nor \"rows\""},
      {R"({"colums": {}})", "unknown key \"colums\": expected \"columns\" or \"rows\""},
      {R"({"columns": {"a": [1], "b": [2], "c": [3]}, "rows": []})", "give either \"columns\" or \"rows\", once"},
      {R"({"columns": [1, 2]})", "\"columns\" must be an object of arrays, got an array"},
      {R"({"columns": {"a": 1}})", "column 'a': expected an array of numbers, got a number"},
      {R"({"columns": {"a": [1], "b": [2]}})", "missing column 'c'"},
      {R"({"columns": {"a": [1], "b": [2], "c": [3], "d": [4]}})", "unknown column 'd': model 'm\"odd' takes a, b, c"},
      {R"({"columns": {"a": [1], "b": [2], "a": [3]}})", "column 'a' is given twice"},
      {R"({"columns": {"a": [1, 2], "b": [2], "c": [3, 4]}})",
       "columns differ in length: 'a' has 2 values, 'b' has 1"},
      {R"({"columns": {"a": [], "b": [], "c": []}})", "no rows: the columns are empty"},
      {R"({"columns": {"a": [1, "2"], "b": [2, 2], "c": [3, 3]}})",
       "column 'a', row 1: expected a number, got the string \"2\""},
      {R"({"columns": {"a": [null], "b": [2], "c": [3]}})", "column 'a', row 0: expected a number, got null"},
      {R"({"columns": {"a": [true], "b": [2], "c": [3]}})", "column 'a', row 0: expected a number, got true"},
      {R"({"columns": {"a": [[1]], "b": [2], "c": [3]}})", "column 'a', row 0: expected a number, got an array"},
      {R"({"columns": {"a": [{}], "b": [2], "c": [3]}})", "column 'a', row 0: expected a number, got an object"},
      {R"({"rows": {"a": 1}})", "\"rows\" must be an array of objects, got an object"},
      {R"({"rows": []})", "no rows: \"rows\" is empty"},
      {R"({"rows": [[1, 2, 3]]})", "rows[0] must be an object, got an array"},
      {R"({"rows": [{"a": 1, "b": 2, "c": 3}, 4]})", "rows[1] must be an object, got a number"},
      {R"({"rows": [{"a": 1, "b": 2}])", "rows[0]: missing column 'c'"},
      {R"({"rows": [{"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3, "e": 5}]})",
       "rows[1]: unknown column 'e'"},
      {R"({"rows": [{"a": 1, "b": 2, "c": 3, "a": 1}]})", "rows[0]: column 'a' is given twice"},
      {R"({"rows": [{"a": 1, "b": "x", "c": 3}]})", "rows[0], column 'b': expected a number, got the string \"x\""},
      {R"({"rows": [{"a": 1, "b": 2, "c": {"v": 3}}]})", "rows[0], column 'c': expected a number, got an object"},
  };
  for (const auto& [body, message] : cases) {
    EXPECT_NE(refusal(body).find(message), std::string::npos)
        << "body: " << body << "\n  refusal: " << refusal(body) << "\n  expected: " << message;
  }
}

TEST(PredictJsonTest, response_round_trips_numbers_and_writes_null_for_rows_left_out) {
  Scores scores{.model = ridge_model(), .outputs = Eigen::MatrixXd(3, 1), .kept = {1, 0, 1}};
  scores.outputs << 0.1 + 0.2, std::numeric_limits<double>::quiet_NaN(), -1.5e-300;
  nlohmann::json answer = nlohmann::json::parse(predict_response_json(scores));
  EXPECT_EQ(answer["model"], "m\"odd");
  EXPECT_EQ(answer["version"], 1);
  ASSERT_EQ(answer["outputs"].size(), 1u);
  const auto& prediction = answer["outputs"]["prediction"];
  ASSERT_EQ(prediction.size(), 3u);
  EXPECT_EQ(prediction[0].get<double>(), 0.1 + 0.2); // bit-exact
  EXPECT_TRUE(prediction[1].is_null());
  EXPECT_EQ(prediction[2].get<double>(), -1.5e-300);
  EXPECT_EQ(answer["kept"], nlohmann::json({true, false, true}));
}

TEST(PredictJsonTest, metadata_names_the_model_and_its_columns) {
  nlohmann::json metadata = nlohmann::json::parse(metadata_json(*ridge_model()));
  EXPECT_EQ(metadata["model"], "m\"odd");
  EXPECT_EQ(metadata["version"], 1);
  EXPECT_EQ(metadata["kind"], "ridge");
  EXPECT_EQ(metadata["raw_columns"], nlohmann::json({"a", "b", "c"}));
  EXPECT_EQ(metadata["outputs"], nlohmann::json({"prediction"}));
  EXPECT_EQ(metadata["metrics"]["r2"], 0.75);
  EXPECT_EQ(metadata["created"], "2026-11-25T00:00:00Z");
}

TEST(PredictJsonTest, error_json_escapes_and_replaces_invalid_bytes) {
  nlohmann::json error = nlohmann::json::parse(error_json("bad \"x\"\n\xff"));
  EXPECT_EQ(error["error"], "bad \"x\"\n\xef\xbf\xbd");
}
