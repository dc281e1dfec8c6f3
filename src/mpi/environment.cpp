// MPI initialisation and finalisation.
#include "sluice/mpi/environment.hpp"

#include "sluice/mpi/error.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <cstdlib>

namespace sluice::mpi {

Environment::Environment(int& argc, char**& argv) {
  int provided = 0;
  // Only the main thread makes MPI calls; OpenMP threads do arithmetic only.
  SLUICE_MPI_CHECK(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided));
  SLUICE_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  // Ranks read with several OpenMP threads while the main thread talks MPI: a library that only
  // offers MPI_THREAD_SINGLE would make that undefined.
  if (provided < MPI_THREAD_FUNNELED) {
    throw sluice::Error(fmt::format("the MPI library provides thread level {}, Sluice needs "
                            "MPI_THREAD_FUNNELED ({})",
                            provided, MPI_THREAD_FUNNELED));
  }
}

Environment::~Environment() {
  int is_finalized = 0;
  MPI_Finalized(&is_finalized);
  if (!is_finalized) MPI_Finalize();
}

void Environment::abort(int exit_code) noexcept {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

} // namespace sluice::mpi
