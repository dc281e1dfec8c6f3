// Tests of the registry protocol: versions, CURRENT, and failed publishes leaving no trace.
#include "sluice/snapshot/registry.hpp"

#include "sluice/error.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>

using sluice::snapshot::SnapshotRegistry;

namespace {

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

} // namespace

TEST(SnapshotRegistryTest, publish_numbers_versions_and_moves_current) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry(dir.path());
  EXPECT_FALSE(registry.current_version("m"));
  for (int expected = 1; expected <= 3; ++expected) {
    auto version = registry.publish(
        "m", [](const std::filesystem::path& p, std::int64_t v) { write_text(p, std::to_string(v)); },
        [](std::int64_t) { return std::string("{}"); });
    EXPECT_EQ(version, expected);
    EXPECT_EQ(registry.current_version("m"), expected);
  }
  EXPECT_EQ(registry.versions("m"), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_TRUE(std::filesystem::exists(registry.report_path("m", 2)));
  EXPECT_EQ(registry.model_names(), std::vector<std::string>{"m"});
  EXPECT_EQ(registry.snapshot_path("m", 12).filename(), "v000012.h5");
}

TEST(SnapshotRegistryTest, publish_that_fails_leaves_registry_unchanged) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry(dir.path());
  registry.publish("m", [](const std::filesystem::path& p, std::int64_t) { write_text(p, "ok"); },
                   [](std::int64_t) { return std::string("{}"); });
  EXPECT_THROW(registry.publish(
                   "m",
                   [](const std::filesystem::path& p, std::int64_t) {
                     write_text(p, "half");
                     throw sluice::Error("disk full");
                   },
                   [](std::int64_t) { return std::string("{}"); }),
               sluice::Error);
  EXPECT_EQ(registry.current_version("m"), 1);
  EXPECT_EQ(registry.versions("m"), std::vector<std::int64_t>{1});
  for (const auto& entry : std::filesystem::directory_iterator(registry.model_directory("m"))) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
  }
}

TEST(SnapshotRegistryTest, current_pointer_that_is_corrupt_is_an_error) {
  sluice::testing_support::TempDir dir;
  std::filesystem::create_directories(dir.path() / "m");
  write_text(dir.path() / "m" / "CURRENT", "garbage\n");
  EXPECT_THROW(SnapshotRegistry(dir.path()).current_version("m"), sluice::DataError);
}

TEST(SnapshotRegistryTest, publish_removes_temporaries_of_killed_publishers_only) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry(dir.path());
  std::filesystem::create_directories(dir / "m");
  // What a publisher killed mid-way leaves, and a stopped job's checkpoint being written.
  for (const char* name : {"v000001.h5.tmp-4242", "v000001.report.json.tmp-4242",
                           "CURRENT.tmp-4242", ".checkpoint.json.tmp-77"}) {
    write_text(dir / "m" / name, "partial");
  }
  registry.publish(
      "m", [](const std::filesystem::path& p, std::int64_t) { write_text(p, "snapshot"); },
      [](std::int64_t) { return std::string("{}"); });
  EXPECT_FALSE(std::filesystem::exists(dir / "m" / "v000001.h5.tmp-4242"));
  EXPECT_FALSE(std::filesystem::exists(dir / "m" / "v000001.report.json.tmp-4242"));
  EXPECT_FALSE(std::filesystem::exists(dir / "m" / "CURRENT.tmp-4242"));
  EXPECT_TRUE(std::filesystem::exists(dir / "m" / ".checkpoint.json.tmp-77"));
  EXPECT_EQ(registry.current_version("m"), 1);
}

TEST(SnapshotRegistryTest, check_publishable_refuses_files_and_unwritable_places) {
  sluice::testing_support::TempDir dir;
  write_text(dir / "file", "x");
  EXPECT_THROW(SnapshotRegistry(dir / "file").check_publishable("m"), sluice::ConfigError);
  EXPECT_THROW(SnapshotRegistry(dir / "file" / "below").check_publishable("m"), sluice::IoError);
  EXPECT_THROW(SnapshotRegistry("/proc/sluice-registry").check_publishable("m"), sluice::IoError);
  SnapshotRegistry fine(dir / "new" / "registry");
  EXPECT_NO_THROW(fine.check_publishable("m"));
  EXPECT_TRUE(std::filesystem::is_directory(dir / "new" / "registry" / "m"));
  EXPECT_TRUE(std::filesystem::is_empty(dir / "new" / "registry" / "m")); // the probe is gone
}
