// Tests that a snapshot written is the snapshot read, and that non-snapshots are refused.
#include "sluice/snapshot/snapshot.hpp"

#include "sluice/error.hpp"
#include "sluice/model/model_kinds.hpp"
#include "sluice/model/parameter_map.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>

using namespace sluice::snapshot;

TEST(SnapshotTest, write_then_read_round_trips_every_field) {
  sluice::testing_support::TempDir dir;
  Snapshot s;
  s.model_name = "demo";
  s.version = 4;
  s.model_kind = "ridge";
  s.feature_names = {"a", "b"};
  s.label = "y";
  s.model = sluice::model::load_fitted_model("ridge", s.feature_names, [] {
    sluice::model::ParameterMap p;
    p.vector("coefficients", Eigen::Vector2d(0.1, -3.0));
    p.scalar("intercept", 7.25);
    p.scalar("alpha", 0.5);
    p.integer("fit_intercept", 1);
    return p;
  }());
  s.pipeline_json = R"({"stages":[]})";
  s.metrics = {{"rmse", 0.3}, {"r2", 0.9}};
  s.history = {{"iteration", "loss"}, {{1.0, 0.5}, {2.0, 0.25}}};
  s.xtx_kernel = "avx2-fma-3x4";
  s.num_rows = 12;
  s.job_text = "[lake]\npath = \"x\"\n";
  s.sluice_version = "0.1.0";
  s.num_ranks = 3;
  s.threads_per_rank = 2;
  s.created_utc = "2026-11-25T00:00:00Z";
  s.lake_root = "/lake";
  s.partitions = {{"day=1/p.h5", 12, "00000000deadbeef", "day=1"}};
  s.skipped = {{"bad.h5", "not HDF5"}};
  s.statistics = sluice::model::SufficientStats::empty(3);
  s.statistics.count = 12;
  write_snapshot(dir / "s.h5", s);
  Snapshot r = read_snapshot(dir / "s.h5");
  EXPECT_EQ(r.model_name, "demo");
  EXPECT_EQ(r.version, 4);
  EXPECT_EQ(r.feature_names, s.feature_names);
  sluice::model::ParameterMap stored;
  r.model->save(stored);
  EXPECT_EQ(stored.vector("coefficients"), Eigen::Vector2d(0.1, -3.0));
  EXPECT_EQ(stored.scalar("intercept"), 7.25);
  EXPECT_EQ(r.metric("r2"), 0.9);
  EXPECT_EQ(r.metrics.at(0).first, "rmse");
  EXPECT_EQ(r.history.rows.at(1), (std::vector<double>{2.0, 0.25}));
  EXPECT_EQ(r.xtx_kernel, "avx2-fma-3x4");
  EXPECT_EQ(r.job_text, s.job_text);
  EXPECT_EQ(r.partitions.at(0).checksum, "00000000deadbeef");
  EXPECT_EQ(r.skipped.at(0).reason, "not HDF5");
  EXPECT_EQ(r.num_ranks, 3);
  EXPECT_EQ(r.statistics.count, 12);
  EXPECT_DOUBLE_EQ(score(r, Eigen::RowVector2d(1.0, 1.0))(0, 0), 7.25 + 0.1 - 3.0);
}

TEST(SnapshotTest, read_refuses_files_that_are_not_snapshots) {
  sluice::testing_support::TempDir dir;
  std::ofstream(dir / "junk.h5") << "not hdf5";
  EXPECT_THROW(read_snapshot(dir / "junk.h5"), sluice::DataError);
  EXPECT_THROW(read_snapshot(dir / "missing.h5"), sluice::DataError);
}
