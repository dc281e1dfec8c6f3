// sluice run JOB.toml: the batch flow from lake to published snapshot.
#include "commands.hpp"
#include "partition_check_process.hpp"
#include "test_kill_point.hpp"

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
  bool is_cache_off = false;
  std::int64_t test_block_delay_ms = 0;
  int test_slow_rank = -1;
  std::string test_kill_at;
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
       .use_partial_cache = !arguments.is_cache_off,
       .stop_requested = &install_stop_handlers(),
       .test_block_delay_ms = arguments.test_block_delay_ms,
       .test_slow_rank = arguments.test_slow_rank,
       .fault_point = make_kill_point(arguments.test_kill_at, comm.rank()),
       .check_partition = make_partition_checker()});
  if (comm.is_root()) {
    const double rate = result.seconds > 0 ? static_cast<double>(result.num_rows) / result.seconds : 0;
    if (arguments.is_dry_run) {
      fmt::print("fitted (dry run, nothing published): {}\n", format_metrics(result.metrics));
    } else if (result.gate && !result.gate->is_accepted) {
      fmt::print("not published: gate {}\n", result.gate->summary);
    } else {
      if (result.gate) fmt::print("gate {}\n", result.gate->summary);
      if (result.warm_start_version > 0) {
        fmt::print("warm start from version {}\n", result.warm_start_version);
      }
      fmt::print("published {} (version {})\n", result.snapshot_path.string(), result.version);
    }
    fmt::print("rows={} partitions={} read={} cached={} ranks={} passes={} seconds={:.3f} "
               "rows_per_s={:.0f}\n",
               result.num_rows, result.num_partitions, result.num_read_partitions,
               result.num_cached_partitions, comm.size(), result.num_passes, result.seconds, rate);
    fmt::print("metrics: {}\n", format_metrics(result.metrics));
  }
  // A Slurm script tells "the challenger lost" from success and from failure by this code.
  return result.gate && !result.gate->is_accepted ? exit_gate_rejected : 0;
}

} // namespace

void add_run_command(CLI::App& app, Command& selected) {
  auto arguments = std::make_shared<RunArguments>();
  CLI::App* command = app.add_subcommand("run", "Run a job: read the lake, fit, publish a snapshot");
  command->add_option("job", arguments->job_file, "Job file (TOML)")->required();
  command->add_option("--threads", arguments->threads, "OpenMP threads per rank (overrides the job)")
      ->check(CLI::Range(1, 4096));
  command->add_flag("--dry-run", arguments->is_dry_run, "Fit and report, publish nothing");
  command->add_flag("--no-cache", arguments->is_cache_off,
                    "Read every partition: neither use nor fill the partial cache");
  command->add_option("--test-block-delay-ms", arguments->test_block_delay_ms,
                      "Testing only: pause between blocks (fault-injection tests)")
      ->check(CLI::Range(0, 10000))
      ->group(""); // hidden from --help
  command->add_option("--test-slow-rank", arguments->test_slow_rank,
                      "Testing only: only this rank pauses between blocks (a slow node)")
      ->check(CLI::Range(0, 1 << 20))
      ->group("");
  command->add_option("--test-kill-at", arguments->test_kill_at,
                      "Testing only: SIGKILL a rank at POINT[:RANK[:NTH]] (fault-injection tests)")
      ->check([](const std::string& spec) {
        try {
          make_kill_point(spec, 0); // every rank parses alike, so a bad spec ends all of them
          return std::string();
        } catch (const Error& error) {
          return std::string(error.what());
        }
      })
      ->group("");
  command->callback([arguments, &selected] {
    selected.collective = [arguments](const mpi::Communicator& comm) { return run(comm, *arguments); };
  });
}

} // namespace sluice::app
