// run_job at N ranks: equals a dense solve to 1e-10, and a one-process fit to the last bit.
#include "sluice/coordinator/run_job.hpp"

#include "dense_reference.hpp"
#include "synthetic_job.hpp"
#include "temp_dir.hpp"

#include "in_process_engine.hpp"

#include "sluice/lake/catalog.hpp"
#include "sluice/model/model_kinds.hpp"
#include "sluice/model/parameter_map.hpp"
#include "sluice/lake/partition_reader.hpp"
#include "sluice/snapshot/registry.hpp"
#include "sluice/snapshot/snapshot.hpp"

#include <gtest/gtest.h>

using namespace sluice;
using testing_support::TempDir;

namespace {

mpi::Communicator world() { return mpi::Communicator::borrow(MPI_COMM_WORLD); }

// The model as one process fits it: the same passes, tiles and merge tree, without MPI or the
// pass executor, from the partitions read whole.
model::ParameterMap serial_fit(const job::JobSpec& job) {
  auto partitions = lake::discover_partitions({.root = job.lake.root});
  auto trainer = model::make_trainer(job.model);
  std::vector<std::uint64_t> hashes;
  for (const auto& partition : partitions) hashes.push_back(partition.path_hash);
  testing_support::fit_in_process(*trainer, testing_support::load_partitions(partitions, job.columns()),
                                  {.block_rows = job.lake.block_rows, .path_hashes = hashes,
                                   .split_rows = job.lake.split_rows});
  model::ParameterMap parameters;
  trainer->model()->save(parameters);
  return parameters;
}

model::ParameterMap parameters_of(const coordinator::RunResult& result) {
  model::ParameterMap parameters;
  result.model->save(parameters);
  return parameters;
}

// One job per kind over the lake "lake" of 4 features (name, job text): the ridge alpha search,
// PCA and k-means, plus ridge itself when asked.
std::vector<std::pair<std::string, std::string>> kind_jobs(const std::string& lake_table,
                                                           bool with_ridge) {
  std::vector<std::pair<std::string, std::string>> kinds = {
      {"search", "kind = \"ridge\"\nlabel = \"y\"\nalpha = [0.01, 1.0, 100.0]\nfolds = 3\n"},
      {"pca", "kind = \"pca\"\ncomponents = 2\n"},
      {"kmeans", "kind = \"kmeans\"\nk = 3\nseed = 4\n"}};
  if (with_ridge) kinds.insert(kinds.begin(), {"ridge", "kind = \"ridge\"\nlabel = \"y\"\nalpha = 0.5\n"});
  for (auto& [name, model] : kinds) {
    model = lake_table + "[model]\n" + R"(features = ["x00", "x01", "x02", "x03"])" + "\n" + model +
            fmt::format("[publish]\nregistry = \"registry\"\nname = \"{}\"\n", name);
  }
  return kinds;
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
    model::ParameterMap fitted = parameters_of(result);
    const Eigen::VectorXd coefficients = fitted.vector("coefficients", 6);
    EXPECT_LT((coefficients - reference.head(6)).norm() / reference.head(6).norm(), 1e-10);
    EXPECT_NEAR(fitted.scalar("intercept"), reference(6), 1e-10 * std::abs(reference(6)));

    model::ParameterMap serial = serial_fit(job);
    EXPECT_EQ(coefficients, serial.vector("coefficients")) << "bits differ from the 1-process fit";
    EXPECT_EQ(fitted.scalar("intercept"), serial.scalar("intercept"));

    snapshot::Snapshot s = snapshot::read_snapshot(result.snapshot_path);
    model::ParameterMap stored;
    s.model->save(stored);
    EXPECT_EQ(stored.vector("coefficients"), coefficients);
    EXPECT_EQ(s.num_ranks, comm.size());
    EXPECT_EQ(s.partitions.size(), 7u);
    EXPECT_EQ(s.job_text, job.text);
    EXPECT_EQ(snapshot::SnapshotRegistry(job.publish.registry).current_version("m"), 1);
  }
  // Every rank holds the same result.
  double intercept = parameters_of(result).scalar("intercept");
  EXPECT_EQ(comm.max(intercept), intercept);
}

