// Strict TOML job-file parsing: every key is known, typed and validated, or the job is refused.
#include "sluice/job/job_spec.hpp"

#include "sluice/error.hpp"
#include "sluice/registry_name.hpp"

#include <fmt/format.h>
#include <fmt/std.h>
#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace sluice::job {
namespace {

// Reads one table's keys, refusing any it was not asked for.
class TableReader {
public:
  TableReader(const toml::table* table, std::string prefix, const std::string& source)
      : table_(table), prefix_(std::move(prefix)), source_(source) {}

  [[noreturn]] void fail(std::string_view key, std::string_view problem) const {
    throw ConfigError(fmt::format("{}: '{}{}' {}", source_, prefix_, key, problem));
  }

  const toml::node* find(std::string_view key) {
    seen_.insert(std::string(key));
    return table_ != nullptr ? table_->get(key) : nullptr;
  }

  template <typename T>
  std::optional<T> get(std::string_view key, std::string_view type_name) {
    const toml::node* node = find(key);
    if (node == nullptr) return std::nullopt;
    if (auto value = node->value_exact<T>()) return *value;
    fail(key, fmt::format("must be {}, got {}", type_name, describe(*node)));
  }

  std::optional<std::string> string(std::string_view key) {
    return get<std::string>(key, "a string");
  }
  std::optional<std::int64_t> integer(std::string_view key) {
    return get<std::int64_t>(key, "an integer");
  }
  std::optional<bool> boolean(std::string_view key) { return get<bool>(key, "a boolean"); }
  std::optional<double> number(std::string_view key) {
    const toml::node* node = find(key);
    if (node == nullptr) return std::nullopt;
    if (auto value = node->value_exact<double>()) return *value;
    if (auto value = node->value_exact<std::int64_t>()) return static_cast<double>(*value);
    fail(key, fmt::format("must be a number, got {}", describe(*node)));
  }

  std::optional<std::vector<std::string>> strings(std::string_view key) {
    const toml::node* node = find(key);
    if (node == nullptr) return std::nullopt;
    const toml::array* array = node->as_array();
    if (array == nullptr) fail(key, fmt::format("must be an array of strings, got {}", describe(*node)));
    std::vector<std::string> values;
    for (const toml::node& element : *array) {
      auto value = element.value_exact<std::string>();
      if (!value) fail(key, fmt::format("must hold only strings, found {}", describe(element)));
      values.push_back(*value);
    }
    return values;
  }

  const toml::table* table(std::string_view key) {
    const toml::node* node = find(key);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) fail(key, fmt::format("must be a table, got {}", describe(*node)));
    return node->as_table();
  }

  // Call after reading: any key not asked for is a typo or an unsupported option.
  void refuse_unknown_keys() const {
    if (table_ == nullptr) return;
    for (const auto& [key, node] : *table_) {
      if (!seen_.contains(std::string(key.str()))) {
        throw ConfigError(fmt::format("{}: unknown key '{}{}'", source_, prefix_, key.str()));
      }
    }
  }

  static std::string describe(const toml::node& node) {
    switch (node.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date/time";
    }
  }

private:
  const toml::table* table_;
  std::string prefix_;
  const std::string& source_;
  std::set<std::string> seen_;
};

template <typename Enum>
Enum choose(TableReader& reader, std::string_view key, Enum fallback,
            std::initializer_list<std::pair<std::string_view, Enum>> choices) {
  auto text = reader.string(key);
  if (!text) return fallback;
  std::string names;
  for (const auto& [name, value] : choices) {
    if (*text == name) return value;
    names += fmt::format("{}'{}'", names.empty() ? "" : ", ", name);
  }
  reader.fail(key, fmt::format("must be one of {}, got '{}'", names, *text));
}

std::filesystem::path resolve(const std::filesystem::path& base, const std::string& path) {
  std::filesystem::path value(path);
  return value.is_absolute() ? value : (base / value).lexically_normal();
}

