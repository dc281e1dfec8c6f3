// sluice run JOB.toml: the batch flow from lake to published snapshot.
#include "commands.hpp"

#include "sluice/coordinator/run_job.hpp"
#include "sluice/job/job_spec.hpp"
#include "sluice/schedule/collective.hpp"

#include <fmt/format.h>


namespace sluice::app {
namespace {

struct RunArguments {
  std::string job_file;
  int threads = 0;
  bool is_dry_run = false;
  std::int64_t test_block_delay_ms = 0;
};

std::string format_metrics(const model::Metrics& metrics) {
  std::string text;
  for (const auto& [name, value] : metrics) {
    text += fmt::format("{}{}={:.6g}", text.empty() ? "" : " ", name, value);
  }
  return text;
}

int run(const mpi::Communicator& comm, const RunArguments& arguments) {
  job::JobSpec job = load_job_everywhere(comm, arguments.job_file);
  coordinator::RunResult result = coordinator::run_job(
      comm, job,
      {.threads = arguments.threads,
       .is_publishing = !arguments.is_dry_run,
       .stop_requested = &install_stop_handlers(),
       .test_block_delay_ms = arguments.test_block_delay_ms});
  if (comm.is_root()) {
    const double rate = result.seconds > 0 ? static_cast<double>(result.num_rows) / result.seconds : 0;
    if (arguments.is_dry_run) {
      fmt::print("fitted (dry run, nothing published): {}\n", format_metrics(result.metrics));
    } else {
      fmt::print("published {} (version {})\n", result.snapshot_path.string(), result.version);
    }
    fmt::print("rows={} partitions={} resumed={} ranks={} passes={} seconds={:.3f} rows_per_s={:.0f}\n",
               result.num_rows, result.num_partitions, result.num_resumed_partitions, comm.size(),
               result.num_passes, result.seconds, rate);
    fmt::print("metrics: {}\n", format_metrics(result.metrics));
  }
  return 0;
}

} // namespace

void add_run_command(CLI::App& app, Command& selected) {
  auto arguments = std::make_shared<RunArguments>();
  CLI::App* command = app.add_subcommand("run", "Run a job: read the lake, fit, publish a snapshot");
  command->add_option("job", arguments->job_file, "Job file (TOML)")->required();
  command->add_option("--threads", arguments->threads, "OpenMP threads per rank (overrides the job)")
      ->check(CLI::Range(1, 4096));
  command->add_flag("--dry-run", arguments->is_dry_run, "Fit and report, publish nothing");
  command->add_option("--test-block-delay-ms", arguments->test_block_delay_ms,
                      "Testing only: pause between blocks (fault-injection tests)")
      ->check(CLI::Range(0, 10000))
      ->group(""); // hidden from --help
  command->callback([arguments, &selected] {
    selected = [arguments](const mpi::Communicator& comm) { return run(comm, *arguments); };
  });
}

} // namespace sluice::app
