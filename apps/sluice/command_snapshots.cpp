// sluice snapshots list|show (and the governance verbs of snapshots_governance.cpp).
#include "commands.hpp"
#include "snapshots_governance.hpp"

#include "sluice/error.hpp"
#include "sluice/model/parameter_map.hpp"
#include "sluice/snapshot/model_reference.hpp"
#include "sluice/snapshot/registry.hpp"
#include "sluice/snapshot/snapshot.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>

namespace sluice::app {
namespace {

struct SnapshotsArguments {
  std::vector<std::string> targets;
};

// Alias names by the version they name: "production,staging".
std::map<std::int64_t, std::string> aliases_by_version(const snapshot::SnapshotRegistry& registry,
                                                       const std::string& name) {
  std::map<std::int64_t, std::string> by_version;
  for (const auto& [alias, version] : registry.aliases(name)) {
    std::string& names = by_version[version];
    names += (names.empty() ? "" : ",") + alias;
  }
  return by_version;
}

int list(const SnapshotsArguments& a) {
  if (a.targets.empty() || a.targets.size() > 2) {
    throw ConfigError("usage: sluice snapshots list REGISTRY [NAME[@VERSION|@ALIAS]]");
  }
  snapshot::SnapshotRegistry registry(a.targets[0]);
  if (!std::filesystem::is_directory(registry.root())) {
    throw ConfigError(fmt::format("registry {} is not a directory", registry.root().string()));
  }
  std::optional<snapshot::ModelReference> only;
  if (a.targets.size() == 2) only = snapshot::parse_model_reference(a.targets[1]);
  const std::vector<std::string> names = only ? std::vector<std::string>{only->name} : registry.model_names();
  fmt::print("{:<20} {:>8} {:>3} {:<16} {:<10} {:<20} {:>12}  {}\n", "model", "version", "", "aliases",
             "kind", "created", "rows", "metrics");
  std::int64_t num_unreadable = 0;
  for (const std::string& name : names) {
    std::vector<std::int64_t> versions = registry.versions(name);
    if (only && (only->version || only->alias)) versions = {snapshot::resolve(registry, *only).version};
    const auto current = registry.current_version(name);
    const auto aliases = aliases_by_version(registry, name);
    for (std::int64_t version : versions) {
      const auto alias = aliases.find(version);
      const std::string alias_names = alias == aliases.end() ? "" : alias->second;
      const std::string marker = current == version ? "*" : "";
      try {
        snapshot::Snapshot s = snapshot::read_snapshot(registry.snapshot_path(name, version));
        std::string metrics;
        for (const auto& [metric, value] : s.metrics) {
          if (metric != "num_rows") metrics += fmt::format("{}{}={:.6g}", metrics.empty() ? "" : " ", metric, value);
        }
        fmt::print("{:<20} {:>8} {:>3} {:<16} {:<10} {:<20} {:>12}  {}\n", name, version, marker,
                   alias_names, s.model_kind, s.created_utc, s.num_rows, metrics);
      } catch (const DataError& error) {
        // One damaged version must not hide the others; the exit code still says so.
        ++num_unreadable;
        fmt::print("{:<20} {:>8} {:>3} {:<16} UNREADABLE: {}\n", name, version, marker, alias_names,
                   error.what());
      }
    }
  }
  if (num_unreadable > 0) {
    throw DataError(fmt::format("{} version(s) in {} cannot be read; `sluice snapshots verify` lists them",
                                num_unreadable, registry.root().string()));
  }
  return 0;
}

// Scalars to 17 digits; per-feature vectors (coefficients, means) as "feature value" lines;
// other arrays one row a line.
void print_parameter(const std::string& name, const model::ParameterMap::Value& value,
                     const std::vector<std::string>& features) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, double>) {
          fmt::print("  {:<24} {:.17g}\n", name, v);
        } else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, std::string>) {
          fmt::print("  {:<24} {}\n", name, v);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          fmt::print("  {:<24} {}\n", name, fmt::join(v, " "));
        } else if ((name == "coefficients" || name == "mean") && v.cols() == 1 &&
                   v.rows() == static_cast<Eigen::Index>(features.size())) {
          fmt::print("  {}\n", name);
          for (std::size_t j = 0; j < features.size(); ++j) {
            fmt::print("    {:<20} {:.17g}\n", features[j], v(static_cast<Eigen::Index>(j), 0));
          }
        } else {
          fmt::print("  {} ({}×{})\n", name, v.rows(), v.cols());
          for (Eigen::Index i = 0; i < v.rows(); ++i) {
            std::vector<double> row(v.cols());
            for (Eigen::Index j = 0; j < v.cols(); ++j) row[static_cast<std::size_t>(j)] = v(i, j);
            fmt::print("    {:.17g}\n", fmt::join(row, " "));
          }
        }
      },
      value);
}

