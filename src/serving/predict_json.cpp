// Predict requests decoded by a SAX pass straight into the model's column order (no JSON tree),
// and answers written with fmt: the per-request cost of a one-row call stays small.
#include "sluice/serving/predict_json.hpp"

#include "sluice/serving/request_error.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <iterator>
#include <limits>

namespace sluice::serving {
namespace {

using Json = nlohmann::json;

}  // namespace

std::string describe_columns(const std::vector<std::string>& names) {
  constexpr std::size_t shown = 20; // a wide model's full list would drown the message
  if (names.size() <= shown) return fmt::format("{}", fmt::join(names, ", "));
  return fmt::format("{}, ... ({} columns)", fmt::join(names.begin(), names.begin() + shown, ", "),
                     names.size());
}

namespace {

// Decodes {"columns": {NAME: [numbers]}} or {"rows": [{NAME: number}]}; throws RequestError at
// the first thing that is not. Only the model's columns are stored, in its order.
class RequestDecoder {
public:
  explicit RequestDecoder(const LoadedModel& model)
      : model_(model), num_columns_(model.raw_columns().size()) {}

  Eigen::MatrixXd finish() {
    if (state_ != State::done) fail("the body must be a JSON object with \"columns\" or \"rows\"");
    const auto& names = model_.raw_columns();
    if (form_ == Form::columns) {
      for (std::size_t j = 0; j < num_columns_; ++j) {
        if (!is_column_given_[j]) fail(fmt::format("missing column '{}'", names[j]));
      }
      const std::size_t num_rows = columns_[0].size();
      for (std::size_t j = 1; j < num_columns_; ++j) {
        if (columns_[j].size() != num_rows) {
          fail(fmt::format("columns differ in length: '{}' has {} values, '{}' has {}", names[0],
                           num_rows, names[j], columns_[j].size()));
        }
      }
      if (num_rows == 0) fail("no rows: the columns are empty");
      Eigen::MatrixXd raw(static_cast<Eigen::Index>(num_rows), static_cast<Eigen::Index>(num_columns_));
      for (std::size_t j = 0; j < num_columns_; ++j) {
        std::copy(columns_[j].begin(), columns_[j].end(), raw.col(static_cast<Eigen::Index>(j)).data());
      }
      return raw;
    }
    if (form_ == Form::none) fail("the body has neither \"columns\" nor \"rows\"");
    if (num_rows_ == 0) fail("no rows: \"rows\" is empty");
    using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    return Eigen::Map<const RowMajor>(row_values_.data(), static_cast<Eigen::Index>(num_rows_),
                                      static_cast<Eigen::Index>(num_columns_));
  }

  // ---- the SAX interface nlohmann::json::sax_parse calls (statically, no virtuals)
  bool null() { return not_a_number("null"); }
  bool boolean(bool value) { return not_a_number(value ? "true" : "false"); }
  bool number_integer(Json::number_integer_t value) { return number(static_cast<double>(value)); }
  bool number_unsigned(Json::number_unsigned_t value) { return number(static_cast<double>(value)); }
  bool number_float(Json::number_float_t value, const Json::string_t&) { return number(value); }
  bool string(Json::string_t& value) {
    constexpr std::size_t shown = 40;
    return not_a_number(fmt::format("the string \"{}{}\"", value.substr(0, shown),
                                    value.size() > shown ? "..." : ""));
  }
  bool binary(Json::binary_t&) { return not_a_number("binary data"); }

  bool start_object(std::size_t) {
    switch (state_) {
    case State::document: state_ = State::top_level; return true;
    case State::expect_columns: state_ = State::columns_object; return true;
    case State::rows_array: begin_row(); return true;
    default: return not_a_number("an object");
    }
  }