void read_lake(TableReader& root, JobSpec& job, const std::filesystem::path& base) {
  const toml::table* table = root.table("lake");
  if (table == nullptr) root.fail("lake", "is missing (the [lake] table with path = ...)");
  TableReader lake(table, "lake.", job.source);
  auto path = lake.string("path");
  if (!path || path->empty()) lake.fail("path", "is missing");
  job.lake.root = resolve(base, *path);
  job.lake.glob = lake.string("glob").value_or(job.lake.glob);
  if (job.lake.glob.empty()) lake.fail("glob", "must not be empty");
  job.lake.group = lake.string("group").value_or(job.lake.group);
  job.lake.block_rows = lake.integer("block_rows").value_or(job.lake.block_rows);
  if (job.lake.block_rows <= 0 || job.lake.block_rows > max_block_rows) {
    lake.fail("block_rows", fmt::format("must be 1..{}", max_block_rows));
  }
  if (auto split_rows = lake.integer("split_rows")) {
    if (*split_rows <= 0 || *split_rows > max_split_rows) {
      lake.fail("split_rows", fmt::format("must be 1..{}", max_split_rows));
    }
    if (*split_rows % job.lake.block_rows != 0) {
      lake.fail("split_rows", fmt::format("must be a whole number of blocks: a multiple of "
                                          "lake.block_rows ({})",
                                          job.lake.block_rows));
    }
    job.lake.split_rows = *split_rows;
    job.lake.is_split_rows_given = true;
  } else {
    job.lake.split_rows =
        (default_split_rows + job.lake.block_rows - 1) / job.lake.block_rows * job.lake.block_rows;
  }
  job.lake.max_column_bytes = lake.integer("max_column_bytes").value_or(job.lake.max_column_bytes);
  if (job.lake.max_column_bytes <= 0) lake.fail("max_column_bytes", "must be a positive number of bytes");
  job.lake.max_chunk_bytes = lake.integer("max_chunk_bytes").value_or(job.lake.max_chunk_bytes);
  if (job.lake.max_chunk_bytes <= 0) lake.fail("max_chunk_bytes", "must be a positive number of bytes");
  job.lake.on_bad_partition =
      choose(lake, "on_bad_partition", BadPartitionPolicy::error,
             {{"error", BadPartitionPolicy::error}, {"skip", BadPartitionPolicy::skip}});
  job.lake.on_nonfinite =
      choose(lake, "on_nonfinite", NonFiniteAction::error,
             {{"error", NonFiniteAction::error}, {"drop_rows", NonFiniteAction::drop_rows}});
  job.lake.isolate = lake.boolean("isolate").value_or(job.lake.isolate);
  job.lake.isolate_memory_bytes =
      lake.integer("isolate_memory_bytes").value_or(job.lake.isolate_memory_bytes);
  // Below 256 MiB the process cannot even map the program and its libraries.
  if (job.lake.isolate_memory_bytes != 0 && job.lake.isolate_memory_bytes < (std::int64_t{256} << 20)) {
    lake.fail("isolate_memory_bytes", "must be 0 (automatic) or at least 268435456 (256 MiB)");
  }
  job.lake.isolate_timeout_s = lake.number("isolate_timeout_s").value_or(job.lake.isolate_timeout_s);
  if (!std::isfinite(job.lake.isolate_timeout_s) || job.lake.isolate_timeout_s < 1 ||
      job.lake.isolate_timeout_s > 86400) {
    lake.fail("isolate_timeout_s", "must be 1..86400 seconds");
  }
  if (const toml::table* select = lake.table("select")) {
    TableReader selection(select, "lake.select.", job.source);
    for (const auto& [key, node] : *select) {
      std::string name(key.str());
      if (node.is_string()) {
        job.lake.selection[name] = {*selection.string(name)};
      } else {
        auto values = selection.strings(name);
        if (values->empty()) selection.fail(name, "must list at least one value");
        job.lake.selection[name] = *values;
      }
    }
  }
  lake.refuse_unknown_keys();
}

