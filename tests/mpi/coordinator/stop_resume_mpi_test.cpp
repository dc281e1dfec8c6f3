// Graceful stop at N ranks: finished partitions in the partial cache, nothing published, and a
// resumed run with the same bits.
#include "sluice/coordinator/run_job.hpp"
#include "sluice/model/parameter_map.hpp"

#include "synthetic_job.hpp"
#include "temp_dir.hpp"

#include "sluice/snapshot/registry.hpp"


#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

using namespace sluice;
using testing_support::TempDir;

namespace {

std::vector<std::filesystem::path> cache_entries(const job::JobSpec& job) {
  std::vector<std::filesystem::path> entries;
  if (!std::filesystem::exists(job.cache.root)) return entries;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(job.cache.root)) {
    if (entry.path().extension() == ".partial") entries.push_back(entry.path());
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

// Stops each rank after one partition, then resumes; with 3 threads a rank holding 3 or more
// partitions runs them side by side, one per thread, and must stop and resume the same way.
void stop_then_resume(int threads) {
  auto comm = mpi::Communicator::borrow(MPI_COMM_WORLD);
  TempDir dir(comm);
  lake::SyntheticLakeOptions options{.root = dir / "lake", .num_partitions = 9,
                                     .rows_per_partition = 2000, .num_features = 4, .seed = 3,
                                     .skew = 0.5};
  testing_support::write_lake(comm, options);
  const std::string text = testing_support::job_text(4, "m");
  std::filesystem::create_directories(dir / "other");
  job::JobSpec job = testing_support::make_job(dir.path(), text);
  job::JobSpec reference_job = testing_support::make_job(dir.path(), text);
  reference_job.publish.registry = dir / "reference-registry";
  auto reference = coordinator::run_job(comm, reference_job, {.use_partial_cache = false});

  bool is_stopped = false;
  try {
    coordinator::run_job(comm, job, {.threads = threads, .stop_after_partitions = 1});
  } catch (const coordinator::StoppedError&) {
    is_stopped = true;
  }
  EXPECT_TRUE(is_stopped);
  snapshot::SnapshotRegistry registry(job.publish.registry);
  EXPECT_FALSE(registry.current_version("m"));
  EXPECT_EQ(cache_entries(job).size(), std::min<std::size_t>(comm.size(), 9));

  auto resumed = coordinator::run_job(comm, job, {.threads = threads});
  EXPECT_EQ(resumed.num_cached_partitions, std::min<std::int64_t>(comm.size(), 9));
  EXPECT_EQ(resumed.num_read_partitions, 9 - resumed.num_cached_partitions);
  sluice::model::ParameterMap resumed_parameters, reference_parameters;
  resumed.model->save(resumed_parameters);
  reference.model->save(reference_parameters);
  EXPECT_EQ(resumed_parameters.vector("coefficients"), reference_parameters.vector("coefficients"));
  EXPECT_EQ(resumed_parameters.scalar("intercept"), reference_parameters.scalar("intercept"));
  EXPECT_EQ(registry.current_version("m"), 1);
}

} // namespace

TEST(StopResumeMpiTest, stopped_run_resumes_to_the_same_bits) { stop_then_resume(1); }

TEST(StopResumeMpiTest, stopped_run_with_partitions_on_threads_resumes_to_the_same_bits) {
  stop_then_resume(3);
}

// A damaged cache entry costs a read, never a wrong model or a failed job.
TEST(StopResumeMpiTest, damaged_cache_entries_are_read_again) {
  auto comm = mpi::Communicator::borrow(MPI_COMM_WORLD);
  TempDir dir(comm);
  lake::SyntheticLakeOptions options{.root = dir / "lake", .num_partitions = 3,
                                     .rows_per_partition = 500, .num_features = 2, .seed = 8};
  testing_support::write_lake(comm, options);
  job::JobSpec job = testing_support::make_job(dir.path(), testing_support::job_text(2, "m"));
  const auto first = coordinator::run_job(comm, job);
  ASSERT_EQ(first.num_read_partitions, 3);
  sluice::model::ParameterMap first_parameters;
  first.model->save(first_parameters);
  for (const std::string damage : {"truncate", "garbage", "flip", "empty", "grow"}) {
    if (comm.is_root()) {
      for (const std::filesystem::path& entry : cache_entries(job)) {
        std::ifstream in(entry, std::ios::binary);
        std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        in.close();
        if (damage == "truncate") bytes.resize(bytes.size() - 9);
        if (damage == "garbage") bytes = "{not an entry}";
        if (damage == "flip") bytes[bytes.size() / 3] ^= 0x01;
        if (damage == "empty") bytes.clear();
        if (damage == "grow") bytes += std::string(8, '\0');
        std::ofstream(entry, std::ios::binary | std::ios::trunc) << bytes;
      }
    }
    comm.barrier();
    auto result = coordinator::run_job(comm, job);
    EXPECT_EQ(result.num_cached_partitions, 0) << damage;
    EXPECT_EQ(result.num_read_partitions, 3) << damage;
    EXPECT_EQ(result.num_rows, 1500) << damage;
    sluice::model::ParameterMap parameters;
    result.model->save(parameters);
    EXPECT_EQ(parameters.vector("coefficients"), first_parameters.vector("coefficients")) << damage;
  }
}

// An iterative kind stopped in its first pass resumes from the partial cache to the same centres.
TEST(StopResumeMpiTest, stopped_kmeans_resumes_to_the_same_bits) {
  auto comm = mpi::Communicator::borrow(MPI_COMM_WORLD);
  TempDir dir(comm);
  lake::SyntheticLakeOptions options{.root = dir / "lake", .num_partitions = 9,
                                     .rows_per_partition = 1500, .num_features = 3, .seed = 6};
  testing_support::write_lake(comm, options);
  const std::string text =
      "[lake]\npath = \"lake\"\nblock_rows = 2048\n[model]\nkind = \"kmeans\"\n"
      "features = [\"x00\", \"x01\", \"x02\"]\nk = 4\n"
      "[publish]\nregistry = \"registry\"\nname = \"m\"\n";
  job::JobSpec job = testing_support::make_job(dir.path(), text);
  job::JobSpec reference_job = testing_support::make_job(dir.path(), text);
  reference_job.publish.registry = dir / "reference-registry";
  auto reference = coordinator::run_job(comm, reference_job, {.use_partial_cache = false});
  EXPECT_THROW(coordinator::run_job(comm, job, {.stop_after_partitions = 1}),
               coordinator::StoppedError);
  auto resumed = coordinator::run_job(comm, job);
  EXPECT_EQ(resumed.num_cached_partitions, std::min<std::int64_t>(comm.size(), 9));
  sluice::model::ParameterMap resumed_parameters, reference_parameters;
  resumed.model->save(resumed_parameters);
  reference.model->save(reference_parameters);
  EXPECT_EQ(resumed_parameters.matrix("centers"), reference_parameters.matrix("centers"));
  EXPECT_EQ(resumed.num_passes, reference.num_passes);
}

// A stop inside a partition (between its blocks) abandons it: nothing published, the partition
// is read again by the next run, which publishes the bits of an uninterrupted run. With 4
// threads and fewer partitions than threads, the threads share the blocks (the overlapped path).
TEST(StopResumeMpiTest, stop_between_blocks_abandons_the_partition_and_resumes_to_the_same_bits) {
  auto comm = mpi::Communicator::borrow(MPI_COMM_WORLD);
  for (int threads : {1, 4}) {
    TempDir dir(comm);
    lake::SyntheticLakeOptions options{.root = dir / "lake", .num_partitions = 3,
                                       .rows_per_partition = 6000, .num_features = 3, .seed = 12};
    testing_support::write_lake(comm, options);
    const std::string text = testing_support::job_text(3, "m", "alpha = 0.5", "block_rows = 1000");
    job::JobSpec job = testing_support::make_job(dir.path(), text);
    job::JobSpec reference_job = testing_support::make_job(dir.path(), text);
    reference_job.publish.registry = dir / "reference-registry";
    auto reference = coordinator::run_job(comm, reference_job,
                                          {.threads = threads, .use_partial_cache = false});
    EXPECT_THROW(coordinator::run_job(comm, job, {.threads = threads, .stop_after_blocks = 2}),
                 coordinator::StoppedError);
    snapshot::SnapshotRegistry registry(job.publish.registry);
    EXPECT_FALSE(registry.current_version("m"));
    auto resumed = coordinator::run_job(comm, job, {.threads = threads});
    EXPECT_EQ(resumed.num_cached_partitions, 0) << "every partition was interrupted, none saved";
    sluice::model::ParameterMap resumed_parameters, reference_parameters;
    resumed.model->save(resumed_parameters);
    reference.model->save(reference_parameters);
    EXPECT_EQ(resumed_parameters.vector("coefficients"), reference_parameters.vector("coefficients"))
        << threads << " threads";
    EXPECT_EQ(registry.current_version("m"), 1);
  }
}
