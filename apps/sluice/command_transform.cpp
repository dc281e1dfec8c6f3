// sluice transform JOB.toml: write the job's pipeline output as a curated lake.
#include "commands.hpp"
#include "partition_check_process.hpp"

#include "sluice/coordinator/curate_lake.hpp"

#include <fmt/format.h>

namespace sluice::app {
namespace {

struct TransformArguments {
  std::string job_file;
  std::vector<std::string> snapshot; // FILE.h5 | REGISTRY NAME [VERSION]
  int threads = 0;
};

int transform(const mpi::Communicator& comm, const TransformArguments& arguments) {
  const job::JobSpec job = load_job_everywhere(comm, arguments.job_file);
  coordinator::CurateOptions options;
  if (!arguments.snapshot.empty()) options.snapshot = resolve_snapshot(arguments.snapshot, "transform --snapshot");
  options.run.threads = arguments.threads;
  options.run.stop_requested = &install_stop_handlers();
  options.run.check_partition = make_partition_checker(); // [lake] isolate
  const coordinator::CurateResult result = coordinator::curate_lake(comm, job, options);
  if (comm.is_root()) {
    fmt::print("wrote {} partitions ({} reused, {} skipped) with pipeline {:016x} ({} fit passes): "
               "{} rows in, {} rows out\nmanifest: {}\n",
               result.num_partitions, result.num_reused, result.num_skipped, result.pipeline_hash,
               result.num_fit_passes, result.rows_in, result.rows_out, result.manifest.string());
  }
  return 0;
}

} // namespace

void add_transform_command(CLI::App& app, Command& selected) {
  auto arguments = std::make_shared<TransformArguments>();
  CLI::App* command = app.add_subcommand(
      "transform", "Write the job's pipeline output as a curated lake ([curate] path)");
  command->add_option("job", arguments->job_file, "Job file (TOML) with [[transform]] and [curate]")
      ->required();
  command->add_option("--snapshot", arguments->snapshot,
                      "Apply this snapshot's fitted pipeline (FILE.h5 | REGISTRY NAME [VERSION]) "
                      "instead of fitting the job's")
      ->expected(1, 3);
  command->add_option("--threads", arguments->threads, "OpenMP threads per rank (overrides the job)")
      ->check(CLI::Range(1, 4096));
  command->callback([arguments, &selected] {
    selected.collective = [arguments](const mpi::Communicator& comm) { return transform(comm, *arguments); };
  });
}

} // namespace sluice::app