  bool key(Json::string_t& name) {
    switch (state_) {
    case State::top_level:
      if (name == "columns" || name == "rows") {
        if (form_ != Form::none) fail("give either \"columns\" or \"rows\", once");
        form_ = name == "columns" ? Form::columns : Form::rows;
        state_ = form_ == Form::columns ? State::expect_columns : State::expect_rows;
        if (form_ == Form::columns) {
          columns_.resize(num_columns_);
          is_column_given_.assign(num_columns_, 0);
        }
        return true;
      }
      fail(fmt::format("unknown key \"{}\": expected \"columns\" or \"rows\"", name));
    case State::columns_object:
      column_ = column_of(name, "");
      if (is_column_given_[column_]) fail(fmt::format("column '{}' is given twice", name));
      is_column_given_[column_] = 1;
      state_ = State::expect_column_array;
      return true;
    case State::row_object:
      column_ = column_of(name, fmt::format("rows[{}]: ", num_rows_));
      if (is_in_row_[column_]) fail(fmt::format("rows[{}]: column '{}' is given twice", num_rows_, name));
      is_in_row_[column_] = 1;
      ++num_in_row_;
      state_ = State::row_value;
      return true;
    default:
      fail("unexpected key"); // the parser only reports keys inside objects
    }
  }

  bool end_object() {
    switch (state_) {
    case State::top_level: state_ = State::done; return true;
    case State::columns_object: state_ = State::top_level; return true;
    case State::row_object: end_row(); return true;
    default: fail("unexpected end of object");
    }
  }

  bool start_array(std::size_t) {
    switch (state_) {
    case State::expect_column_array: state_ = State::column_array; return true;
    case State::expect_rows: state_ = State::rows_array; return true;
    default: return not_a_number("an array");
    }
  }

  bool end_array() {
    switch (state_) {
    case State::column_array: state_ = State::columns_object; return true;
    case State::rows_array: state_ = State::top_level; return true;
    default: fail("unexpected end of array");
    }
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& error) {
    // nlohmann's text names the line, column and last token read, e.g. "parse error at line 1,
    // column 9: syntax error while parsing object key - ...".
    std::string_view text = error.what();
    if (auto end = text.find("] "); text.starts_with("[json.exception.") && end != text.npos) {
      text.remove_prefix(end + 2);
    }
    fail(fmt::format("invalid JSON: {}", text));
  }

private:
  enum class State {
    document, top_level, expect_columns, columns_object, expect_column_array, column_array,
    expect_rows, rows_array, row_object, row_value, done
  };
  enum class Form { none, columns, rows };

  [[noreturn]] static void fail(const std::string& message) { throw RequestError(message); }

  std::size_t column_of(const std::string& name, const std::string& where) const {
    const int j = model_.raw_column_index(name);
    if (j < 0) {
      fail(fmt::format("{}unknown column '{}': model '{}' takes {}", where, name, model_.name(),
                       describe_columns(model_.raw_columns())));
    }
    return static_cast<std::size_t>(j);
  }

  void begin_row() {
    row_values_.resize(row_values_.size() + num_columns_);
    is_in_row_.assign(num_columns_, 0);
    num_in_row_ = 0;
    state_ = State::row_object;
  }

  void end_row() {
    if (num_in_row_ != num_columns_) {
      for (std::size_t j = 0; j < num_columns_; ++j) {
        if (!is_in_row_[j]) {
          fail(fmt::format("rows[{}]: missing column '{}'", num_rows_, model_.raw_columns()[j]));
        }
      }
    }
    ++num_rows_;
    state_ = State::rows_array;
  }

  bool number(double value) {
    if (state_ == State::column_array) {
      columns_[column_].push_back(value);
      return true;
    }
    if (state_ == State::row_value) {
      row_values_[num_rows_ * num_columns_ + column_] = value;
      state_ = State::row_object;
      return true;
    }
    return not_a_number("a number");
  }

  // A value where a number was expected, or a value of the wrong shape elsewhere.
  bool not_a_number(const std::string& what) {
    const auto& names = model_.raw_columns();
    switch (state_) {
    case State::column_array:
      fail(fmt::format("column '{}', row {}: expected a number, got {}", names[column_],
                       columns_[column_].size(), what));
    case State::row_value:
      fail(fmt::format("rows[{}], column '{}': expected a number, got {}", num_rows_, names[column_], what));
    case State::expect_column_array:
      fail(fmt::format("column '{}': expected an array of numbers, got {}", names[column_], what));
    case State::expect_columns:
      fail(fmt::format("\"columns\" must be an object of arrays, got {}", what));
    case State::expect_rows:
      fail(fmt::format("\"rows\" must be an array of objects, got {}", what));
    case State::rows_array:
      fail(fmt::format("rows[{}] must be an object, got {}", num_rows_, what));
    default:
      fail(fmt::format("the body must be a JSON object with \"columns\" or \"rows\", got {}", what));
    }
  }

