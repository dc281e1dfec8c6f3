// [lake] isolate at N ranks: what the run does with each verdict of the partition checker (a
// stand-in here; `sluice run` starts a process), under both bad-partition policies.
#include "sluice/coordinator/run_job.hpp"

#include "synthetic_job.hpp"
#include "temp_dir.hpp"

#include "sluice/snapshot/registry.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>

using namespace sluice;
using coordinator::PartitionCheckRequest;
using coordinator::PartitionCheckResult;
using testing_support::TempDir;

namespace {

mpi::Communicator world() { return mpi::Communicator::borrow(MPI_COMM_WORLD); }

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

struct Fixture {
  explicit Fixture(const mpi::Communicator& comm) : dir(comm) {
    options = {.root = dir / "lake", .num_partitions = 5, .rows_per_partition = 400,
               .num_features = 3, .seed = 4};
    testing_support::write_lake(comm, options);
    coordinator::run_job(comm, job("")); // version 1, without isolation
    // Partition 3 is not HDF5 at all: had the run opened it, the message would say so.
    if (comm.is_root()) std::ofstream(options.root / lake::synthetic_partition_path(options, 3)) << "x";
    comm.barrier();
  }
  job::JobSpec job(const std::string& lake) const {
    return testing_support::make_job(
        dir.path(), testing_support::job_text(3, "m", "alpha = 0.5", "block_rows = 100\n" + lake));
  }
  TempDir dir;
  lake::SyntheticLakeOptions options;
};

// Partition 3 crashes libhdf5 in the check; every other one passes. Counts the checks made on
// this rank and remembers what was asked.
struct FakeChecker {
  int* num_checks;
  PartitionCheckRequest* last;
  PartitionCheckResult operator()(const PartitionCheckRequest& request) const {
    ++*num_checks;
    *last = request;
    if (contains(request.path.string(), "part-00003.h5")) {
      return {.status = PartitionCheckResult::Status::signalled, .signal = SIGSEGV};
    }
    return {.status = PartitionCheckResult::Status::passed};
  }
};

std::int64_t sum(const mpi::Communicator& comm, std::int64_t value) {
  std::int64_t total = 0;
  MPI_Allreduce(&value, &total, 1, MPI_INT64_T, MPI_SUM, comm.native());
  return total;
}

} // namespace

TEST(IsolatedCheckMpiTest, error_mode_refuses_the_crashing_partition_without_opening_it) {
  auto comm = world();
  Fixture f(comm);
  int num_checks = 0;
  PartitionCheckRequest last;
  coordinator::RunOptions options;
  options.check_partition = FakeChecker{&num_checks, &last};
  std::string message = "no error";
  ErrorKind kind = ErrorKind::internal;
  try {
    coordinator::run_job(comm, f.job("isolate = true\nisolate_timeout_s = 7"), options);
  } catch (const schedule::AgreedError& error) {
    message = error.what();
    kind = error.kind();
  }
  EXPECT_TRUE(contains(message, "part-00003.h5\": libhdf5 crashed (SIGSEGV) while checking it in "
                                "an isolated process")) << message;
  EXPECT_FALSE(contains(message, "not a readable HDF5 file")) << message;
  EXPECT_EQ(kind, ErrorKind::data);
  snapshot::SnapshotRegistry registry(f.dir / "registry");
  EXPECT_EQ(registry.versions("m"), std::vector<std::int64_t>{1});
  if (num_checks > 0) { // what the run asks the checker for
    EXPECT_EQ(last.columns, (std::vector<std::string>{"x00", "x01", "x02", "y"}));
    EXPECT_EQ(last.block_rows, 100);
    EXPECT_EQ(last.timeout_s, 7.0);
    // Automatic: 1 GiB + 2 blocks of 4 columns + 4 chunks of lake.max_chunk_bytes.
    EXPECT_EQ(last.memory_bytes, (std::int64_t{1} << 30) + 2 * 100 * 4 * 8 + 4 * (8 << 20));
  }
}

TEST(IsolatedCheckMpiTest, skip_mode_leaves_it_out_and_checks_each_partition_once) {
  auto comm = world();
  Fixture f(comm);
  int num_checks = 0;
  PartitionCheckRequest last;
  coordinator::RunOptions options;
  options.use_partial_cache = false; // cached partitions are not read, so not checked either
  options.check_partition = FakeChecker{&num_checks, &last};
  const coordinator::RunResult result = coordinator::run_job(
      comm, f.job("isolate = true\non_bad_partition = \"skip\""), options);
  EXPECT_EQ(result.num_rows, 4 * 400);
  EXPECT_EQ(result.version, 2);
  // The first pass only, one check per partition, on whichever rank reads it.
  EXPECT_EQ(sum(comm, num_checks), 5);
}

TEST(IsolatedCheckMpiTest, isolation_without_a_checker_is_a_configuration_error) {
  auto comm = world();
  Fixture f(comm);
  std::string message = "no error";
  ErrorKind kind = ErrorKind::internal;
  try {
    coordinator::run_job(comm, f.job("isolate = true\non_bad_partition = \"skip\""));
  } catch (const schedule::AgreedError& error) {
    message = error.what();
    kind = error.kind();
  }
  EXPECT_TRUE(contains(message, "lake.isolate = true, but this program cannot start isolated "
                                "checks")) << message;
  EXPECT_EQ(kind, ErrorKind::configuration);
}

TEST(IsolatedCheckMpiTest, failed_checks_are_described_by_signal_or_limit) {
  const PartitionCheckRequest request{.path = "/lake/p.h5", .memory_bytes = 1 << 30,
                                      .timeout_s = 30};
  using Status = PartitionCheckResult::Status;
  EXPECT_EQ(coordinator::describe_failed_check(request, {.status = Status::signalled,
                                                         .signal = SIGBUS}),
            "partition \"/lake/p.h5\": libhdf5 crashed (SIGBUS) while checking it in an isolated "
            "process (a crafted or corrupt file; limits: 1073741824 bytes of address space, 30 s); "
            "the partition is refused, and this process never opens it");
  EXPECT_TRUE(contains(coordinator::describe_failed_check(
                           request, {.status = Status::signalled, .signal = SIGXCPU}),
                       "used more than its CPU-time limit of 30 s (RLIMIT_CPU"));
  EXPECT_TRUE(contains(coordinator::describe_failed_check(request, {.status = Status::timed_out}),
                       "did not finish within 30 s (lake.isolate_timeout_s)"));
  EXPECT_EQ(coordinator::describe_failed_check(
                request, {.status = Status::refused, .message = "partition x: bad"}),
            "partition x: bad");
}
