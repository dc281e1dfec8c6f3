// Tests of the snapshot diff on two known snapshots: every section, text-free (JSON and structs).
#include "sluice/snapshot/snapshot_diff.hpp"

#include "sluice/error.hpp"
#include "sluice/hdf5/attributes.hpp"
#include "sluice/hdf5/file.hpp"
#include "snapshot_fixtures.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

using namespace sluice::snapshot;

namespace {

const ValueChange* find(const std::vector<ValueChange>& changes, const std::string& key) {
  for (const auto& change : changes) {
    if (change.key == key) return &change;
  }
  return nullptr;
}

} // namespace

TEST(SnapshotDiffTest, diff_of_two_known_versions_names_each_change) {
  sluice::testing_support::TempDir dir;
  write_snapshot(dir / "a.h5", sluice::testing_support::ridge_snapshot("m", 1));
  Snapshot changed = sluice::testing_support::ridge_snapshot("m", 2, 0.5);
  write_snapshot(dir / "b.h5", changed);
  const SnapshotDiff d = diff_snapshots(dir / "a.h5", dir / "b.h5");

  // parameters: coefficients [0.5, -2] -> [1.0, -2], alpha 1 -> 1.5; intercept unchanged
  const ValueChange* coefficients = find(d.parameters, "coefficients");
  ASSERT_NE(coefficients, nullptr);
  EXPECT_EQ(coefficients->before, (nlohmann::json{0.5, -2.0}));
  EXPECT_EQ(coefficients->after, (nlohmann::json{1.0, -2.0}));
  EXPECT_DOUBLE_EQ(coefficients->max_abs_difference, 0.5);
  ASSERT_NE(find(d.parameters, "alpha"), nullptr);
  EXPECT_EQ(find(d.parameters, "alpha")->after, 1.5);
  EXPECT_EQ(find(d.parameters, "intercept"), nullptr);
  EXPECT_EQ(d.parameters.size(), 2u);

  // hyper-parameters: the job's [model] alpha only
  ASSERT_EQ(d.hyper_parameters.size(), 1u);
  EXPECT_EQ(d.hyper_parameters[0].key, "model.alpha");
  EXPECT_EQ(d.hyper_parameters[0].before, 1.0);
  EXPECT_EQ(d.hyper_parameters[0].after, 1.5);

  // metrics: rmse 0.25 -> 0.75; r2 and the counts unchanged (2 partitions each side)
  ASSERT_EQ(d.metrics.size(), 1u);
  EXPECT_EQ(d.metrics[0].key, "rmse");
  EXPECT_EQ(d.metrics[0].before, 0.25);
  EXPECT_EQ(d.metrics[0].after, 0.75);

  EXPECT_TRUE(d.pipeline.empty());

  // lineage: p removed, q changed (checksum), r added
  ASSERT_EQ(d.partitions.size(), 3u);
  EXPECT_EQ(d.partitions[0].path, "day=1/p.h5");
  EXPECT_EQ(d.partitions[0].change, "removed");
  EXPECT_EQ(d.partitions[1].path, "day=1/q.h5");
  EXPECT_EQ(d.partitions[1].change, "changed");
  EXPECT_EQ(d.partitions[1].checksum_before, "00000000000000bb");
  EXPECT_EQ(d.partitions[1].checksum_after, "00000000000000cc");
  EXPECT_EQ(d.partitions[2].path, "day=2/r.h5");
  EXPECT_EQ(d.partitions[2].change, "added");
  EXPECT_EQ(d.partitions[2].rows_after, 5);
  EXPECT_EQ(d.num_partitions_unchanged, 0);

  const nlohmann::json json = to_json(d);
  EXPECT_EQ(json["partitions"]["added"][0]["path"], "day=2/r.h5");
  EXPECT_EQ(json["partitions"]["removed"][0]["rows_before"], 10);
  EXPECT_EQ(json["partitions"]["changed"][0]["checksum_after"], "00000000000000cc");
  EXPECT_EQ(json["metrics"][0]["key"], "rmse");
  EXPECT_EQ(json["parameters"][0]["key"], "alpha"); // keys in name order
  EXPECT_FALSE(json["parameters"][0].contains("max_abs_difference"));
  EXPECT_EQ(json["parameters"][1]["key"], "coefficients");
  EXPECT_EQ(json["parameters"][1]["max_abs_difference"], 0.5);

  const SnapshotDiff same = diff_snapshots(dir / "a.h5", dir / "a.h5");
  EXPECT_TRUE(same.is_empty());
  EXPECT_EQ(same.num_partitions_unchanged, 2);
}

TEST(SnapshotDiffTest, pipeline_group_is_compared_attribute_by_attribute_and_dataset_by_dataset) {
  sluice::testing_support::TempDir dir;
  Snapshot a = sluice::testing_support::ridge_snapshot("m", 1);
  Snapshot b = a;
  b.pipeline_json = R"({"stages":[{"stage":"scale"}]})";
  write_snapshot(dir / "a.h5", a);
  write_snapshot(dir / "b.h5", b);
  const SnapshotDiff d = diff_snapshots(dir / "a.h5", dir / "b.h5");
  ASSERT_EQ(d.pipeline.size(), 1u);
  EXPECT_EQ(d.pipeline[0].key, "/pipeline@spec");
  EXPECT_EQ(d.pipeline[0].before, R"({"stages":[]})");
  EXPECT_EQ(d.pipeline[0].after, R"({"stages":[{"stage":"scale"}]})");
  EXPECT_TRUE(d.parameters.empty());
  EXPECT_TRUE(d.partitions.empty());
}

TEST(SnapshotDiffTest, diff_refuses_a_damaged_side_naming_it) {
  sluice::testing_support::TempDir dir;
  write_snapshot(dir / "a.h5", sluice::testing_support::ridge_snapshot("m", 1));
  write_snapshot(dir / "b.h5", sluice::testing_support::ridge_snapshot("m", 2));
  std::filesystem::resize_file(dir / "b.h5", std::filesystem::file_size(dir / "b.h5") - 10);
  try {
    diff_snapshots(dir / "a.h5", dir / "b.h5");
    FAIL();
  } catch (const sluice::DataError& error) {
    EXPECT_NE(std::string(error.what()).find("b.h5"), std::string::npos) << error.what();
  }
}
