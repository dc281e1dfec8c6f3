// Typed, validated access to a model kind's own keys of the [model] table.
#include "sluice/job/model_params.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>

#include <cmath>

namespace sluice::job {
namespace {

std::string describe(const nlohmann::json& value) {
  switch (value.type()) {
  case nlohmann::json::value_t::string: return "a string";
  case nlohmann::json::value_t::number_integer:
  case nlohmann::json::value_t::number_unsigned: return "an integer";
  case nlohmann::json::value_t::number_float: return "a float";
  case nlohmann::json::value_t::boolean: return "a boolean";
  case nlohmann::json::value_t::array: return "an array";
  case nlohmann::json::value_t::object: return "a table";
  default: return "a date/time";
  }
}

} // namespace

ModelParams::ModelParams(nlohmann::json table, std::string source, std::string prefix)
    : table_(std::move(table)), source_(std::move(source)), prefix_(std::move(prefix)) {}

bool ModelParams::is_array(std::string_view key) const {
  auto found = table_.find(std::string(key));
  return found != table_.end() && found->is_array();
}

const nlohmann::json* ModelParams::find(std::string_view key) {
  seen_.insert(std::string(key));
  auto found = table_.find(std::string(key));
  return found == table_.end() ? nullptr : &*found;
}

void ModelParams::fail(std::string_view key, std::string_view problem) const {
  throw ConfigError(fmt::format("{}: '{}{}' {}", source_, prefix_, key, problem));
}

std::optional<double> ModelParams::number(std::string_view key) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number()) fail(key, fmt::format("must be a number, got {}", describe(*value)));
  return value->get<double>();
}

std::optional<std::int64_t> ModelParams::integer(std::string_view key) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number_integer()) {
    fail(key, fmt::format("must be an integer, got {}", describe(*value)));
  }
  return value->get<std::int64_t>();
}

std::optional<bool> ModelParams::boolean(std::string_view key) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) fail(key, fmt::format("must be a boolean, got {}", describe(*value)));
  return value->get<bool>();
}

std::optional<std::string> ModelParams::string(std::string_view key) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) fail(key, fmt::format("must be a string, got {}", describe(*value)));
  return value->get<std::string>();
}

std::optional<std::vector<double>> ModelParams::numbers(std::string_view key) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_array()) {
    fail(key, fmt::format("must be an array of numbers, got {}", describe(*value)));
  }
  std::vector<double> numbers;
  for (const nlohmann::json& element : *value) {
    if (!element.is_number()) {
      fail(key, fmt::format("must hold only numbers, found {}", describe(element)));
    }
    numbers.push_back(element.get<double>());
  }
  return numbers;
}

std::optional<std::vector<std::string>> ModelParams::strings(std::string_view key) {
  const nlohmann::json* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_string()) return std::vector<std::string>{value->get<std::string>()};
  if (!value->is_array()) {
    fail(key, fmt::format("must be a string or an array of strings, got {}", describe(*value)));
  }
  std::vector<std::string> values;
  for (const nlohmann::json& element : *value) {
    if (!element.is_string()) fail(key, fmt::format("must hold only strings, found {}", describe(element)));
    values.push_back(element.get<std::string>());
  }
  return values;
}

void ModelParams::refuse_unknown_keys() const {
  for (const auto& [key, value] : table_.items()) {
    if (!seen_.contains(key)) {
      throw ConfigError(fmt::format("{}: unknown key '{}{}'", source_, prefix_, key));
    }
  }
}

} // namespace sluice::job
