// sluice: parse the command line, start MPI, run one subcommand, turn failures into exit codes.
#include "commands.hpp"

#include "sluice/coordinator/run_job.hpp"
#include "sluice/log.hpp"
#include "sluice/mpi/environment.hpp"
#include "sluice/schedule/collective.hpp"
#include "sluice/version.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <optional>

namespace sluice::app {

int on_root_only(const mpi::Communicator& comm, const std::function<int()>& fn) {
  std::optional<schedule::LocalFailure> failure;
  int code = 0;
  if (comm.is_root()) {
    try {
      code = fn();
    } catch (const std::exception& error) {
      failure = schedule::LocalFailure::of(0, error);
    }
  }
  schedule::raise_if_any_failed(comm, failure);
  return code;
}

namespace {

// True when a launcher (mpirun, srun, mpiexec) started this process as one of a job's ranks: a
// local command then still starts MPI, so that one rank prints rather than each of them.
bool started_by_a_launcher() {
  for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK", "SLURM_STEP_NUM_TASKS"}) {
    if (std::getenv(variable) != nullptr) return true;
  }
  return false;
}

// A local command in a plain process: no MPI, and its failure is printed and mapped to an exit
// code exactly as a collective command's would be.
int run_local(const std::function<int()>& local) {
  try {
    const int status = local();
    std::fflush(stdout);
    return status;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "sluice: error: %s\n", error.what());
    return exit_code_of(kind_of(error));
  }
}

} // namespace

} // namespace sluice::app

int main(int argc, char** argv) {
  using namespace sluice;
  CLI::App app{"Sluice: HDF5 lake -> MPI ranks -> models -> versioned serving snapshots"};
  app.set_version_flag("--version", std::string(version()));
  app.require_subcommand(1);
  bool is_verbose = false;
  app.add_flag("-v,--verbose", is_verbose, "Log debug messages");
  app::Command command;
  app::add_run_command(app, command);
  app::add_gen_command(app, command);
  app::add_inspect_command(app, command);
  app::add_snapshots_command(app, command);
  app::add_report_command(app, command);
  app::add_predict_command(app, command);
  app::add_drift_command(app, command);
  app::add_transform_command(app, command);
  app::add_serve_command(app, command);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error); // every rank parses the same arguments, so all leave alike
  }

  if (command.local) {
    if (!app::started_by_a_launcher()) {
      configure_logging(0, is_verbose);
      return app::run_local(command.local);
    }
    command.collective = [local = command.local](const mpi::Communicator& comm) {
      return app::on_root_only(comm, local);
    };
  }

  mpi::Environment environment(argc, argv);
  mpi::Communicator world = mpi::Communicator::borrow(MPI_COMM_WORLD);
  configure_logging(world.rank(), is_verbose);
  try {
    const int status = command.collective(world);
    // Before MPI_Finalize, which also ends libhdf5: should that crash on the state a hostile
    // file left behind, what the command printed (e.g. "published …") is already out.
    std::fflush(stdout);
    return status;
  } catch (const coordinator::StoppedError& stopped) {
    if (world.is_root()) std::fprintf(stderr, "sluice: %s\n", stopped.what());
    return app::exit_stopped;
  } catch (const schedule::AgreedError& error) {
    // Every rank holds this same error: report it once and end normally.
    if (world.is_root()) std::fprintf(stderr, "sluice: error: %s\n", error.what());
    return exit_code_of(error.kind());
  } catch (const std::exception& error) {
    // Only this rank knows: the others may be waiting in a collective, so end them all.
    std::fprintf(stderr, "sluice: error: [rank %d] %s\n", world.rank(), error.what());
    std::fflush(stderr);
    mpi::Environment::abort(exit_code_of(kind_of(error)));
  }
}