// A TOML value as JSON, so the model kinds can read their own keys without seeing TOML.
nlohmann::json to_json(const toml::node& node) {
  if (const toml::table* table = node.as_table()) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& [key, value] : *table) object[std::string(key.str())] = to_json(value);
    return object;
  }
  if (const toml::array* array = node.as_array()) {
    nlohmann::json list = nlohmann::json::array();
    for (const toml::node& element : *array) list.push_back(to_json(element));
    return list;
  }
  if (auto value = node.value_exact<std::int64_t>()) return *value;
  if (auto value = node.value_exact<double>()) return *value;
  if (auto value = node.value_exact<bool>()) return *value;
  if (auto value = node.value_exact<std::string>()) return *value;
  return nlohmann::json{{"unsupported", TableReader::describe(node)}};
}

void read_model(TableReader& root, JobSpec& job) {
  const toml::table* table = root.table("model");
  if (table == nullptr && job.curate) {
    job.has_model = false; // a transform-only job
    job.model.kind.clear();
    return;
  }
  if (table == nullptr) root.fail("model", "is missing (the [model] table)");
  TableReader model(table, "model.", job.source);
  job.model.kind = model.string("kind").value_or("ridge");
  auto features = model.strings("features");
  if (!features || features->empty()) model.fail("features", "must list at least one column");
  std::set<std::string> unique;
  for (const std::string& feature : *features) {
    if (feature.empty()) model.fail("features", "holds an empty column name");
    if (!unique.insert(feature).second) {
      model.fail("features", fmt::format("lists column '{}' twice", feature));
    }
  }
  job.model.features = *features;
  auto label = model.string("label");
  if (label && label->empty()) model.fail("label", "must not be empty");
  if (label && unique.contains(*label)) {
    model.fail("label", fmt::format("'{}' is also a feature", *label));
  }
  job.model.label = label.value_or("");
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [key, node] : *table) {
    const std::string name(key.str());
    if (name != "kind" && name != "features" && name != "label") params[name] = to_json(node);
  }
  job.model.params = ModelParams(std::move(params), job.source);
}

void read_publish(TableReader& root, JobSpec& job, const std::filesystem::path& base) {
  const toml::table* table = root.table("publish");
  if (table == nullptr && !job.has_model) return;
  if (table == nullptr) root.fail("publish", "is missing (the [publish] table)");
  TableReader publish(table, "publish.", job.source);
  auto registry = publish.string("registry");
  if (!registry || registry->empty()) publish.fail("registry", "is missing");
  job.publish.registry = resolve(base, *registry);
  auto name = publish.string("name");
  if (!name || name->empty()) publish.fail("name", "is missing");
  // The registry's own rule: one safe directory name (sluice/registry_name.hpp).
  if (auto problem = registry_name_problem(*name)) publish.fail("name", *problem);
  job.publish.name = *name;
  if (const toml::table* gate_table = publish.table("gate")) {
    TableReader gate(gate_table, "publish.gate.", job.source);
    GateSpec spec;
    spec.alias = gate.string("alias").value_or("");
    if (spec.alias.empty()) gate.fail("alias", "is missing (the alias naming the champion, e.g. \"production\")");
    if (auto problem = registry_name_problem(spec.alias)) gate.fail("alias", *problem);
    if (spec.alias.find_first_not_of("0123456789") == std::string::npos) {
      gate.fail("alias", "must not be all digits (it would read as a version)");
    }
    spec.metric = gate.string("metric").value_or("");
    if (spec.metric.empty()) gate.fail("metric", "is missing (e.g. \"validation_rmse\")");
    const std::optional<bool> direction = metric_direction(spec.metric);
    if (!direction) {
      gate.fail("metric", fmt::format("{} is not a metric the gate can compare (rmse, r2, log_loss, "
                                      "accuracy, auc, inertia, with or without validation_)",
                                      quote_bounded(spec.metric)));
    }
    spec.is_larger_better = *direction;
    // Refused now, not after the fit: a metric the model kind or the split never reports.
    const bool is_validation = spec.metric.starts_with("validation_");
    const std::string base = is_validation ? spec.metric.substr(11) : spec.metric;
    const std::map<std::string, std::set<std::string>> reported = {
        {"ridge", {"rmse", "r2"}}, {"ols", {"rmse", "r2"}},
        {"logistic", {"log_loss", "accuracy", "auc"}}, {"kmeans", {"inertia"}}};
    const auto kind = reported.find(job.model.kind);
    if (kind == reported.end() || !kind->second.contains(base)) {
      gate.fail("metric", fmt::format("{} is not reported by a '{}' model",
                                      quote_bounded(spec.metric), job.model.kind));
    }
    if (is_validation && !job.split) {
      gate.fail("metric", fmt::format("{} needs validation rows: add a [split] table",
                                      quote_bounded(spec.metric)));
    }
    spec.margin = gate.number("margin").value_or(0.0);
    if (!std::isfinite(spec.margin) || spec.margin < 0) gate.fail("margin", "must be a finite number >= 0");
    gate.refuse_unknown_keys();
    job.publish.gate = spec;
  }
  publish.refuse_unknown_keys();
}

