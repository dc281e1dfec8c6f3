// sluice drift: new partitions of a lake against the training profile a snapshot keeps.
#include "commands.hpp"

#include "sluice/error.hpp"
#include "sluice/lake/catalog.hpp"
#include "sluice/lake/partition_reader.hpp"
#include "sluice/snapshot/atomic_file.hpp"
#include "sluice/snapshot/snapshot.hpp"
#include "sluice/transform/drift.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <set>

namespace sluice::app {
namespace {

using Json = nlohmann::json;

struct DriftArguments {
  std::vector<std::string> targets;
  lake::LakeQuery lake;
  std::string group;
  std::vector<std::string> columns;
  bool is_all = false;
  transform::DriftThresholds thresholds;
  std::filesystem::path json;
  std::int64_t block_rows = 65536;
};

Json optional_number(const std::optional<double>& value) { return value ? Json(*value) : Json(); }

int drift(const DriftArguments& a) {
  const std::filesystem::path file = resolve_snapshot(a.targets, "drift");
  const snapshot::Snapshot model = snapshot::read_snapshot(file);
  if (model.profile.empty()) {
    throw ConfigError(fmt::format("{} keeps no training profile (its job set [run] profile = "
                                  "false, or an older Sluice published it); retrain it with the "
                                  "profile to compare drift",
                                  file.string()));
  }
  const std::string group = a.group.empty()
                                ? Json::parse(model.pipeline_json).value("group", std::string("/"))
                                : a.group;
  // New partitions: those the snapshot was not trained on (by path), unless --all.
  std::set<std::string> trained;
  for (const snapshot::PartitionLineage& partition : model.partitions) trained.insert(partition.path);
  std::vector<lake::PartitionInfo> partitions;
  for (lake::PartitionInfo& partition : lake::discover_partitions(a.lake)) {
    if (a.is_all || !trained.contains(partition.relative_path)) partitions.push_back(std::move(partition));
  }
  // Default columns: every profiled column the first new partition holds (new data often has
  // no label yet).
  std::vector<std::string> columns = a.columns;
  if (columns.empty() && !partitions.empty()) {
    const std::vector<std::string> present = lake::column_names(partitions.front().path, group);
    for (const transform::ColumnProfile& column : model.profile.columns) {
      if (std::find(present.begin(), present.end(), column.name) != present.end()) {
        columns.push_back(column.name);
      }
    }
    if (columns.empty()) {
      throw DataError(fmt::format("{} holds none of the profiled columns in group '{}'",
                                  partitions.front().path.string(), group));
    }
  }
  transform::DriftAccumulator accumulator(model.profile, columns);
  std::int64_t num_rows = 0;
  std::vector<double> block;
  for (const lake::PartitionInfo& partition : partitions) {
    lake::PartitionReader reader(partition.path, group, columns);
    const std::int64_t rows = std::min(a.block_rows, std::max<std::int64_t>(reader.num_rows(), 1));
    block.resize(static_cast<std::size_t>(rows) * columns.size());
    for (std::int64_t row = 0; row < reader.num_rows(); row += rows) {
      const std::int64_t count = std::min(rows, reader.num_rows() - row);
      reader.read_block(row, count, block.data(), rows);
      accumulator.add_block(block.data(), rows, count);
    }
    num_rows += reader.num_rows();
  }
  const std::vector<transform::ColumnDrift> result = accumulator.finish(a.thresholds);
  const auto num_drifted = std::count_if(result.begin(), result.end(),
                                         [](const transform::ColumnDrift& c) { return c.is_drifted; });

  fmt::print("drift of {} partitions ({} rows) of {} against {} v{} ({}): {}\n", partitions.size(),
             num_rows, a.lake.root.string(), model.model_name, model.version, file.string(),
             partitions.empty() ? "no new partitions"
             : num_drifted > 0  ? fmt::format("DRIFT in {} of {} columns", num_drifted, result.size())
                                : "no drift");
  if (!partitions.empty()) {
    fmt::print("{:<24} {:>12} {:>12} {:>12} {:>12} {:>10} {:>8}  {}\n", "column", "train_mean",
               "train_std", "new_mean", "new_std", "shift_sd", "psi", "drift");
    for (const transform::ColumnDrift& c : result) {
      fmt::print("{:<24} {:>12.6g} {:>12.6g} {:>12.6g} {:>12.6g} {:>10} {:>8.4f}  {}\n", c.name,
                 c.train_mean, c.train_std, c.mean, c.std,
                 c.mean_shift_sd ? fmt::format("{:.3f}", *c.mean_shift_sd) : std::string("inf"),
                 c.psi, c.is_drifted ? "yes" : "no");
    }
  }
  if (!a.json.empty()) {
    Json report_columns = Json::array();
    for (const transform::ColumnDrift& c : result) {
      report_columns.push_back({{"name", c.name}, {"train_mean", c.train_mean}, {"train_std", c.train_std},
                                {"count", c.count}, {"nonfinite", c.nonfinite}, {"mean", c.mean},
                                {"std", c.std}, {"mean_shift_sd", optional_number(c.mean_shift_sd)},
                                {"psi", c.psi}, {"proportions", c.proportions},
                                {"train_proportions", model.profile.find(c.name)->proportions},
                                {"drift", c.is_drifted}});
    }
    Json paths = Json::array();
    for (const lake::PartitionInfo& partition : partitions) paths.push_back(partition.relative_path);
    const Json report = {{"snapshot", file.string()}, {"model", model.model_name},
                         {"version", model.version}, {"lake", a.lake.root.string()},
                         {"partitions", paths}, {"rows", num_rows},
                         {"thresholds", {{"psi", a.thresholds.psi},
                                         {"mean_shift_sd", a.thresholds.mean_shift_sd}}},
                         {"columns", report_columns}, {"drift", num_drifted > 0}};
    snapshot::write_file_atomically(a.json, report.dump(2) + "\n");
  }
  // A Slurm script retrains on exit 8 (docs/cli.md); 0 means nothing moved.
  return num_drifted > 0 ? exit_drift_found : 0;
}

} // namespace

void add_drift_command(CLI::App& app, Command& selected) {
  auto a = std::make_shared<DriftArguments>();
  CLI::App* command = app.add_subcommand(
      "drift", "Compare new partitions with a snapshot's training profile: FILE.h5 | REGISTRY NAME[@REF]");
  command->add_option("snapshot", a->targets, "Snapshot file, or registry and model reference")->required();
  command->add_option("--lake", a->lake.root, "Lake holding the new partitions")->required();
  command->add_option("--glob", a->lake.glob, "Partition glob");
  command->add_option("--group", a->group, "HDF5 group (default: the one the model was trained on)");
  command->add_option("--columns", a->columns, "Columns to compare (default: every profiled column present)")
      ->delimiter(',');
  command->add_flag("--all", a->is_all, "Every partition, also those the snapshot was trained on");
  command->add_option("--psi-threshold", a->thresholds.psi, "PSI above this is drift")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--shift-threshold", a->thresholds.mean_shift_sd,
                      "|mean shift| in training standard deviations above this is drift")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--json", a->json, "Also write the report as JSON to this file");
  command->add_option("--block-rows", a->block_rows, "Rows per read")->check(CLI::Range(1, 1 << 24));
  command->callback([a, &selected] {
    selected.local = [a] { return drift(*a); };
  });
}

} // namespace sluice::app
