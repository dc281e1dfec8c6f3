// Bad input at N ranks: one agreed error on every rank, naming the culprit; registry untouched.
#include "sluice/coordinator/run_job.hpp"

#include "synthetic_job.hpp"
#include "temp_dir.hpp"

#include "sluice/hdf5/dataset.hpp"
#include "sluice/hdf5/file.hpp"
#include "sluice/snapshot/registry.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <limits>

using namespace sluice;
using testing_support::TempDir;

namespace {

mpi::Communicator world() { return mpi::Communicator::borrow(MPI_COMM_WORLD); }

struct Fixture {
  explicit Fixture(const mpi::Communicator& comm) : dir(comm) {
    options = {.root = dir / "lake", .num_partitions = 5, .rows_per_partition = 400,
               .num_features = 3, .seed = 2};
    testing_support::write_lake(comm, options);
    coordinator::run_job(comm, job()); // version 1 is current before every bad run
  }
  job::JobSpec job(const std::string& model = "alpha = 0.5", const std::string& lake = "block_rows = 100") const {
    return testing_support::make_job(dir.path(), testing_support::job_text(3, "m", model, lake));
  }
  // Runs the job expecting an agreed failure; returns its message (the same on every rank).
  std::string failure(const mpi::Communicator& comm, const job::JobSpec& bad) const {
    std::string message = "no error";
    try {
      coordinator::run_job(comm, bad);
    } catch (const schedule::AgreedError& error) {
      message = error.what();
    }
    snapshot::SnapshotRegistry registry(dir / "registry");
    EXPECT_EQ(registry.current_version("m"), 1) << message;
    EXPECT_EQ(registry.versions("m"), std::vector<std::int64_t>{1}) << message;
    return message;
  }
  // Rank 0 replaces partition 3 using write(file); the others wait.
  template <typename Write>
  void replace_partition(const mpi::Communicator& comm, Write write) const {
    if (comm.is_root()) {
      auto path = options.root / lake::synthetic_partition_path(options, 3);
      std::filesystem::remove(path);
      write(path);
    }
    comm.barrier();
  }
  TempDir dir;
  lake::SyntheticLakeOptions options;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST(RunJobErrorsMpiTest, missing_lake_and_empty_selection) {
  auto comm = world();
  Fixture f(comm);
  auto job = f.job();
  job.lake.root = f.dir / "nowhere";
  EXPECT_TRUE(contains(f.failure(comm, job), "nowhere\" does not exist"));
  job = f.job();
  job.lake.selection = {{"day", {"1999-01-01"}}};
  EXPECT_TRUE(contains(f.failure(comm, job), "match glob '**/*.h5' with day in [1999-01-01]"));
}

TEST(RunJobErrorsMpiTest, missing_column_names_partition_and_column) {
  auto comm = world();
  Fixture f(comm);
  auto job = f.job();
  job.model.features.push_back("x99");
  std::string message = f.failure(comm, job);
  EXPECT_TRUE(contains(message, "missing column '/x99'")) << message;
  EXPECT_TRUE(contains(message, "part-00000.h5")) << message; // the first partition, on any rank count
}

TEST(RunJobErrorsMpiTest, truncated_and_foreign_partitions_are_named) {
  auto comm = world();
  Fixture f(comm);
  f.replace_partition(comm, [](const std::filesystem::path& path) { std::ofstream(path) << "garbage"; });
  std::string message = f.failure(comm, f.job());
  EXPECT_TRUE(contains(message, "part-00003.h5")) << message;
  EXPECT_TRUE(contains(message, "not a readable HDF5 file")) << message;
}

TEST(RunJobErrorsMpiTest, nonfinite_values_are_counted_and_located) {
  auto comm = world();
  Fixture f(comm);
  f.replace_partition(comm, [](const std::filesystem::path& path) {
    auto file = hdf5::File::create(path);
    std::vector<double> column(300, 1.0);
    for (const char* name : {"x00", "x01", "y"}) hdf5::write_doubles(file.id(), name, column);
    column[17] = std::numeric_limits<double>::quiet_NaN();
    column[250] = -std::numeric_limits<double>::infinity();
    hdf5::write_doubles(file.id(), "x02", column);
  });
  std::string message = f.failure(comm, f.job());
  EXPECT_TRUE(contains(message, "found 2 NaN/Inf values")) << message;
  EXPECT_TRUE(contains(message, "part-00003.h5, column 'x02', row 17")) << message;
}

TEST(RunJobErrorsMpiTest, singular_least_squares_is_refused) {
  auto comm = world();
  Fixture f(comm);
  // Every partition gains x00_copy, an exact copy of x00: OLS on both has no unique solution.
  if (comm.is_root()) {
    for (std::int64_t i = 0; i < f.options.num_partitions; ++i) {
      auto path = f.options.root / lake::synthetic_partition_path(f.options, i);
      hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
      hdf5::write_doubles(file, "x00_copy", hdf5::read_doubles(file, "x00"));
      H5Fclose(file);
    }
  }
  comm.barrier();
  auto job = testing_support::make_job(
      f.dir.path(), "[lake]\npath = \"lake\"\n[model]\nkind = \"ols\"\n"
                    "features = [\"x00\", \"x00_copy\"]\nlabel = \"y\"\n"
                    "[publish]\nregistry = \"registry\"\nname = \"m\"\n");
  std::string message = f.failure(comm, job);
  EXPECT_TRUE(contains(message, "singular")) << message;
}

// A finite but huge value (1e200: its square overflows) is refused like NaN, in the same words,
// before anything is published; under "skip" its partition is left out instead.
TEST(RunJobErrorsMpiTest, huge_values_are_refused_like_nonfinite_ones) {
  auto comm = world();
  Fixture f(comm);
  f.replace_partition(comm, [](const std::filesystem::path& path) {
    auto file = hdf5::File::create(path);
    std::vector<double> column(300, 1.0);
    for (const char* name : {"x00", "x01", "x02"}) hdf5::write_doubles(file.id(), name, column);
    column[42] = 1e200;
    hdf5::write_doubles(file.id(), "y", column);
  });
  std::string message = f.failure(comm, f.job());
  EXPECT_TRUE(contains(message, "found 1 NaN/Inf values (or beyond ±1e100)")) << message;
  EXPECT_TRUE(contains(message, "part-00003.h5, column 'y', row 42")) << message;
  // Dropping the row instead gives a finite model from the other 299 rows of that partition.
  auto result = coordinator::run_job(comm, f.job("alpha = 0.5", "on_nonfinite = \"drop_rows\""));
  EXPECT_EQ(result.num_rows, 4 * 400 + 299);
}

// A registry that cannot take the snapshot fails before the lake is read, with the kind's code.
TEST(RunJobErrorsMpiTest, unusable_registry_fails_before_reading) {
  auto comm = world();
  Fixture f(comm);
  job::JobSpec bad = f.job();
  bad.publish.registry = f.dir / "registry-file";
  if (comm.is_root()) std::ofstream(bad.publish.registry) << "not a directory";
  comm.barrier();
  std::string message = "no error";
  ErrorKind kind = ErrorKind::internal;
  try {
    coordinator::run_job(comm, bad);
  } catch (const schedule::AgreedError& error) {
    message = error.what();
    kind = error.kind();
  }
  EXPECT_TRUE(contains(message, "registry-file\" is not a directory")) << message;
  EXPECT_EQ(kind, ErrorKind::configuration);
  bad.publish.registry = f.dir / "registry-file" / "below";
  try {
    coordinator::run_job(comm, bad);
  } catch (const schedule::AgreedError& error) {
    message = error.what();
    kind = error.kind();
  }
  EXPECT_TRUE(contains(message, "cannot create")) << message;
  EXPECT_EQ(kind, ErrorKind::io);
}
