// ModelParams: the [model] table's kind-specific keys, read and validated by the model kind itself.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::job {

/// The keys of a job's [model] table other than kind, features and label, as the job file gave
/// them. A model kind reads the keys it knows with the typed getters (each throws ConfigError
/// naming the job file and the key), then calls refuse_unknown_keys().
class ModelParams {
public:
  ModelParams() = default;
  /// `prefix` is how messages name the table's keys ("model.", "transform[2].").
  ModelParams(nlohmann::json table, std::string source, std::string prefix = "model.");

  bool is_array(std::string_view key) const;
  std::optional<double> number(std::string_view key);
  std::optional<std::int64_t> integer(std::string_view key);
  std::optional<bool> boolean(std::string_view key);
  std::optional<std::string> string(std::string_view key);
  std::optional<std::vector<double>> numbers(std::string_view key);
  /// A string or an array of strings (a column or a list of columns).
  std::optional<std::vector<std::string>> strings(std::string_view key);

  bool has(std::string_view key) const { return table_.contains(std::string(key)); }
  /// The table as the job file gave it (keys sorted): what a cache key hashes.
  const nlohmann::json& table() const noexcept { return table_; }
  /// Throws ConfigError "SOURCE: 'PREFIXKEY' PROBLEM".
  [[noreturn]] void fail(std::string_view key, std::string_view problem) const;
  /// Throws ConfigError naming the first key no getter asked for.
  void refuse_unknown_keys() const;

private:
  const nlohmann::json* find(std::string_view key);

  nlohmann::json table_ = nlohmann::json::object();
  std::string source_;
  std::string prefix_;
  std::set<std::string, std::less<>> seen_;
};

} // namespace sluice::job