TEST(RunJobMpiTest, run_with_more_ranks_than_partitions_and_threads_keeps_bits) {
  auto comm = world();
  TempDir dir(comm);
  lake::SyntheticLakeOptions options{.root = dir / "lake", .num_partitions = 2,
                                     .rows_per_partition = 5000, .num_features = 3, .seed = 5};
  testing_support::write_lake(comm, options);
  job::JobSpec job = testing_support::make_job(dir.path(), testing_support::job_text(3, "m"));
  auto one_thread = coordinator::run_job(comm, job, {.threads = 1, .use_partial_cache = false});
  auto two_threads = coordinator::run_job(comm, job, {.threads = 2, .use_partial_cache = false});
  EXPECT_EQ(parameters_of(one_thread).vector("coefficients"),
            parameters_of(two_threads).vector("coefficients"));
  EXPECT_EQ(parameters_of(one_thread).scalar("intercept"),
            parameters_of(two_threads).scalar("intercept"));
  EXPECT_EQ(two_threads.version, 2);
  if (comm.is_root()) {
    EXPECT_EQ(parameters_of(one_thread).vector("coefficients"),
              serial_fit(job).vector("coefficients"));
  }
}

// Every kind: the same bits at this rank count, with 1 and 2 threads per rank, as one process
// fitting the partitions in memory (the k-means RNG, the folds and the merge tree must not
// depend on who reads what). Every run is a full retrain: with the partial cache the second run
// would read nothing and k-means would start warm from the first.
TEST(RunJobMpiTest, every_kind_has_the_bits_of_a_one_process_fit) {
  auto comm = world();
  TempDir dir(comm);
  lake::SyntheticLakeOptions options{.root = dir / "lake", .num_partitions = 7,
                                     .rows_per_partition = 2500, .num_features = 4, .seed = 21,
                                     .skew = 1.0};
  testing_support::write_lake(comm, options);
  for (const auto& [name, text] :
       kind_jobs("[lake]\npath = \"lake\"\nblock_rows = 2048\n", false)) {
    job::JobSpec job = testing_support::make_job(dir.path(), text);
    auto one_thread = coordinator::run_job(comm, job, {.threads = 1, .use_partial_cache = false});
    auto two_threads = coordinator::run_job(comm, job, {.threads = 2, .use_partial_cache = false});
    EXPECT_TRUE(parameters_of(one_thread).values() == parameters_of(two_threads).values()) << name;
    if (comm.is_root()) {
      EXPECT_TRUE(parameters_of(one_thread).values() == serial_fit(job).values()) << name;
    }
  }
}

// Partitions larger than lake.split_rows are shared out in splits (one segment of the split grid
// each) that different ranks read: every kind has the same bits as with the partitions read
// whole (run.split = false), with 1 and 2 threads, and as one process folding the segments.
TEST(RunJobMpiTest, split_partitions_have_the_bits_of_whole_ones_for_every_kind) {
  auto comm = world();
  TempDir dir(comm);
  // Rows 6000, 3000, 2000 (skew 1): the first two are split into 1024-row segments.
  lake::SyntheticLakeOptions options{.root = dir / "lake", .num_partitions = 3,
                                     .rows_per_partition = 3667, .num_features = 4, .seed = 5,
                                     .skew = 1.0};
  testing_support::write_lake(comm, options);
  for (const auto& [name, text] :
       kind_jobs("[lake]\npath = \"lake\"\nblock_rows = 256\nsplit_rows = 1024\n", true)) {
    job::JobSpec split = testing_support::make_job(dir.path(), text);
    job::JobSpec whole = split;
    whole.run.split = false;
    auto split_one = coordinator::run_job(comm, split, {.threads = 1, .use_partial_cache = false});
    auto split_two = coordinator::run_job(comm, split, {.threads = 2, .use_partial_cache = false});
    auto whole_one = coordinator::run_job(comm, whole, {.threads = 1, .use_partial_cache = false});
    EXPECT_TRUE(parameters_of(split_one).values() == parameters_of(split_two).values()) << name;
    EXPECT_TRUE(parameters_of(split_one).values() == parameters_of(whole_one).values()) << name;
    EXPECT_EQ(split_one.num_rows, whole_one.num_rows) << name;
    if (comm.is_root()) {
      EXPECT_TRUE(parameters_of(split_one).values() == serial_fit(split).values()) << name;
    }
  }
}
