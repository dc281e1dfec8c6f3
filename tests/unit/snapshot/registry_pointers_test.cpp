// Tests of the registry's pointer moves: aliases, rollbacks, garbage collection, their history.
#include "sluice/snapshot/registry.hpp"

#include "sluice/error.hpp"
#include "snapshot_fixtures.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>

using sluice::snapshot::HistoryEntry;
using sluice::snapshot::SnapshotRegistry;

namespace {

void publish_n(SnapshotRegistry& registry, int n) {
  for (int i = 0; i < n; ++i) {
    registry.publish(
        "m", [](const std::filesystem::path& p, std::int64_t v) { sluice::testing_support::write_sealed(p, std::to_string(v)); },
        [](std::int64_t) { return std::string("{}"); });
  }
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream stream(path);
  return std::string((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
}

// Nothing but finished files: no temporaries, no claims.
void expect_no_leftovers(const std::filesystem::path& directory) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(directory)) {
    const std::string file = entry.path().filename().string();
    EXPECT_EQ(file.find(".tmp"), std::string::npos) << entry.path();
    EXPECT_FALSE(file.ends_with(".claim")) << entry.path();
  }
}

} // namespace

TEST(RegistryPointersTest, alias_set_move_and_remove_are_recorded) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry(dir.path());
  publish_n(registry, 3);
  registry.set_alias("m", "production", 1, "first release");
  registry.set_alias("m", "staging", 3, "");
  registry.set_alias("m", "production", 2, "fix");
  registry.set_alias("m", "production", 2, "again"); // no move, nothing recorded
  EXPECT_EQ(registry.alias_version("m", "production"), 2);
  EXPECT_EQ(read_text(dir / "m" / "aliases" / "production"), "v000002.h5\n");
  EXPECT_EQ(registry.aliases("m"), (std::map<std::string, std::int64_t>{{"production", 2}, {"staging", 3}}));
  registry.remove_alias("m", "staging", "unused");
  EXPECT_FALSE(registry.alias_version("m", "staging"));
  EXPECT_THROW(registry.remove_alias("m", "staging", ""), sluice::ConfigError);
  expect_no_leftovers(dir.path());

  const std::vector<HistoryEntry> history = registry.history("m");
  ASSERT_EQ(history.size(), 3u + 4u);
  EXPECT_EQ(history[0].action, "publish");
  EXPECT_EQ(history[0].pointer, "CURRENT");
  EXPECT_FALSE(history[0].from);
  EXPECT_EQ(history[2].from, 2);
  EXPECT_EQ(history[2].to, 3);
  const HistoryEntry& moved = history[5];
  EXPECT_EQ(moved.action, "alias_set");
  EXPECT_EQ(moved.pointer, "production");
  EXPECT_EQ(moved.from, 1);
  EXPECT_EQ(moved.to, 2);
  EXPECT_EQ(moved.reason, "fix");
  EXPECT_FALSE(moved.user.empty());
  EXPECT_FALSE(moved.host.empty());
  EXPECT_EQ(moved.time_utc.size(), 20u);
  EXPECT_TRUE(moved.time_utc.ends_with("Z"));
  EXPECT_EQ(history[6].action, "alias_remove");
  EXPECT_EQ(history[6].from, 3);
  EXPECT_FALSE(history[6].to);
  // The file itself: one JSON object per line, as documented.
  const std::string text = read_text(registry.history_path("m"));
  EXPECT_NE(text.find("\"action\":\"alias_set\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"reason\":\"first release\""), std::string::npos) << text;
}

