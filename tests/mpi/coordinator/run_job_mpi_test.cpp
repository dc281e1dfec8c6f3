// run_job at N ranks: equals a dense solve to 1e-10, and the serial fold to the last bit.
#include "sluice/coordinator/run_job.hpp"

#include "dense_reference.hpp"
#include "synthetic_job.hpp"
#include "temp_dir.hpp"

#include "sluice/lake/catalog.hpp"
#include "sluice/lake/partition_reader.hpp"
#include "sluice/model/block_accumulator.hpp"
#include "sluice/snapshot/registry.hpp"
#include "sluice/snapshot/snapshot.hpp"

#include <gtest/gtest.h>

using namespace sluice;
using testing_support::TempDir;

namespace {

mpi::Communicator world() { return mpi::Communicator::borrow(MPI_COMM_WORLD); }

// The statistics as one process would fold them: partitions in order, blocks in order.
model::RidgeFit serial_fit(const job::JobSpec& job) {
  auto partitions = lake::discover_partitions({.root = job.lake.root});
  const auto k = static_cast<Eigen::Index>(job.columns().size());
  model::SufficientStats total = model::SufficientStats::empty(k);
  for (const auto& partition : partitions) {
    lake::PartitionReader reader(partition.path, "/", job.columns());
    model::BlockAccumulator accumulator(k, {});
    const std::int64_t block_rows = std::min(job.lake.block_rows, reader.num_rows());
    std::vector<double> buffer(static_cast<std::size_t>(block_rows * k));
    for (std::int64_t row = 0; row < reader.num_rows(); row += block_rows) {
      const std::int64_t count = std::min(block_rows, reader.num_rows() - row);
      reader.read_block(row, count, buffer.data(), block_rows);
      accumulator.add_block(buffer.data(), block_rows, count);
    }
    total.merge(accumulator.stats());
  }
  return model::RidgeTrainer({.alpha = job.model.alpha}).fit(total);
}

} // namespace

TEST(RunJobMpiTest, run_matches_dense_solve_and_serial_fold_bitwise) {
  auto comm = world();
  TempDir dir(comm);
  lake::SyntheticLakeOptions options{.root = dir / "lake", .num_partitions = 7,
                                     .rows_per_partition = 3000, .num_features = 6, .seed = 11,
                                     .skew = 1.0, .storage = {.chunk_rows = 700, .deflate_level = 1}};
  testing_support::write_lake(comm, options);
  job::JobSpec job = testing_support::make_job(dir.path(), testing_support::job_text(6, "m"));
  coordinator::RunResult result = coordinator::run_job(comm, job);

  EXPECT_EQ(result.num_rows, 21000);
  EXPECT_EQ(result.version, 1);
  if (comm.is_root()) {
    auto partitions = lake::discover_partitions({.root = job.lake.root});
    auto dense = testing_support::load_dense(partitions, job.columns());
    Eigen::VectorXd reference = testing_support::dense_ridge(dense, 0.5);
    // Tolerance: 1e-10 relative, far above the ~1e-14 rounding of either method.
    EXPECT_LT((result.fit.coefficients - reference.head(6)).norm() / reference.head(6).norm(), 1e-10);
    EXPECT_NEAR(result.fit.intercept, reference(6), 1e-10 * std::abs(reference(6)));

    model::RidgeFit serial = serial_fit(job);
    EXPECT_EQ(result.fit.coefficients, serial.coefficients) << "bits differ from the 1-process fold";
    EXPECT_EQ(result.fit.intercept, serial.intercept);

    snapshot::Snapshot s = snapshot::read_snapshot(result.snapshot_path);
    EXPECT_EQ(s.coefficients, result.fit.coefficients);
    EXPECT_EQ(s.num_ranks, comm.size());
    EXPECT_EQ(s.partitions.size(), 7u);
    EXPECT_EQ(s.job_text, job.text);
    EXPECT_EQ(snapshot::SnapshotRegistry(job.publish.registry).current_version("m"), 1);
  }
  // Every rank holds the same result.
  double intercept = result.fit.intercept;
  EXPECT_EQ(comm.max(intercept), intercept);
}

TEST(RunJobMpiTest, run_with_more_ranks_than_partitions_and_threads_keeps_bits) {
  auto comm = world();
  TempDir dir(comm);
  lake::SyntheticLakeOptions options{.root = dir / "lake", .num_partitions = 2,
                                     .rows_per_partition = 5000, .num_features = 3, .seed = 5};
  testing_support::write_lake(comm, options);
  job::JobSpec job = testing_support::make_job(dir.path(), testing_support::job_text(3, "m"));
  auto one_thread = coordinator::run_job(comm, job, {.threads = 1});
  auto two_threads = coordinator::run_job(comm, job, {.threads = 2});
  EXPECT_EQ(one_thread.fit.coefficients, two_threads.fit.coefficients);
  EXPECT_EQ(one_thread.fit.intercept, two_threads.fit.intercept);
  EXPECT_EQ(two_threads.version, 2);
  if (comm.is_root()) {
    model::RidgeFit serial = serial_fit(job);
    EXPECT_EQ(one_thread.fit.coefficients, serial.coefficients);
  }
}
