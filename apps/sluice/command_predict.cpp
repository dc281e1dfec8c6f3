// sluice predict: score every partition of a lake with a published snapshot.
#include "commands.hpp"

#include "sluice/coordinator/predict_lake.hpp"
#include "sluice/schedule/collective.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sluice::app {
namespace {

struct PredictArguments {
  std::vector<std::string> targets;
  coordinator::PredictOptions options;
  bool is_group_given = false;
};

int predict(const mpi::Communicator& comm, const PredictArguments& a) {
  // Every rank reads the (small) snapshot; failures are agreed on like any other.
  std::optional<schedule::LocalFailure> failure;
  snapshot::Snapshot model;
  std::filesystem::path file;
  try {
    file = resolve_snapshot(a.targets, "predict");
    model = snapshot::read_snapshot(file);
  } catch (const std::exception& error) {
    failure = schedule::LocalFailure::of(0, error);
  }
  schedule::raise_if_any_failed(comm, failure);
  coordinator::PredictOptions options = a.options;
  if (!a.is_group_given) {
    // The group the model was trained on, from its stored pipeline.
    options.group = nlohmann::json::parse(model.pipeline_json).value("group", options.group);
  }
  coordinator::PredictResult result = coordinator::predict_lake(comm, model, options);
  if (comm.is_root()) {
    fmt::print("scored {} rows in {} partitions with {} (version {}) into {}\n", result.num_rows,
               result.num_partitions, file.string(), model.version, a.options.output.string());
  }
  return 0;
}

} // namespace

void add_predict_command(CLI::App& app, Command& selected) {
  auto a = std::make_shared<PredictArguments>();
  CLI::App* command = app.add_subcommand(
      "predict", "Score a lake with a snapshot: FILE.h5 | REGISTRY NAME [VERSION]");
  command->add_option("snapshot", a->targets, "Snapshot file, or registry, name and version")
      ->required();
  command->add_option("--lake", a->options.lake.root, "Lake to score")->required();
  command->add_option("--out", a->options.output, "Directory for the prediction files")->required();
  command->add_option("--glob", a->options.lake.glob, "Partition glob");
  command->add_option("--group", a->options.group,
                      "HDF5 group holding the columns (default: the one the model was trained on)")
      ->each([a](const std::string&) { a->is_group_given = true; });
  command->add_option("--block-rows", a->options.block_rows, "Rows per read")
      ->check(CLI::PositiveNumber);
  command->callback([a, &selected] {
    selected.collective = [a](const mpi::Communicator& comm) { return predict(comm, *a); };
  });
}

} // namespace sluice::app