int show(const SnapshotsArguments& a) {
  std::filesystem::path file = resolve_snapshot(a.targets, "show");
  snapshot::Snapshot s = snapshot::read_snapshot(file);
  fmt::print("snapshot   {}\n", file.string());
  fmt::print("model      {} version {} ({}; {})\n", s.model_name, s.version, s.model_kind,
             s.model->describe());
  if (a.targets.size() >= 2) {
    snapshot::SnapshotRegistry registry(a.targets[0]);
    const auto aliases = aliases_by_version(registry, s.model_name);
    const auto alias = aliases.find(s.version);
    const bool is_current = registry.current_version(s.model_name) == s.version;
    fmt::print("pointers   {}{}{}\n", is_current ? "CURRENT" : "",
               is_current && alias != aliases.end() ? "," : "",
               alias == aliases.end() ? (is_current ? "" : "(none)") : alias->second);
  }
  fmt::print("label      {}\n", s.label.empty() ? "(none)" : s.label);
  fmt::print("features   {}\n", fmt::join(s.feature_names, " "));
  fmt::print("outputs    {}\n", fmt::join(s.model->outputs(), " "));
  model::ParameterMap parameters;
  s.model->save(parameters);
  for (const auto& [name, value] : parameters.values()) print_parameter(name, value, s.feature_names);
  fmt::print("metrics   ");
  for (const auto& [name, value] : s.metrics) fmt::print(" {}={:.9g}", name, value);
  fmt::print(" rows={} dropped_rows={}\n", s.num_rows, s.num_dropped_rows);
  if (!s.history.rows.empty()) {
    fmt::print("history    {}\n", fmt::join(s.history.columns, " "));
    for (const auto& row : s.history.rows) fmt::print("  {:.9g}\n", fmt::join(row, " "));
  }
  fmt::print("pipeline   {}\n", s.pipeline_json);
  fmt::print("lineage    sluice {} on {} ranks x {} threads at {}\n", s.sluice_version, s.num_ranks,
             s.threads_per_rank, s.created_utc);
  fmt::print("lake       {} ({} partitions, {} skipped)\n", s.lake_root, s.partitions.size(),
             s.skipped.size());
  for (const auto& p : s.partitions) {
    fmt::print("  {:<40} rows={:<10} checksum={}\n", p.path, p.rows, p.checksum);
  }
  for (const auto& p : s.skipped) fmt::print("  skipped {}: {}\n", p.path, p.reason);
  fmt::print("job file:\n{}\n", s.job_text);
  return 0;
}

} // namespace

std::filesystem::path resolve_snapshot(const std::vector<std::string>& targets,
                                       const std::string& verb) {
  if (targets.size() == 1) return targets[0];
  if (targets.size() < 2 || targets.size() > 3) {
    throw ConfigError(fmt::format(
        "usage: sluice {} FILE.h5 | REGISTRY NAME[@VERSION|@ALIAS] | REGISTRY NAME VERSION", verb));
  }
  snapshot::SnapshotRegistry registry(targets[0]);
  snapshot::ModelReference reference = snapshot::parse_model_reference(targets[1]);
  if (targets.size() == 3) {
    if (reference.version || reference.alias) {
      throw ConfigError(fmt::format("give the version either as {} or as a third argument, not both",
                                    targets[1]));
    }
    // The same rule as NAME@VERSION: decimal digits only.
    reference = snapshot::parse_model_reference(reference.name + "@" + targets[2]);
    if (!reference.version) throw ConfigError(fmt::format("version '{}' is not a number", targets[2]));
  }
  return snapshot::resolve(registry, reference).path;
}

void add_snapshots_command(CLI::App& app, Command& selected) {
  CLI::App* command = app.add_subcommand("snapshots", "List, show, alias, roll back, verify and diff published snapshots");
  command->require_subcommand(1);
  for (const char* verb : {"list", "show"}) {
    auto a = std::make_shared<SnapshotsArguments>();
    CLI::App* sub = command->add_subcommand(
        verb, std::string(verb) == "list"
                  ? "List versions: REGISTRY [NAME[@VERSION|@ALIAS]]"
                  : "Show one snapshot: FILE.h5 | REGISTRY NAME[@VERSION|@ALIAS] | REGISTRY NAME VERSION");
    sub->add_option("targets", a->targets, "Registry, model reference, version or file")->required();
    const bool is_list = std::string(verb) == "list";
    sub->callback([a, is_list, &selected] {
      selected.local = [a, is_list] { return is_list ? list(*a) : show(*a); };
    });
  }
  add_governance_subcommands(*command, selected);
}

} // namespace sluice::app
