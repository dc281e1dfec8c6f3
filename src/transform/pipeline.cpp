// Compiling the [[transform]] steps: options, column references, dependencies and the pass in
// which each stateful step is fitted, all checked before any data is read.
#include "sluice/transform/pipeline.hpp"

#include "expression.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace sluice::transform {
namespace {

constexpr std::string_view kind_names[] = {"filter", "derive", "impute", "scale",
                                           "one_hot", "cast", "select"};
constexpr std::string_view strategy_names[] = {"constant", "mean", "most_frequent", "drop"};
constexpr std::string_view method_names[] = {"standard", "minmax"};
constexpr std::string_view cast_names[] = {"float64", "float32", "int64", "int32",
                                           "int8", "uint8", "bool"};
constexpr std::string_view unseen_names[] = {"zeros", "error"};

template <typename Enum, std::size_t N>
Enum choose(job::ModelParams& params, std::string_view key, Enum fallback,
            const std::string_view (&names)[N]) {
  auto text = params.string(key);
  if (!text) return fallback;
  std::string list;
  for (std::size_t i = 0; i < N; ++i) {
    if (*text == names[i]) return static_cast<Enum>(i);
    list += fmt::format("{}'{}'", list.empty() ? "" : ", ", names[i]);
  }
  params.fail(key, fmt::format("must be one of {}, got '{}'", list, text->substr(0, 64)));
}

template <typename Enum, std::size_t N>
Enum parse_name(const std::string& text, const std::string_view (&names)[N], const char* what) {
  for (std::size_t i = 0; i < N; ++i) {
    if (text == names[i]) return static_cast<Enum>(i);
  }
  throw DataError(fmt::format("the stored pipeline has an unknown {} '{}'", what, text));
}

bool is_identifier(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  if (!std::isalpha(static_cast<unsigned char>(name[0])) && name[0] != '_') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// The step's action key decides its kind: exactly one of them.
Step read_step(job::ModelParams& params, int position) {
  Step step;
  step.position = position;
  int actions = 0;
  for (std::size_t k = 0; k < std::size(kind_names); ++k) {
    if (params.has(kind_names[k])) {
      step.kind = static_cast<StepKind>(k);
      ++actions;
    }
  }
  if (actions != 1) {
    params.fail("", "must hold exactly one of filter, derive, impute, scale, one_hot, cast, select");
  }
  const auto columns = [&](std::string_view key) {
    auto names = params.strings(key);
    if (!names || names->empty()) params.fail(key, "must name at least one column");
    std::set<std::string> unique;
    for (const std::string& name : *names) {
      if (name.empty()) params.fail(key, "holds an empty column name");
      if (!unique.insert(name).second) params.fail(key, fmt::format("lists '{}' twice", name.substr(0, 64)));
    }
    return *names;
  };
  switch (step.kind) {
  case StepKind::filter:
    step.expression = params.string("filter").value_or("");
    if (step.expression.empty()) params.fail("filter", "must be a non-empty expression");
    break;
  case StepKind::derive:
    step.output = params.string("derive").value_or("");
    if (!is_identifier(step.output)) {
      params.fail("derive", fmt::format("'{}' is not a column name (letters, digits, '_', not "
                                        "starting with a digit, at most 128 bytes)",
                                        step.output.substr(0, 64)));
    }
    step.expression = params.string("expr").value_or("");
    if (step.expression.empty()) params.fail("expr", "must be a non-empty expression");
    break;
  case StepKind::impute:
    step.columns = columns("impute");
    step.strategy = choose(params, "strategy", ImputeStrategy::mean, strategy_names);
    if (step.strategy == ImputeStrategy::constant) {
      auto value = params.number("value");
      if (!value) params.fail("value", "is needed by strategy = \"constant\"");
      if (!std::isfinite(*value)) params.fail("value", "must be finite");
      step.fill_value = *value;
    }
    if (auto missing = params.number("missing")) {
      if (std::isnan(*missing)) params.fail("missing", "must be a number (NaN is always missing)");
      step.missing = *missing;
    }
    break;
  case StepKind::scale:
    step.columns = columns("scale");
    step.method = choose(params, "method", ScaleMethod::standard, method_names);
    break;
  case StepKind::one_hot:
    step.columns = columns("one_hot");
    step.max_categories = params.integer("max_categories").value_or(step.max_categories);
    if (step.max_categories < 1 || step.max_categories > max_one_hot_categories) {
      params.fail("max_categories", fmt::format("must be 1..{}", max_one_hot_categories));
    }
    step.unseen = choose(params, "unseen", UnseenPolicy::zeros, unseen_names);
    break;
  case StepKind::cast:
    step.columns = columns("cast");
    step.cast_to = choose(params, "to", CastType::float64, cast_names);
    if (!params.has("to")) params.fail("to", "is missing (float32, int64, int32, int8, uint8, bool)");
    break;
  case StepKind::select: step.columns = columns("select"); break;
  }
  params.refuse_unknown_keys();
  return step;
}

Split read_split(job::ModelParams& params, const std::map<std::string, std::vector<std::string>>& keys) {
  Split split;
  const bool has_fraction = params.has("fraction");
  const bool has_key = params.has("key");
  if (has_fraction == has_key) params.fail("", "needs exactly one of fraction (hash split) or key (Hive key split)");
  if (has_fraction) {
    split.fraction = *params.number("fraction");
    if (!(split.fraction > 0.0 && split.fraction < 1.0)) params.fail("fraction", "must be in (0, 1)");
    const std::int64_t seed = params.integer("seed").value_or(0);
    if (seed < 0) params.fail("seed", "must be >= 0");
    split.seed = static_cast<std::uint64_t>(seed);
  } else {
    split.key = *params.string("key");
    auto found = keys.find(split.key);
    if (found == keys.end()) {
      params.fail("key", fmt::format("'{}' is not a Hive key of the selected partitions (key=value "
                                     "directories)", split.key.substr(0, 64)));
    }
    auto values = params.strings("validation");
    if (!values || values->empty()) params.fail("validation", "must list values, or be \"newest\"");
    if (*values == std::vector<std::string>{"newest"}) {
      split.values = {found->second.back()};
    } else {
      for (const std::string& value : *values) {
        if (!std::binary_search(found->second.begin(), found->second.end(), value)) {
          params.fail("validation", fmt::format("value '{}' of key '{}' is in no selected partition",
                                                value.substr(0, 64), split.key));
        }
      }
      split.values = *values;
    }
    if (split.values.size() == found->second.size()) {
      params.fail("validation", "would leave no partition for training");
    }
  }
  params.refuse_unknown_keys();
  return split;
}

} // namespace

std::string Step::label() const {
  return fmt::format("transform[{}] ({})", position, kind_names[static_cast<int>(kind)]);
}

int Pipeline::find_column(const std::string& name) const {
  for (std::size_t i = columns_.size(); i-- > 0;) {
    if (columns_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

bool Pipeline::is_empty() const noexcept {
  return steps_.empty() && !split_.is_enabled() &&
         std::none_of(columns_.begin(), columns_.end(),
                      [](const Column& c) { return c.source == ColumnSource::hive_key; });
}

std::vector<std::string> Pipeline::hive_key_columns() const {
  std::vector<std::string> names;
  for (const Column& column : columns_) {
    if (column.source == ColumnSource::hive_key) names.push_back(column.name);
  }
  return names;
}

bool Pipeline::is_read_by_steps(const std::string& name) const {
  return std::any_of(steps_.begin(), steps_.end(), [&](const Step& step) {
    return std::find(step.columns.begin(), step.columns.end(), name) != step.columns.end();
  });
}

void Pipeline::compile_expressions(const std::string& where) {
  expressions_.assign(steps_.size(), nullptr);
  for (std::size_t s = 0; s < steps_.size(); ++s) {
    const Step& step = steps_[s];
    if (step.kind == StepKind::filter || step.kind == StepKind::derive) {
      expressions_[s] = std::make_shared<const Expression>(step.expression, step.columns,
                                                           where + step.label());
    }
  }
}

std::vector<std::string> Pipeline::raw_inputs() const {
  std::vector<std::string> names;
  for (const Column& column : columns_) {
    if (column.source == ColumnSource::raw) names.push_back(column.name);
  }
  return names;
}

Pipeline Pipeline::compile(std::vector<job::ModelParams> specs, std::optional<job::ModelParams> split,
                           const std::map<std::string, std::vector<std::string>>& hive_keys,
                           const std::vector<std::string>& model_columns) {
  Pipeline pipeline;
  if (split) pipeline.split_ = read_split(*split, hive_keys);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    pipeline.steps_.push_back(read_step(specs[i], static_cast<int>(i) + 1));
  }
  // Columns come into being in step order: a name refers to what exists at that point. A name
  // not made by any step is a Hive key, or else a raw column of every partition.
  std::map<std::string, int> made_by; // derived name → index of the step that makes it
  for (std::size_t i = 0; i < pipeline.steps_.size(); ++i) {
    const Step& step = pipeline.steps_[i];
    if (step.kind != StepKind::derive) continue;
    auto [at, is_new] = made_by.emplace(step.output, static_cast<int>(i));
    if (!is_new) {
      throw ConfigError(fmt::format("{} derives column '{}', which {} already derives",
                                    step.label(), step.output, pipeline.steps_[at->second].label()));
    }
    if (hive_keys.contains(step.output)) {
      throw ConfigError(fmt::format("{} derives column '{}', which shadows the Hive key of that "
                                    "name", step.label(), step.output));
    }
  }
  const auto use = [&](const std::string& name, std::size_t at) -> int {
    if (int slot = pipeline.find_column(name); slot >= 0) return slot;
    const Step& step = pipeline.steps_[at];
    if (auto found = made_by.find(name); found != made_by.end()) {
      throw ConfigError(fmt::format(
          "{} uses column '{}', which {} derives later (steps run in order)", step.label(), name,
          pipeline.steps_[static_cast<std::size_t>(found->second)].label()));
    }
    Column column{name, hive_keys.contains(name) ? ColumnSource::hive_key : ColumnSource::raw};
    if (column.source == ColumnSource::hive_key) pipeline.hive_values_[name] = hive_keys.at(name);
    pipeline.columns_.push_back(column);
    return static_cast<int>(pipeline.columns_.size() - 1);
  };
  for (std::size_t i = 0; i < pipeline.steps_.size(); ++i) {
    Step& step = pipeline.steps_[i];
    if (step.kind == StepKind::filter || step.kind == StepKind::derive) {
      const std::string where = step.label();
      for (const std::string& name : Expression::variables(step.expression, where)) {
        if (step.kind == StepKind::derive && name == step.output) {
          throw ConfigError(fmt::format("{}: column '{}' is defined in terms of itself", where, name));
        }
        use(name, i);
        step.columns.push_back(name);
      }
      if (step.kind == StepKind::derive) {
        if (pipeline.find_column(step.output) >= 0) {
          throw ConfigError(fmt::format("{} derives column '{}', which shadows an existing column",
                                        step.label(), step.output));
        }
        pipeline.columns_.push_back({step.output, ColumnSource::derived, static_cast<int>(i)});
      }
      continue;
    }
    if (step.kind == StepKind::select) continue; // resolved after the steps (it may name any)
    for (const std::string& name : step.columns) use(name, i);
  }
  for (const std::string& name : model_columns) {
    if (pipeline.find_column(name) < 0 && !made_by.contains(name)) {
      Column column{name, hive_keys.contains(name) ? ColumnSource::hive_key : ColumnSource::raw};
      if (column.source == ColumnSource::hive_key) pipeline.hive_values_[name] = hive_keys.at(name);
      pipeline.columns_.push_back(column);
    }
  }
  for (const Step& step : pipeline.steps_) {
    if (step.kind != StepKind::select) continue;
    for (const std::string& name : step.columns) {
      if (pipeline.find_column(name) < 0) {
        throw ConfigError(fmt::format("{} selects column '{}', which no step makes and no other "
                                      "step or the model reads", step.label(), name));
      }
    }
  }
  pipeline.assign_levels(model_columns);
  pipeline.compile_expressions("");
  return pipeline;
}

// A stateful step is fitted in the first pass in which its inputs and the rows reaching it are
// final: after every stateful step it depends on (through its columns or an earlier filter).
void Pipeline::assign_levels(const std::vector<std::string>& model_columns) {
  std::vector<int> ready(columns_.size(), 0); // first pass in which a column's values are final
  int rows_ready = 0;                          // ... and the rows that reach this point
  const auto input_level = [&](const Step& step) {
    int level = 0;
    for (const std::string& name : step.columns) {
      level = std::max(level, ready[static_cast<std::size_t>(find_column(name))]);
    }
    return level;
  };
  num_fit_passes_ = 0;
  for (Step& step : steps_) {
    switch (step.kind) {
    case StepKind::filter:
      step.level = input_level(step);
      rows_ready = std::max(rows_ready, step.level);
      break;
    case StepKind::derive:
      step.level = input_level(step);
      ready[static_cast<std::size_t>(find_column(step.output))] = step.level;
      break;
    case StepKind::cast: step.level = input_level(step); break;
    case StepKind::select: step.level = 0; break;
    case StepKind::impute:
      if (step.strategy == ImputeStrategy::constant || step.strategy == ImputeStrategy::drop) {
        step.level = input_level(step);
        if (step.strategy == ImputeStrategy::drop) rows_ready = std::max(rows_ready, step.level);
        break;
      }
      [[fallthrough]];
    case StepKind::scale:
    case StepKind::one_hot:
      step.fit_pass = std::max(input_level(step), rows_ready);
      step.level = step.fit_pass + 1;
      num_fit_passes_ = std::max(num_fit_passes_, step.level);
      if (step.kind != StepKind::one_hot) {
        for (const std::string& name : step.columns) ready[static_cast<std::size_t>(find_column(name))] = step.level;
      }
      break;
    }
  }
  (void)model_columns;
}

void Pipeline::add_one_hot_columns(int step_index) {
  const Step& step = steps_[static_cast<std::size_t>(step_index)];
  for (std::size_t c = 0; c < step.columns.size(); ++c) {
    const std::string& name = step.columns[c];
    const auto hive = hive_values_.find(name);
    for (double category : step.categories[c]) {
      std::string value;
      if (hive != hive_values_.end() && category >= 0 &&
          category < static_cast<double>(hive->second.size()) && category == std::floor(category)) {
        value = hive->second[static_cast<std::size_t>(category)];
      } else {
        value = fmt::format("{}", category);
      }
      columns_.push_back({fmt::format("{}={}", name, value), ColumnSource::one_hot, step_index,
                          value});
    }
  }
}

std::vector<int> Pipeline::resolve(const std::string& name, const std::string& what) const {
  // A one_hot-encoded column stands for its indicators, in category order.
  for (std::size_t s = 0; s < steps_.size(); ++s) {
    const Step& step = steps_[s];
    if (step.kind != StepKind::one_hot) continue;
    if (std::find(step.columns.begin(), step.columns.end(), name) == step.columns.end()) continue;
    std::vector<int> slots;
    const std::string prefix = name + "=";
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (columns_[i].source == ColumnSource::one_hot && columns_[i].step == static_cast<int>(s) &&
          columns_[i].name.starts_with(prefix)) {
        slots.push_back(static_cast<int>(i));
      }
    }
    return slots;
  }
  const int slot = find_column(name);
  if (slot < 0) throw ConfigError(fmt::format("{} '{}' is no column of the pipeline", what, name));
  return {slot};
}

std::vector<int> Pipeline::output_columns() const {
  for (auto step = steps_.rbegin(); step != steps_.rend(); ++step) {
    if (step->kind != StepKind::select) continue;
    std::vector<int> slots;
    for (const std::string& name : step->columns) {
      for (int slot : resolve(name, step->label() + " selects")) slots.push_back(slot);
    }
    return slots;
  }
  // Without select: every column, with one_hot-encoded ones replaced by their indicators.
  std::vector<int> slots;
  std::set<std::string> encoded;
  for (const Step& step : steps_) {
    if (step.kind == StepKind::one_hot) encoded.insert(step.columns.begin(), step.columns.end());
  }
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (!encoded.contains(columns_[i].name) || columns_[i].source == ColumnSource::one_hot) {
      slots.push_back(static_cast<int>(i));
    }
  }
  return slots;
}

std::vector<std::size_t> Pipeline::row_steps(int pass) const {
  std::vector<std::size_t> steps;
  for (std::size_t s = 0; s < steps_.size(); ++s) {
    const Step& step = steps_[s];
    const bool is_applied = step.is_stateful() ? step.fit_pass < pass : step.level <= pass;
    const bool drops_rows = step.kind == StepKind::filter ||
                            (step.kind == StepKind::impute && step.strategy == ImputeStrategy::drop);
    if (is_applied && drops_rows) steps.push_back(s);
  }
  return steps;
}

void Pipeline::check_rows_kept(int pass, const std::vector<double>& kept, std::string_view consequence) const {
  if (kept.size() < 2 || kept[0] == 0.0) return;
  if (kept[1] == 0.0) {
    throw DataError(fmt::format("the split leaves no training row of the {} read{}", kept[0], consequence));
  }
  const std::vector<std::size_t> steps = row_steps(pass);
  for (std::size_t r = 2; r < kept.size() && r - 2 < steps.size(); ++r) {
    if (kept[r] == 0.0 && kept[r - 1] > 0.0) {
      const Step& step = steps_[steps[r - 2]];
      throw DataError(fmt::format("{} keeps none of the {} rows that reach it{}{}", step.label(),
                                  kept[r - 1],
                                  step.expression.empty() ? "" : fmt::format(" ('{}')", step.expression),
                                  consequence));
    }
  }
}

void Pipeline::check_columns(const std::vector<std::string>& file_columns, const std::string& file,
                             bool require_inputs) const {
  const std::set<std::string> present(file_columns.begin(), file_columns.end());
  for (const Step& step : steps_) {
    if (step.kind == StepKind::derive && present.contains(step.output)) {
      throw ConfigError(fmt::format("{} derives column '{}', which shadows the column of that name "
                                    "in the lake ({})", step.label(), step.output, file));
    }
  }
  if (!require_inputs) return;
  for (const Column& column : columns_) {
    if (column.source != ColumnSource::raw || present.contains(column.name)) continue;
    std::string reader = "the model";
    for (const Step& step : steps_) {
      if (std::find(step.columns.begin(), step.columns.end(), column.name) != step.columns.end()) {
        reader = step.label();
        break;
      }
    }
    throw DataError(fmt::format("{} reads column '{}', which {} does not hold (it has: {})", reader,
                               column.name.substr(0, 128), file,
                               fmt::join(file_columns.size() > 32
                                             ? std::vector<std::string>(file_columns.begin(), file_columns.begin() + 32)
                                             : file_columns,
                                         ", ")));
  }
}

std::uint64_t Pipeline::hash() const {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  const auto add_text = [&](const std::string& text) {
    const std::uint64_t size = text.size();
    XXH3_64bits_update(state, &size, sizeof size);
    XXH3_64bits_update(state, text.data(), text.size());
  };
  const auto add_values = [&](const std::vector<double>& values) {
    const std::uint64_t size = values.size();
    XXH3_64bits_update(state, &size, sizeof size);
    XXH3_64bits_update(state, values.data(), values.size() * sizeof(double));
  };
  for (const Column& column : columns_) add_text(column.name);
  for (const Step& step : steps_) {
    add_text(step.label());
    add_text(step.expression);
    add_text(step.output);
    for (const std::string& name : step.columns) add_text(name);
    const double options[] = {static_cast<double>(step.strategy), step.fill_value,
                              step.missing.value_or(std::numeric_limits<double>::quiet_NaN()),
                              static_cast<double>(step.method), static_cast<double>(step.cast_to),
                              static_cast<double>(step.max_categories),
                              static_cast<double>(step.unseen)};
    XXH3_64bits_update(state, options, sizeof options);
    add_values(step.center);
    add_values(step.scale);
    for (const auto& categories : step.categories) add_values(categories);
  }
  add_text(fmt::format("{}/{}/{}", split_.fraction, split_.seed, split_.key));
  for (const std::string& value : split_.values) add_text(value);
  const std::uint64_t digest = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return digest;
}

void Pipeline::save(model::ParameterWriter& writer) const {
  writer.integer("format_version", pipeline_format_version);
  writer.integer("num_steps", static_cast<std::int64_t>(steps_.size()));
  std::vector<std::string> names, sources;
  for (const Column& column : columns_) {
    names.push_back(column.name);
    sources.push_back(column.source == ColumnSource::raw        ? "raw"
                      : column.source == ColumnSource::hive_key ? "hive_key"
                      : column.source == ColumnSource::derived  ? "derived"
                                                                : "one_hot");
  }
  writer.strings("columns", names);
  writer.strings("column_sources", sources);
  for (const auto& [key, values] : hive_values_) writer.strings("hive_values." + key, values);
  writer.scalar("split.fraction", split_.fraction);
  writer.integer("split.seed", static_cast<std::int64_t>(split_.seed));
  writer.text("split.key", split_.key);
  writer.strings("split.values", split_.values);
  for (std::size_t s = 0; s < steps_.size(); ++s) {
    const Step& step = steps_[s];
    const std::string p = fmt::format("step{:02}.", s + 1);
    writer.text(p + "kind", std::string(kind_names[static_cast<int>(step.kind)]));
    writer.integer(p + "position", step.position);
    writer.text(p + "expression", step.expression);
    writer.text(p + "output", step.output);
    writer.strings(p + "columns", step.columns);
    writer.text(p + "strategy", std::string(strategy_names[static_cast<int>(step.strategy)]));
    writer.scalar(p + "fill_value", step.fill_value);
    writer.scalar(p + "missing", step.missing.value_or(std::numeric_limits<double>::quiet_NaN()));
    writer.integer(p + "has_missing", step.missing ? 1 : 0);
    writer.text(p + "method", std::string(method_names[static_cast<int>(step.method)]));
    writer.text(p + "cast_to", std::string(cast_names[static_cast<int>(step.cast_to)]));
    writer.integer(p + "max_categories", step.max_categories);
    writer.text(p + "unseen", std::string(unseen_names[static_cast<int>(step.unseen)]));
    writer.vector(p + "center", Eigen::Map<const Eigen::VectorXd>(step.center.data(),
                                                                  static_cast<Eigen::Index>(step.center.size())));
    writer.vector(p + "scale", Eigen::Map<const Eigen::VectorXd>(step.scale.data(),
                                                                 static_cast<Eigen::Index>(step.scale.size())));
    for (std::size_t c = 0; c < step.categories.size(); ++c) {
      writer.vector(fmt::format("{}categories.{}", p, c),
                    Eigen::Map<const Eigen::VectorXd>(step.categories[c].data(),
                                                      static_cast<Eigen::Index>(step.categories[c].size())));
    }
  }
}

Pipeline Pipeline::load(const model::ParameterReader& reader) {
  const std::int64_t version = reader.integer("format_version");
  if (version != pipeline_format_version) {
    throw DataError(fmt::format("{}: pipeline format version {} is not supported (this Sluice reads "
                                "version {})", reader.where(), version, pipeline_format_version));
  }
  Pipeline pipeline;
  const std::vector<std::string> names = reader.strings("columns");
  const std::vector<std::string> sources = reader.strings("column_sources");
  if (names.size() != sources.size()) throw DataError(reader.where() + ": pipeline columns are misshapen");
  pipeline.split_.fraction = reader.scalar("split.fraction");
  pipeline.split_.seed = static_cast<std::uint64_t>(reader.integer("split.seed"));
  pipeline.split_.key = reader.text("split.key");
  pipeline.split_.values = reader.strings("split.values");
  const std::int64_t num_steps = reader.integer("num_steps");
  if (num_steps < 0 || num_steps > 10000) throw DataError(reader.where() + ": bad pipeline step count");
  for (std::int64_t s = 0; s < num_steps; ++s) {
    const std::string p = fmt::format("step{:02}.", s + 1);
    Step step;
    step.kind = parse_name<StepKind>(reader.text(p + "kind"), kind_names, "step kind");
    step.position = static_cast<int>(reader.integer(p + "position"));
    step.expression = reader.text(p + "expression");
    step.output = reader.text(p + "output");
    step.columns = reader.strings(p + "columns");
    step.strategy = parse_name<ImputeStrategy>(reader.text(p + "strategy"), strategy_names, "strategy");
    step.fill_value = reader.scalar(p + "fill_value");
    if (reader.integer(p + "has_missing") != 0) step.missing = reader.scalar(p + "missing");
    step.method = parse_name<ScaleMethod>(reader.text(p + "method"), method_names, "method");
    step.cast_to = parse_name<CastType>(reader.text(p + "cast_to"), cast_names, "cast type");
    step.max_categories = reader.integer(p + "max_categories");
    step.unseen = parse_name<UnseenPolicy>(reader.text(p + "unseen"), unseen_names, "unseen policy");
    const Eigen::VectorXd center = reader.vector(p + "center");
    const Eigen::VectorXd scale = reader.vector(p + "scale");
    step.center.assign(center.data(), center.data() + center.size());
    step.scale.assign(scale.data(), scale.data() + scale.size());
    if (step.kind == StepKind::one_hot) {
      for (std::size_t c = 0; c < step.columns.size(); ++c) {
        const Eigen::VectorXd values = reader.vector(fmt::format("{}categories.{}", p, c));
        step.categories.emplace_back(values.data(), values.data() + values.size());
      }
    }
    step.is_fitted = true;
    pipeline.steps_.push_back(std::move(step));
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    Column column{names[i]};
    if (sources[i] == "raw") column.source = ColumnSource::raw;
    else if (sources[i] == "hive_key") column.source = ColumnSource::hive_key;
    else if (sources[i] == "derived") column.source = ColumnSource::derived;
    else if (sources[i] == "one_hot") column.source = ColumnSource::one_hot;
    else throw DataError(fmt::format("{}: unknown pipeline column source '{}'", reader.where(), sources[i]));
    if (column.source == ColumnSource::hive_key) {
      pipeline.hive_values_[column.name] = reader.strings("hive_values." + column.name);
    }
    pipeline.columns_.push_back(column);
  }
  // Which step made each derived and indicator column follows from the steps themselves.
  for (Column& column : pipeline.columns_) {
    for (std::size_t s = 0; s < pipeline.steps_.size(); ++s) {
      const Step& step = pipeline.steps_[s];
      if (column.source == ColumnSource::derived && step.kind == StepKind::derive &&
          step.output == column.name) {
        column.step = static_cast<int>(s);
      }
      if (column.source == ColumnSource::one_hot && step.kind == StepKind::one_hot) {
        for (const std::string& name : step.columns) {
          if (column.name.starts_with(name + "=")) {
            column.step = static_cast<int>(s);
            column.key_value_name = column.name.substr(name.size() + 1);
          }
        }
      }
    }
    if (column.source != ColumnSource::raw && column.source != ColumnSource::hive_key && column.step < 0) {
      throw DataError(fmt::format("{}: pipeline column '{}' has no step that makes it",
                                  reader.where(), column.name));
    }
  }
  for (Step& step : pipeline.steps_) {
    for (const std::string& name : step.columns) {
      if (pipeline.find_column(name) < 0) {
        throw DataError(fmt::format("{}: {} reads column '{}', which the pipeline lacks",
                                    reader.where(), step.label(), name));
      }
    }
  }
  pipeline.compile_expressions(reader.where() + " ");
  return pipeline;
}

} // namespace sluice::transform
