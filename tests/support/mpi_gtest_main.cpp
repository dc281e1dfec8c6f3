// main() for MPI tests: GoogleTest under MPI, failures labelled by rank, one agreed exit code.
#include "sluice/log.hpp"
#include "sluice/mpi/environment.hpp"

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <cstdlib>

namespace {

// Ranks other than 0 print only their failures, each labelled with the rank.
class RankFailurePrinter : public testing::EmptyTestEventListener {
public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "%s:%d on rank %d: failure\n%s\n",
                 result.file_name() != nullptr ? result.file_name() : "?", result.line_number(),
                 rank_, result.summary());
  }

private:
  int rank_;
};

} // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  sluice::mpi::Environment environment(argc, argv);
  int rank = 0;
  int size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  sluice::configure_logging(rank, false);
  if (rank != 0) {
    testing::TestEventListeners& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(rank));
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int any_failed = 0;
  MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  // mpirun can exit 0 having run nothing; CTest looks for this line with the rank count.
  const char* expected = std::getenv("SLUICE_EXPECT_RANKS");
  const bool is_expected_size = expected == nullptr || std::atoi(expected) == size;
  if (rank == 0) {
    if (!is_expected_size) std::fprintf(stderr, "ran at %d ranks, expected %s\n", size, expected);
    if (any_failed == 0 && is_expected_size) std::printf("sluice-mpi-test: all passed at %d ranks\n", size);
    std::fflush(stdout);
  }
  return any_failed != 0 || !is_expected_size ? 1 : 0;
}
