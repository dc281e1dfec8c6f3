// Tests that synthetic lakes are reproducible to the byte and honour their options.
#include "sluice/lake/synthetic_lake.hpp"

#include "sluice/error.hpp"
#include "sluice/lake/catalog.hpp"
#include "sluice/lake/partition_reader.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <numeric>
#include <sstream>

using namespace sluice::lake;

namespace {

std::string bytes_of(const std::filesystem::path& path) {
  std::ifstream stream(path, std::ios::binary);
  std::ostringstream text;
  text << stream.rdbuf();
  return text.str();
}

} // namespace

TEST(SyntheticLakeTest, same_seed_gives_same_bytes_in_any_write_order) {
  sluice::testing_support::TempDir dir;
  SyntheticLakeOptions a{.root = dir / "a", .num_partitions = 3, .rows_per_partition = 500,
                         .num_features = 4, .seed = 9, .storage = {.chunk_rows = 100, .deflate_level = 1}};
  SyntheticLakeOptions b = a;
  b.root = dir / "b";
  for (std::int64_t i = 0; i < 3; ++i) write_synthetic_partition(a, i);
  for (std::int64_t i = 3; i-- > 0;) write_synthetic_partition(b, i);
  for (std::int64_t i = 0; i < 3; ++i) {
    auto relative = synthetic_partition_path(a, i);
    EXPECT_EQ(bytes_of(a.root / relative), bytes_of(b.root / relative)) << relative;
  }
}

TEST(SyntheticLakeTest, skew_keeps_total_rows_and_orders_sizes) {
  SyntheticLakeOptions options{.num_partitions = 10, .rows_per_partition = 1000, .skew = 1.5};
  auto rows = synthetic_partition_rows(options);
  EXPECT_EQ(std::reduce(rows.begin(), rows.end(), std::int64_t{0}), 10000);
  EXPECT_TRUE(std::is_sorted(rows.rbegin(), rows.rend()));
  EXPECT_GT(rows.front(), 5 * rows.back());
}

TEST(SyntheticLakeTest, catalog_discovers_partitions_with_hive_keys) {
  sluice::testing_support::TempDir dir;
  SyntheticLakeOptions options{.root = dir / "lake", .num_partitions = 5, .rows_per_partition = 10,
                               .num_features = 2, .num_days = 2};
  for (std::int64_t i = 0; i < 5; ++i) write_synthetic_partition(options, i);
  auto all = discover_partitions({.root = options.root});
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0].relative_path, "day=2026-11-01/part-00000.h5");
  EXPECT_EQ(all[0].keys.at("day"), "2026-11-01");
  auto selected = discover_partitions({.root = options.root, .selection = {{"day", {"2026-11-02"}}}});
  EXPECT_EQ(selected.size(), 2u);
  EXPECT_THROW(discover_partitions({.root = options.root, .glob = "*.parquet"}), sluice::DataError);
  EXPECT_THROW(discover_partitions({.root = dir / "absent"}), sluice::DataError);
  PartitionReader reader(all[0].path, "/", {"x00", "x01", "y"});
  EXPECT_EQ(reader.num_rows(), 10);
}
