// sluice snapshots list|show: read the registry and the snapshots in it.
#include "commands.hpp"

#include "sluice/error.hpp"
#include "sluice/model/parameter_map.hpp"
#include "sluice/snapshot/registry.hpp"
#include "sluice/snapshot/snapshot.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace sluice::app {
namespace {

struct SnapshotsArguments {
  std::vector<std::string> targets;
};

int list(const SnapshotsArguments& a) {
  if (a.targets.empty() || a.targets.size() > 2) {
    throw ConfigError("usage: sluice snapshots list REGISTRY [NAME]");
  }
  snapshot::SnapshotRegistry registry(a.targets[0]);
  if (!std::filesystem::is_directory(registry.root())) {
    throw ConfigError(fmt::format("registry {} is not a directory", registry.root().string()));
  }
  std::vector<std::string> names =
      a.targets.size() == 2 ? std::vector<std::string>{a.targets[1]} : registry.model_names();
  fmt::print("{:<20} {:>8} {:>3} {:<10} {:<20} {:>12}  {}\n", "model", "version", "", "kind",
             "created", "rows", "metrics");
  for (const std::string& name : names) {
    auto current = registry.current_version(name);
    for (std::int64_t version : registry.versions(name)) {
      snapshot::Snapshot s = snapshot::read_snapshot(registry.snapshot_path(name, version));
      std::string metrics;
      for (const auto& [metric, value] : s.metrics) {
        if (metric != "num_rows") metrics += fmt::format("{}{}={:.6g}", metrics.empty() ? "" : " ", metric, value);
      }
      fmt::print("{:<20} {:>8} {:>3} {:<10} {:<20} {:>12}  {}\n", name, version,
                 current == version ? "*" : "", s.model_kind, s.created_utc, s.num_rows, metrics);
    }
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
    throw ConfigError(fmt::format("usage: sluice {} FILE.h5 | REGISTRY NAME [VERSION]", verb));
  }
  snapshot::SnapshotRegistry registry(targets[0]);
  std::optional<std::int64_t> version;
  if (targets.size() == 3) {
    try {
      version = std::stoll(targets[2]);
    } catch (const std::exception&) {
      throw ConfigError(fmt::format("version '{}' is not a number", targets[2]));
    }
  } else {
    version = registry.current_version(targets[1]);
    if (!version) throw ConfigError(fmt::format("model '{}' has no current version", targets[1]));
  }
  return registry.snapshot_path(targets[1], *version);
}

void add_snapshots_command(CLI::App& app, Command& selected) {
  CLI::App* command = app.add_subcommand("snapshots", "List and show published snapshots");
  command->require_subcommand(1);
  for (const char* verb : {"list", "show"}) {
    auto a = std::make_shared<SnapshotsArguments>();
    CLI::App* sub = command->add_subcommand(
        verb, std::string(verb) == "list" ? "List versions: REGISTRY [NAME]"
                                          : "Show one snapshot: FILE.h5 | REGISTRY NAME [VERSION]");
    sub->add_option("targets", a->targets, "Registry, model name, version or file")->required();
    const bool is_list = std::string(verb) == "list";
    sub->callback([a, is_list, &selected] {
      selected = [a, is_list](const mpi::Communicator& comm) {
        return on_root_only(comm, [&] { return is_list ? list(*a) : show(*a); });
      };
    });
  }
}

} // namespace sluice::app