  const LoadedModel& model_;
  const std::size_t num_columns_;
  State state_ = State::document;
  Form form_ = Form::none;
  std::size_t column_ = 0;
  // columns form
  std::vector<std::vector<double>> columns_;
  std::vector<char> is_column_given_;
  // rows form: row-major values, and which columns the row being read has given
  std::vector<double> row_values_;
  std::vector<char> is_in_row_;
  std::size_t num_in_row_ = 0;
  std::size_t num_rows_ = 0;
};

void append_number(fmt::memory_buffer& out, double value) {
  // JSON has no NaN or infinity: a row the pipeline left out has null outputs.
  if (std::isfinite(value)) {
    fmt::format_to(std::back_inserter(out), "{}", value);
  } else {
    out.append(std::string_view("null"));
  }
}

void append_string(fmt::memory_buffer& out, const std::string& text) {
  const std::string quoted = Json(text).dump(); // escapes as JSON requires
  out.append(quoted);
}

} // namespace

Eigen::MatrixXd parse_predict_request(std::string_view body, const LoadedModel& model) {
  RequestDecoder decoder(model);
  Json::sax_parse(body.begin(), body.end(), &decoder);
  return decoder.finish();
}

std::string predict_response_json(const Scores& scores) {
  const LoadedModel& model = *scores.model;
  const Eigen::Index num_rows = scores.outputs.rows();
  fmt::memory_buffer out;
  out.reserve(static_cast<std::size_t>(64 + num_rows * (24 * scores.outputs.cols() + 6)));
  out.append(std::string_view("{\"model\":"));
  append_string(out, model.name());
  fmt::format_to(std::back_inserter(out), ",\"version\":{},\"outputs\":{{", model.version());
  for (Eigen::Index c = 0; c < scores.outputs.cols(); ++c) {
    if (c > 0) out.push_back(',');
    append_string(out, model.outputs()[static_cast<std::size_t>(c)]);
    out.append(std::string_view(":["));
    for (Eigen::Index i = 0; i < num_rows; ++i) {
      if (i > 0) out.push_back(',');
      append_number(out, scores.outputs(i, c));
    }
    out.push_back(']');
  }
  out.append(std::string_view("},\"kept\":["));
  for (std::size_t i = 0; i < scores.kept.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(std::string_view(scores.kept[i] ? "true" : "false"));
  }
  out.append(std::string_view("]}"));
  return fmt::to_string(out);
}

std::string metadata_json(const LoadedModel& model) {
  const snapshot::Snapshot& s = model.snapshot();
  Json metrics = Json::object();
  for (const auto& [name, value] : s.metrics) {
    metrics[name] = std::isfinite(value) ? Json(value) : Json(nullptr);
  }
  Json document = {
      {"model", model.name()},
      {"version", model.version()},
      {"kind", model.kind()},
      {"raw_columns", model.raw_columns()},
      {"features", s.feature_names},
      {"label", s.label},
      {"outputs", model.outputs()},
      {"metrics", std::move(metrics)},
      {"num_rows", s.num_rows},
      {"created", s.created_utc},
  };
  return document.dump();
}

std::string health_json(const ScoringService& service) {
  std::shared_ptr<const LoadedModel> model = service.model();
  std::string error = service.last_refresh_error();
  Json document = {
      {"status", "ok"},
      {"model", model->name()},
      {"version", model->version()},
      {"last_refresh_error", error.empty() ? Json(nullptr) : Json(error)},
  };
  return document.dump();
}

std::string error_json(std::string_view message) {
  // Messages may quote request bytes that are not UTF-8: replace them rather than fail.
  return Json{{"error", std::string(message)}}.dump(-1, ' ', false, Json::error_handler_t::replace);
}

} // namespace sluice::serving
