// Tests of Hive-style key parsing and key selection.
#include "sluice/lake/hive.hpp"

#include <gtest/gtest.h>

using namespace sluice::lake;

TEST(HiveTest, keys_come_from_directories_only) {
  auto keys = hive_keys("region=eu/day=2026-11-01/part=3.h5");
  EXPECT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys["region"], "eu");
  EXPECT_EQ(keys["day"], "2026-11-01");
  EXPECT_TRUE(hive_keys("part.h5").empty());
  EXPECT_TRUE(hive_keys("plain/=novalue/x.h5").empty());
}

TEST(HiveTest, keys_allow_empty_values_and_deeper_overrides) {
  auto keys = hive_keys("k=a/k=b/v=/x.h5");
  EXPECT_EQ(keys["k"], "b");
  EXPECT_EQ(keys["v"], "");
}

TEST(HiveTest, selection_requires_every_key) {
  std::map<std::string, std::string> keys{{"region", "eu"}, {"day", "1"}};
  EXPECT_TRUE(is_selected(keys, {}));
  EXPECT_TRUE(is_selected(keys, {{"region", {"us", "eu"}}}));
  EXPECT_FALSE(is_selected(keys, {{"region", {"us"}}}));
  EXPECT_FALSE(is_selected(keys, {{"missing", {"x"}}}));
  EXPECT_TRUE(is_selected(keys, {{"region", {"eu"}}, {"day", {"1"}}}));
}