// "4GiB", "512 MB", "1e9" or a plain integer of bytes.
std::optional<std::int64_t> parse_bytes(std::string text) {
  std::erase(text, ' ');
  static const std::pair<std::string_view, double> units[] = {
      {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
      {"KB", 1e3},     {"MB", 1e6},        {"GB", 1e9},           {"TB", 1e12},
      {"K", 1024.0},   {"M", 1048576.0},   {"G", 1073741824.0},   {"B", 1.0}};
  double scale = 1.0;
  for (const auto& [unit, factor] : units) {
    if (text.size() > unit.size() && text.ends_with(unit)) {
      text.resize(text.size() - unit.size());
      scale = factor;
      break;
    }
  }
  try {
    std::size_t used = 0;
    const double value = std::stod(text, &used);
    if (used != text.size() || !std::isfinite(value) || value < 0 || value * scale > 9e18) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(value * scale);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// A byte count given as an integer or a string with a unit.
std::optional<std::int64_t> read_byte_count(TableReader& table, std::string_view key,
                                            std::string_view example) {
  const toml::node* node = table.find(key);
  if (node == nullptr) return std::nullopt;
  std::optional<std::int64_t> bytes;
  if (auto integer = node->value_exact<std::int64_t>()) {
    if (*integer >= 0) bytes = *integer;
  } else if (auto text = node->value_exact<std::string>()) {
    bytes = parse_bytes(*text);
  }
  if (!bytes) table.fail(key, fmt::format("must be a byte count >= 0, e.g. 1000000000 or \"{}\"", example));
  return bytes;
}

void read_run(TableReader& root, JobSpec& job) {
  TableReader run(root.table("run"), "run.", job.source);
  auto threads = run.integer("threads");
  if (threads && (*threads < 0 || *threads > 4096)) run.fail("threads", "must be 0..4096");
  job.run.threads = static_cast<int>(threads.value_or(0));
  job.run.memory_budget = read_byte_count(run, "memory_budget", "8GiB").value_or(0);
  job.run.peer_timeout_s = run.number("peer_timeout").value_or(job.run.peer_timeout_s);
  job.run.profile = run.boolean("profile").value_or(true);
  job.run.split = run.boolean("split").value_or(true);
  job.run.schedule = choose(run, "schedule", ScheduleMode::planned,
                            {{"static", ScheduleMode::planned}, {"dynamic", ScheduleMode::dynamic}});
  if (!std::isfinite(job.run.peer_timeout_s) || job.run.peer_timeout_s < 0 ||
      job.run.peer_timeout_s > 86400) {
    run.fail("peer_timeout", "must be 0 (wait forever) or a number of seconds up to 86400");
  }
  run.refuse_unknown_keys();
}

void read_cache(TableReader& root, JobSpec& job, const std::filesystem::path& base) {
  TableReader cache(root.table("cache"), "cache.", job.source);
  job.cache.is_enabled = cache.boolean("enabled").value_or(true);
  job.cache.warm_start = cache.boolean("warm_start").value_or(true);
  if (auto path = cache.string("path")) {
    if (path->empty()) cache.fail("path", "must not be empty");
    job.cache.root = resolve(base, *path);
  } else if (!job.publish.registry.empty()) {
    job.cache.root = job.publish.registry / ".partials";
  }
  job.cache.max_bytes = read_byte_count(cache, "max_bytes", "1GiB").value_or(job.cache.max_bytes);
  cache.refuse_unknown_keys();
}

// [[transform]] and [split] are validated by the pipeline, which knows the steps; here they only
// have to be tables.
void read_transform(TableReader& root, JobSpec& job) {
  if (const toml::node* node = root.find("transform")) {
    const toml::array* steps = node->as_array();
    if (steps == nullptr) root.fail("transform", "must be an array of tables ([[transform]])");
    int position = 0;
    for (const toml::node& step : *steps) {
      ++position;
      if (!step.is_table()) {
        root.fail("transform", fmt::format("entry {} must be a table ([[transform]])", position));
      }
      job.transforms.emplace_back(to_json(step), job.source, fmt::format("transform[{}].", position));
    }
  }
  if (const toml::table* split = root.table("split")) {
    job.split.emplace(to_json(*split), job.source, "split.");
  }
}

void read_curate(TableReader& root, JobSpec& job, const std::filesystem::path& base) {
  const toml::table* table = root.table("curate");
  if (table == nullptr) return;
  TableReader curate(table, "curate.", job.source);
  CurateSpec spec;
  auto path = curate.string("path");
  if (!path || path->empty()) curate.fail("path", "is missing (the output lake's directory)");
  spec.root = resolve(base, *path);
  if (auto columns = curate.strings("columns")) spec.columns = *columns;
  spec.chunk_rows = curate.integer("chunk_rows").value_or(spec.chunk_rows);
  if (spec.chunk_rows <= 0 || spec.chunk_rows > max_block_rows) {
    curate.fail("chunk_rows", fmt::format("must be 1..{}", max_block_rows));
  }
  const std::int64_t deflate = curate.integer("deflate").value_or(0);
  if (deflate < 0 || deflate > 9) curate.fail("deflate", "must be 0..9");
  spec.deflate = static_cast<int>(deflate);
  curate.refuse_unknown_keys();
  job.curate = std::move(spec);
}

} // namespace

std::optional<bool> metric_direction(std::string_view metric) {
  if (metric.starts_with("validation_")) metric.remove_prefix(std::string_view("validation_").size());
  for (std::string_view larger : {"r2", "accuracy", "auc"}) {
    if (metric == larger) return true;
  }
  for (std::string_view smaller : {"rmse", "log_loss", "inertia"}) {
    if (metric == smaller) return false;
  }
  return std::nullopt;
}

std::vector<std::string> JobSpec::columns() const {
  std::vector<std::string> columns = model.features;
  if (!model.label.empty()) columns.push_back(model.label);
  return columns;
}

JobSpec parse_job(std::string_view text, const std::filesystem::path& base_directory,
                  const std::string& source) {
  toml::table document;
  try {
    document = toml::parse(text, source);
  } catch (const toml::parse_error& error) {
    throw ConfigError(fmt::format("{}:{}:{}: {}", source, error.source().begin.line,
                                  error.source().begin.column, error.description()));
  }
  JobSpec job;
  job.text = std::string(text);
  job.source = source;
  TableReader root(&document, "", job.source);
  read_lake(root, job, base_directory);
  read_curate(root, job, base_directory);
  read_transform(root, job);
  read_model(root, job);
  read_publish(root, job, base_directory);
  read_run(root, job);
  read_cache(root, job, base_directory);
  root.refuse_unknown_keys();
  return job;
}

JobSpec load_job(const std::filesystem::path& file) {
  std::ifstream stream(file, std::ios::binary);
  if (!stream) throw ConfigError(fmt::format("cannot read job file {}", file));
  std::ostringstream text;
  text << stream.rdbuf();
  std::filesystem::path base = std::filesystem::absolute(file).parent_path();
  return parse_job(text.str(), base, file.string());
}

} // namespace sluice::job