TEST(RegistryPointersTest, aliases_only_move_to_existing_verified_versions_with_valid_names) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry(dir.path());
  publish_n(registry, 2);
  EXPECT_THROW(registry.set_alias("m", "production", 5, ""), sluice::ConfigError);
  for (const std::string& alias : std::vector<std::string>{"../escape", "a/b", "7", "", ".hidden", std::string(129, 'a')}) {
    EXPECT_THROW(registry.set_alias("m", alias, 1, ""), sluice::ConfigError) << alias;
  }
  EXPECT_THROW(registry.set_alias("../m", "production", 1, ""), sluice::ConfigError);
  EXPECT_THROW(registry.set_alias("nomodel", "production", 1, ""), sluice::ConfigError);
  { // damage version 1: one byte after the header
    std::fstream file(registry.snapshot_path("m", 1), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(512);
    file.put('X');
  }
  try {
    registry.set_alias("m", "production", 1, "");
    FAIL() << "an alias moved to a damaged version";
  } catch (const sluice::DataError& error) {
    EXPECT_NE(std::string(error.what()).find("v000001.h5"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(registry.aliases("m").empty());
  EXPECT_FALSE(std::filesystem::exists(dir / "escape"));
  EXPECT_EQ(registry.history("m").size(), 2u); // only the publishes
}

TEST(RegistryPointersTest, rollback_walks_back_through_the_moves_it_has_not_undone) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry(dir.path());
  publish_n(registry, 3); // CURRENT: none -> 1 -> 2 -> 3
  EXPECT_EQ(registry.rollback("m", std::nullopt, "bad metrics"), 2);
  EXPECT_EQ(registry.current_version("m"), 2);
  EXPECT_EQ(registry.rollback("m", std::nullopt, ""), 1);
  EXPECT_EQ(registry.current_version("m"), 1);
  EXPECT_THROW(registry.rollback("m", std::nullopt, ""), sluice::ConfigError); // it was new before 1
  EXPECT_EQ(registry.current_version("m"), 1);
  publish_n(registry, 1); // 1 -> 4
  EXPECT_EQ(registry.rollback("m", std::nullopt, ""), 1);

  registry.set_alias("m", "production", 2, "");
  registry.set_alias("m", "production", 4, "");
  EXPECT_EQ(registry.rollback("m", std::string("production"), "revert"), 2);
  EXPECT_EQ(registry.alias_version("m", "production"), 2);
  EXPECT_EQ(registry.current_version("m"), 1); // CURRENT untouched
  EXPECT_THROW(registry.rollback("m", std::string("production"), ""), sluice::ConfigError);
  EXPECT_THROW(registry.rollback("m", std::string("staging"), ""), sluice::ConfigError);
  expect_no_leftovers(dir.path());

  const std::vector<HistoryEntry> history = registry.history("m");
  const HistoryEntry& last = history.back();
  EXPECT_EQ(last.action, "rollback");
  EXPECT_EQ(last.pointer, "production");
  EXPECT_EQ(last.from, 4);
  EXPECT_EQ(last.to, 2);
  EXPECT_EQ(last.reason, "revert");
}

TEST(RegistryPointersTest, rollback_refuses_a_target_that_is_gone_or_damaged) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry(dir.path());
  publish_n(registry, 2);
  std::filesystem::remove(registry.snapshot_path("m", 1));
  EXPECT_THROW(registry.rollback("m", std::nullopt, ""), sluice::ConfigError);
  EXPECT_EQ(registry.current_version("m"), 2);
  publish_n(registry, 1); // 2 -> 3
  std::filesystem::resize_file(registry.snapshot_path("m", 2), 520); // truncated
  EXPECT_THROW(registry.rollback("m", std::nullopt, ""), sluice::DataError);
  EXPECT_EQ(registry.current_version("m"), 3);
}

TEST(RegistryPointersTest, gc_keeps_the_newest_and_every_pinned_version_with_its_report) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry(dir.path());
  publish_n(registry, 6);
  registry.set_alias("m", "production", 2, "");
  registry.rollback("m", std::nullopt, ""); // CURRENT 6 -> 5
  registry.rollback("m", std::nullopt, ""); // CURRENT 5 -> 4
  EXPECT_THROW(registry.collect_garbage("m", 0, ""), sluice::ConfigError);
  const std::vector<std::int64_t> removed = registry.collect_garbage("m", 1, "disk");
  EXPECT_EQ(removed, (std::vector<std::int64_t>{1, 3, 5}));
  EXPECT_EQ(registry.versions("m"), (std::vector<std::int64_t>{2, 4, 6}));
  for (std::int64_t v : {2, 4, 6}) EXPECT_TRUE(std::filesystem::exists(registry.report_path("m", v))) << v;
  for (std::int64_t v : {1, 3, 5}) EXPECT_FALSE(std::filesystem::exists(registry.report_path("m", v))) << v;
  EXPECT_TRUE(registry.collect_garbage("m", 1, "").empty()); // nothing left to remove, nothing recorded
  const HistoryEntry gc = registry.history("m").back();
  EXPECT_EQ(gc.action, "gc");
  EXPECT_EQ(gc.removed, removed);
  EXPECT_EQ(gc.reason, "disk");
  // Numbers are never handed out twice.
  publish_n(registry, 1);
  EXPECT_EQ(registry.current_version("m"), 7);
}

TEST(RegistryPointersTest, history_skips_a_torn_last_line_and_refuses_a_corrupt_one) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry(dir.path());
  publish_n(registry, 1);
  std::ofstream(registry.history_path("m"), std::ios::app) << "{\"time\":\"2026";
  EXPECT_EQ(registry.history("m").size(), 1u);
  std::ofstream(registry.history_path("m"), std::ios::app) << "\n";
  EXPECT_THROW(registry.history("m"), sluice::DataError);
}

TEST(RegistryPointersTest, verify_lists_every_bad_file) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry(dir.path());
  for (int i = 0; i < 3; ++i) {
    registry.publish(
        "m",
        [](const std::filesystem::path& p, std::int64_t v) {
          sluice::snapshot::write_snapshot(p, sluice::testing_support::ridge_snapshot("m", v));
        },
        [](std::int64_t) { return std::string("{}"); });
  }
  registry.set_alias("m", "production", 1, "");
  EXPECT_TRUE(registry.verify().empty());
  EXPECT_TRUE(registry.verify("m").empty());
  std::filesystem::resize_file(registry.snapshot_path("m", 2),
                               std::filesystem::file_size(registry.snapshot_path("m", 2)) - 1);
  std::ofstream(dir / "m" / "aliases" / "gone") << "v000009.h5\n";
  // A copy of version 3 under the name of version 4: it says it is version 3.
  std::filesystem::copy_file(registry.snapshot_path("m", 3), registry.snapshot_path("m", 4));
  const auto problems = registry.verify("m");
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0].path, registry.snapshot_path("m", 2));
  EXPECT_NE(problems[0].problem.find("truncated"), std::string::npos) << problems[0].problem;
  EXPECT_EQ(problems[1].path, registry.snapshot_path("m", 4));
  EXPECT_NE(problems[1].problem.find("version 3, not 'm' version 4"), std::string::npos) << problems[1].problem;
  EXPECT_EQ(problems[2].path, dir / "m" / "aliases" / "gone");
  EXPECT_NE(problems[2].problem.find("names version 9, which does not exist"), std::string::npos);
  EXPECT_THROW(registry.verify("other"), sluice::ConfigError);
  EXPECT_THROW(registry.verify("../m"), sluice::ConfigError);
}
