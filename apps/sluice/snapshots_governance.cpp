// sluice snapshots alias|rollback|gc|verify|history|diff: thin verbs over SnapshotRegistry.
#include "snapshots_governance.hpp"

#include "sluice/error.hpp"
#include "sluice/snapshot/model_reference.hpp"
#include "sluice/snapshot/registry.hpp"
#include "sluice/snapshot/snapshot_diff.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <memory>

namespace sluice::app {
namespace {

struct GovernanceArguments {
  std::string registry;
  std::string name;
  std::string alias;
  std::string version;
  std::string reason;
  std::int64_t keep = 0;
  std::vector<std::string> targets;
  bool is_json = false;
};

std::string fmt_version(const std::optional<std::int64_t>& version) {
  return version ? std::to_string(*version) : std::string("(none)");
}

// A registry that exists as a directory; the verbs never create one.
snapshot::SnapshotRegistry existing_registry(const std::string& root) {
  snapshot::SnapshotRegistry registry(root);
  if (!std::filesystem::is_directory(registry.root())) {
    throw ConfigError(fmt::format("registry {} is not a directory", root));
  }
  return registry;
}

std::int64_t parse_version_argument(const std::string& name, const std::string& text) {
  const snapshot::ModelReference reference = snapshot::parse_model_reference(name + "@" + text);
  if (!reference.version) throw ConfigError(fmt::format("VERSION '{}' is not a version number", text));
  return *reference.version;
}

int alias_set(const GovernanceArguments& a) {
  snapshot::SnapshotRegistry registry = existing_registry(a.registry);
  const std::int64_t version = parse_version_argument(a.name, a.version);
  const auto before = registry.alias_version(a.name, a.alias);
  registry.set_alias(a.name, a.alias, version, a.reason);
  fmt::print("{}@{}: {} -> {}\n", a.name, a.alias, fmt_version(before), version);
  return 0;
}

int alias_remove(const GovernanceArguments& a) {
  snapshot::SnapshotRegistry registry = existing_registry(a.registry);
  const auto before = registry.alias_version(a.name, a.alias);
  registry.remove_alias(a.name, a.alias, a.reason);
  fmt::print("{}@{}: {} -> (removed)\n", a.name, a.alias, fmt_version(before));
  return 0;
}

int alias_list(const GovernanceArguments& a) {
  snapshot::SnapshotRegistry registry = existing_registry(a.registry);
  registry.checked_model_directory(a.name);
  fmt::print("{:<24} {:>8}\n", "alias", "version");
  fmt::print("{:<24} {:>8}\n", "CURRENT", fmt_version(registry.current_version(a.name)));
  for (const auto& [alias, version] : registry.aliases(a.name)) fmt::print("{:<24} {:>8}\n", alias, version);
  return 0;
}

int rollback(const GovernanceArguments& a) {
  snapshot::SnapshotRegistry registry = existing_registry(a.registry);
  const std::optional<std::string> alias = a.alias.empty() ? std::nullopt : std::optional(a.alias);
  const auto before = alias ? registry.alias_version(a.name, *alias) : registry.current_version(a.name);
  const std::int64_t now = registry.rollback(a.name, alias, a.reason);
  fmt::print("{}{}: {} -> {}\n", a.name, alias ? "@" + *alias : std::string(" CURRENT"), fmt_version(before), now);
  return 0;
}

int collect_garbage(const GovernanceArguments& a) {
  snapshot::SnapshotRegistry registry = existing_registry(a.registry);
  const std::vector<std::int64_t> removed = registry.collect_garbage(a.name, a.keep, a.reason);
  fmt::print("{}: removed {} version(s){}{}\n", a.name, removed.size(), removed.empty() ? "" : ": ",
             fmt::join(removed, " "));
  return 0;
}

int verify(const GovernanceArguments& a) {
  snapshot::SnapshotRegistry registry = existing_registry(a.registry);
  const std::optional<std::string> name = a.name.empty() ? std::nullopt : std::optional(a.name);
  const std::vector<snapshot::RegistryProblem> problems = registry.verify(name);
  for (const auto& problem : problems) fmt::print("BAD {}: {}\n", problem.path.string(), problem.problem);
  if (!problems.empty()) {
    throw DataError(fmt::format("registry {}: {} bad file(s) (listed above)", a.registry, problems.size()));
  }
  std::int64_t num_versions = 0;
  const std::vector<std::string> names = name ? std::vector<std::string>{*name} : registry.model_names();
  for (const std::string& model : names) num_versions += static_cast<std::int64_t>(registry.versions(model).size());
  fmt::print("registry {}: {} model(s), {} version(s), all verified\n", a.registry, names.size(), num_versions);
  return 0;
}

int history(const GovernanceArguments& a) {
  snapshot::SnapshotRegistry registry = existing_registry(a.registry);
  registry.checked_model_directory(a.name);
  for (const snapshot::HistoryEntry& e : registry.history(a.name)) {
    if (a.is_json) {
      fmt::print("{}\n", snapshot::history_line(e));
    } else if (e.action == "gc") {
      fmt::print("{}  gc           removed {}  {}@{}{}\n", e.time_utc, fmt::join(e.removed, " "), e.user,
                 e.host, e.reason.empty() ? "" : "  " + e.reason);
    } else {
      fmt::print("{}  {:<12} {:<12} {} -> {}  {}@{}{}\n", e.time_utc, e.action,
                 e.pointer.empty() ? "-" : e.pointer, fmt_version(e.from), fmt_version(e.to), e.user,
                 e.host, e.reason.empty() ? "" : "  " + e.reason);
    }
  }
  return 0;
}

std::string short_json(const nlohmann::json& value) {
  if (value.is_null()) return "(absent)";
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

void print_changes(const char* title, const std::vector<snapshot::ValueChange>& changes) {
  fmt::print("{} ({} changed)\n", title, changes.size());
  for (const auto& c : changes) {
    if (c.max_abs_difference >= 0) {
      fmt::print("  {:<28} max |diff| {:.6g}\n", c.key, c.max_abs_difference);
    } else {
      fmt::print("  {:<28} {} -> {}\n", c.key, short_json(c.before), short_json(c.after));
    }
  }
}

int diff(const GovernanceArguments& a) {
  std::filesystem::path first;
  std::filesystem::path second;
  if (a.targets.size() == 2 && !std::filesystem::is_directory(a.targets[0])) {
    first = a.targets[0];
    second = a.targets[1];
  } else if (a.targets.size() == 3) {
    snapshot::SnapshotRegistry registry = existing_registry(a.targets[0]);
    first = snapshot::resolve(registry, snapshot::parse_model_reference(a.targets[1])).path;
    second = snapshot::resolve(registry, snapshot::parse_model_reference(a.targets[2])).path;
  } else {
    throw ConfigError("usage: sluice snapshots diff REGISTRY NAME@A NAME@B | A.h5 B.h5 [--json]");
  }
  const snapshot::SnapshotDiff d = snapshot::diff_snapshots(first, second);
  if (a.is_json) {
    fmt::print("{}\n", snapshot::to_json(d).dump(2));
    return 0;
  }
  fmt::print("a: {}\nb: {}\n", first.string(), second.string());
  print_changes("parameters", d.parameters);
  print_changes("hyper-parameters", d.hyper_parameters);
  print_changes("metrics", d.metrics);
  print_changes("pipeline", d.pipeline);
  fmt::print("partitions ({} changed, {} unchanged)\n", d.partitions.size(), d.num_partitions_unchanged);
  for (const auto& p : d.partitions) {
    if (p.change == "added") {
      fmt::print("  + {:<40} rows={} checksum={}\n", p.path, p.rows_after, p.checksum_after);
    } else if (p.change == "removed") {
      fmt::print("  - {:<40} rows={} checksum={}\n", p.path, p.rows_before, p.checksum_before);
    } else {
      fmt::print("  ~ {:<40} rows={} -> {} checksum={} -> {}\n", p.path, p.rows_before, p.rows_after,
                 p.checksum_before, p.checksum_after);
    }
  }
  return 0;
}

// Registers a verb whose arguments live as long as the program.
CLI::App* verb(CLI::App& parent, const char* name, const char* help, int (*run)(const GovernanceArguments&),
               const std::shared_ptr<GovernanceArguments>& a, Command& selected) {
  CLI::App* sub = parent.add_subcommand(name, help);
  sub->callback([a, run, &selected] {
    selected.local = [a, run] { return run(*a); };
  });
  return sub;
}

} // namespace

void add_governance_subcommands(CLI::App& snapshots, Command& selected) {
  CLI::App* alias = snapshots.add_subcommand("alias", "Name versions: alias set|rm|list");
  alias->require_subcommand(1);
  {
    auto a = std::make_shared<GovernanceArguments>();
    CLI::App* sub = verb(*alias, "set", "Point ALIAS at VERSION: REGISTRY NAME ALIAS VERSION", alias_set, a, selected);
    sub->add_option("registry", a->registry, "Registry directory")->required();
    sub->add_option("name", a->name, "Model name")->required();
    sub->add_option("alias", a->alias, "Alias name")->required();
    sub->add_option("version", a->version, "Version number")->required();
    sub->add_option("--reason", a->reason, "Why, recorded in the history");
  }
  {
    auto a = std::make_shared<GovernanceArguments>();
    CLI::App* sub = verb(*alias, "rm", "Remove ALIAS: REGISTRY NAME ALIAS", alias_remove, a, selected);
    sub->add_option("registry", a->registry, "Registry directory")->required();
    sub->add_option("name", a->name, "Model name")->required();
    sub->add_option("alias", a->alias, "Alias name")->required();
    sub->add_option("--reason", a->reason, "Why, recorded in the history");
  }
  {
    auto a = std::make_shared<GovernanceArguments>();
    CLI::App* sub = verb(*alias, "list", "CURRENT and every alias: REGISTRY NAME", alias_list, a, selected);
    sub->add_option("registry", a->registry, "Registry directory")->required();
    sub->add_option("name", a->name, "Model name")->required();
  }
  {
    auto a = std::make_shared<GovernanceArguments>();
    CLI::App* sub = verb(snapshots, "rollback", "Move CURRENT (or --alias) back to the version it named before",
                         rollback, a, selected);
    sub->add_option("registry", a->registry, "Registry directory")->required();
    sub->add_option("name", a->name, "Model name")->required();
    sub->add_option("--alias", a->alias, "Roll back this alias instead of CURRENT");
    sub->add_option("--reason", a->reason, "Why, recorded in the history");
  }
  {
    auto a = std::make_shared<GovernanceArguments>();
    CLI::App* sub = verb(snapshots, "gc", "Remove old versions, never one CURRENT or an alias names",
                         collect_garbage, a, selected);
    sub->add_option("registry", a->registry, "Registry directory")->required();
    sub->add_option("name", a->name, "Model name")->required();
    sub->add_option("--keep", a->keep, "Newest versions to keep (at least 1)")->required();
    sub->add_option("--reason", a->reason, "Why, recorded in the history");
  }
  {
    auto a = std::make_shared<GovernanceArguments>();
    CLI::App* sub = verb(snapshots, "verify", "Check every snapshot's checksum and every pointer: REGISTRY [NAME]",
                         verify, a, selected);
    sub->add_option("registry", a->registry, "Registry directory")->required();
    sub->add_option("name", a->name, "Only this model");
  }
  {
    auto a = std::make_shared<GovernanceArguments>();
    CLI::App* sub = verb(snapshots, "history", "Every recorded move of CURRENT and the aliases: REGISTRY NAME",
                         history, a, selected);
    sub->add_option("registry", a->registry, "Registry directory")->required();
    sub->add_option("name", a->name, "Model name")->required();
    sub->add_flag("--json", a->is_json, "One JSON object per line");
  }
  {
    auto a = std::make_shared<GovernanceArguments>();
    CLI::App* sub = verb(snapshots, "diff", "Compare two snapshots: REGISTRY NAME@A NAME@B | A.h5 B.h5",
                         diff, a, selected);
    sub->add_option("targets", a->targets, "Registry and two references, or two files")->required();
    sub->add_flag("--json", a->is_json, "Print the differences as JSON");
  }
}

} // namespace sluice::app
