// mpi::Environment: initialises MPI for the lifetime of main().
#pragma once

namespace sluice::mpi {

/// Calls MPI_Init_thread on construction and MPI_Finalize on destruction. Construct once, in main.
class Environment {
public:
  Environment(int& argc, char**& argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  /// Ends every rank of MPI_COMM_WORLD with the exit code; for failures the ranks cannot agree on.
  [[noreturn]] static void abort(int exit_code) noexcept;
};

} // namespace sluice::mpi
