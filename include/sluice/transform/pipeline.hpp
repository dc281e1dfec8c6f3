// Pipeline: the job's [[transform]] steps, compiled against the lake's columns, fitted in passes of
// the engine and applied block by block — the same object in training, `sluice transform`,
// `sluice predict` and serving.
#pragma once

#include "sluice/job/model_params.hpp"
#include "sluice/model/parameters.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::transform {

enum class StepKind { filter, derive, impute, scale, one_hot, cast, select };
enum class ImputeStrategy { constant, mean, most_frequent, drop };
enum class ScaleMethod { standard, minmax };
enum class CastType { float64, float32, int64, int32, int8, uint8, boolean };
enum class UnseenPolicy { zeros, error };

/// The largest `max_categories` a one_hot step may ask for.
inline constexpr std::int64_t max_one_hot_categories = 65536;
/// Distinct values a most_frequent imputer may count per column before it gives up.
inline constexpr std::int64_t max_distinct_values = 1 << 20;

class Expression;

/// One step as the job file gave it, plus its fitted state once fitted.
struct Step {
  StepKind kind = StepKind::filter;
  int position = 0;                  ///< 1-based, in the job file's order
  std::string expression;            ///< filter, derive
  std::string output;                ///< derive: the new column
  std::vector<std::string> columns;  ///< the columns the step changes (or select keeps)
  ImputeStrategy strategy = ImputeStrategy::mean;
  double fill_value = 0.0;           ///< impute constant
  std::optional<double> missing;     ///< a sentinel that also means missing (NaN always does)
  ScaleMethod method = ScaleMethod::standard;
  CastType cast_to = CastType::float64;
  std::int64_t max_categories = 1000;
  UnseenPolicy unseen = UnseenPolicy::zeros;

  // Set when compiled: the pass that fits the step (-1: nothing to fit) and the first pass
  // whose rows it can be applied to.
  int fit_pass = -1;
  int level = 0;
  bool is_fitted = false;
  /// Fitted values per column: impute → fill value in `center`; standard → mean, std;
  /// minmax → min, max − min.
  std::vector<double> center, scale;
  std::vector<std::vector<double>> categories; ///< one_hot: sorted category values per column

  bool is_stateful() const noexcept { return fit_pass >= 0; }
  /// "transform[3] (scale)", for messages and the run report.
  std::string label() const;
};

/// The deterministic train/validation split ([split]): by a hash of (partition path, row, seed)
/// or by a Hive key's values.
struct Split {
  double fraction = 0.0;             ///< share of rows in validation (hash split)
  std::uint64_t seed = 0;
  std::string key;                   ///< Hive key split: partitions whose key value is listed
  std::vector<std::string> values;   ///< ... in values are validation ("newest": the largest)
  bool is_enabled() const noexcept { return fraction > 0.0 || !key.empty(); }
};

/// Where a pipeline column comes from.
enum class ColumnSource { raw, hive_key, derived, one_hot };

struct Column {
  std::string name;
  ColumnSource source = ColumnSource::raw;
  int step = -1;               ///< index of the step that makes it (derived, one_hot)
  std::string key_value_name;  ///< one_hot: "day=2026-11-01", for the indicator's name
};

/// A compiled pipeline. Mutable only while the engine fits it (one thread, between passes);
/// const afterwards and safe to share between threads.
class Pipeline {
public:
  /// Compiles the job's steps. `hive_keys` maps each Hive key of the selected partitions to its
  /// sorted distinct values; `model_columns` are the model's features then its label (empty for
  /// a transform-only job). Every name, expression, option and dependency is checked here,
  /// before any data is read; failures are ConfigError naming the step and the column.
  static Pipeline compile(std::vector<job::ModelParams> steps, std::optional<job::ModelParams> split,
                          const std::map<std::string, std::vector<std::string>>& hive_keys,
                          const std::vector<std::string>& model_columns);

  const std::vector<Step>& steps() const noexcept { return steps_; }
  std::vector<Step>& steps() noexcept { return steps_; }
  const std::vector<Column>& columns() const noexcept { return columns_; }
  const Split& split() const noexcept { return split_; }
  /// No step, no split and no Hive key read: the model sees the raw columns as they are.
  bool is_empty() const noexcept;

  /// Raw columns read from every partition, in slot order.
  std::vector<std::string> raw_inputs() const;
  /// The Hive keys used as columns, in slot order. A block without partition keys (serving)
  /// carries their values as columns after the raw inputs.
  std::vector<std::string> hive_key_columns() const;
  /// Whether any step reads the column (else a label is needed only to train).
  bool is_read_by_steps(const std::string& name) const;
  /// The compiled expression of a filter or derive step (shared, immutable).
  const Expression& expression(std::size_t step) const { return *expressions_.at(step); }
  /// Number of passes needed to fit every stateful step (0 when none is stateful).
  int num_fit_passes() const noexcept { return num_fit_passes_; }
  /// Pipeline columns by name, after every step: a one_hot-encoded name expands to its
  /// indicator columns (category order). Throws ConfigError for an unknown name.
  std::vector<int> resolve(const std::string& name, const std::string& what) const;
  /// The columns after the whole pipeline (before select, every column; after, the selected).
  std::vector<int> output_columns() const;
  /// Values of the Hive keys used as columns: the sorted distinct values per key.
  const std::map<std::string, std::vector<std::string>>& hive_values() const noexcept {
    return hive_values_;
  }
  /// The slot index of a column name, or -1.
  int find_column(const std::string& name) const;
  /// Adds the indicator columns of a fitted one_hot step.
  void add_one_hot_columns(int step_index);

  /// The row-dropping steps (filters, `drop` imputers) applied in `pass`, in step order.
  std::vector<std::size_t> row_steps(int pass) const;
  /// Given the rows that entered, were left after the split and after each of row_steps(pass)
  /// (PipelineRunner::kept_counts), throws DataError naming the first step that left none of the
  /// rows reaching it; `consequence` ends the message.
  void check_rows_kept(int pass, const std::vector<double>& kept, std::string_view consequence = "") const;

  /// Checks the compiled steps against the columns a partition holds (`file` names it): a
  /// derived column must not shadow one of them (DataError), and with `require_inputs` every raw
  /// input must be one of them (DataError naming the first step that reads a missing one).
  void check_columns(const std::vector<std::string>& file_columns, const std::string& file,
                     bool require_inputs) const;

  /// A stable 64-bit hash of the compiled and fitted pipeline: changes whenever its output can.
  std::uint64_t hash() const;

  /// Stores the fitted pipeline (docs/snapshot-format.md, "/pipeline").
  void save(model::ParameterWriter& writer) const;
  static Pipeline load(const model::ParameterReader& reader);

private:
  void assign_levels(const std::vector<std::string>& model_columns);
  void compile_expressions(const std::string& where);

  std::vector<Step> steps_;
  std::vector<Column> columns_;
  Split split_;
  std::map<std::string, std::vector<std::string>> hive_values_;
  int num_fit_passes_ = 0;
  std::vector<std::shared_ptr<const Expression>> expressions_; // per step; null but for expressions
};

/// The pipeline's format version in snapshots (attribute `/pipeline/format_version`).
inline constexpr std::int64_t pipeline_format_version = 1;

} // namespace sluice::transform
