// Tests of the registry protocol: versions, CURRENT, and failed publishes leaving no trace.
#include "sluice/snapshot/registry.hpp"

#include "sluice/error.hpp"
#include "snapshot_fixtures.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <numeric>
#include <set>

using sluice::snapshot::SnapshotRegistry;
using sluice::testing_support::read_sealed;
using sluice::testing_support::write_sealed;

namespace {

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream stream(path);
  return std::string((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
}

} // namespace

TEST(SnapshotRegistryTest, publish_numbers_versions_and_moves_current) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry(dir.path());
  EXPECT_FALSE(registry.current_version("m"));
  for (int expected = 1; expected <= 3; ++expected) {
    auto version = registry.publish(
        "m", [](const std::filesystem::path& p, std::int64_t v) { write_sealed(p, std::to_string(v)); },
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
  registry.publish("m", [](const std::filesystem::path& p, std::int64_t) { write_sealed(p, "ok"); },
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
  // What a publisher killed mid-way leaves, and the temporary of a file the registry does not own.
  for (const char* name : {"v000001.h5.tmp-4242", "v000001.report.json.tmp-4242",
                           "CURRENT.tmp-4242", "notes.txt.tmp-77"}) {
    write_text(dir / "m" / name, "partial");
  }
  registry.publish(
      "m", [](const std::filesystem::path& p, std::int64_t) { write_sealed(p, "snapshot"); },
      [](std::int64_t) { return std::string("{}"); });
  EXPECT_FALSE(std::filesystem::exists(dir / "m" / "v000001.h5.tmp-4242"));
  EXPECT_FALSE(std::filesystem::exists(dir / "m" / "v000001.report.json.tmp-4242"));
  EXPECT_FALSE(std::filesystem::exists(dir / "m" / "CURRENT.tmp-4242"));
  EXPECT_TRUE(std::filesystem::exists(dir / "m" / "notes.txt.tmp-77"));
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

namespace {

// Runs `num_processes` forked publishers of model "m", each publishing `per_process` versions
// whose content names the publisher, its round and the version it was given. All start at once.
void publish_concurrently(const std::filesystem::path& root, bool use_lock, int num_processes,
                          int per_process) {
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  std::vector<pid_t> children;
  for (int p = 0; p < num_processes; ++p) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(gate[1]);
      char byte;
      (void)!::read(gate[0], &byte, 1); // returns at EOF: when the parent opens the gate
      int code = 0;
      try {
        SnapshotRegistry registry(root, {.use_lock = use_lock});
        for (int round = 0; round < per_process; ++round) {
          registry.publish(
              "m",
              [&](const std::filesystem::path& path, std::int64_t version) {
                write_sealed(path, std::to_string(p) + ":" + std::to_string(round) + ":" +
                                       std::to_string(version));
              },
              [](std::int64_t version) { return "{\"version\":" + std::to_string(version) + "}"; });
        }
      } catch (const std::exception& error) {
        std::fprintf(stderr, "publisher %d: %s\n", p, error.what());
        code = 1;
      }
      ::_exit(code);
    }
    children.push_back(child);
  }
  ::close(gate[0]);
  ::close(gate[1]);
  for (pid_t child : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "publisher status " << status;
  }
}

// Versions 1..N exactly, each holding the version it was published as, each (publisher, round)
// exactly once, a report per version, no claim or temporary left, one history line per publish.
void expect_every_publish_once(const SnapshotRegistry& registry, int num_processes, int per_process) {
  const int total = num_processes * per_process;
  std::vector<std::int64_t> expected(static_cast<std::size_t>(total));
  std::iota(expected.begin(), expected.end(), 1);
  EXPECT_EQ(registry.versions("m"), expected);
  std::set<std::string> publishes;
  for (std::int64_t version : registry.versions("m")) {
    const std::string text = read_sealed(registry.snapshot_path("m", version));
    EXPECT_TRUE(text.ends_with(":" + std::to_string(version))) << text;
    publishes.insert(text.substr(0, text.rfind(':')));
    EXPECT_EQ(read_text(registry.report_path("m", version)), "{\"version\":" + std::to_string(version) + "}");
  }
  EXPECT_EQ(publishes.size(), static_cast<std::size_t>(total));
  for (const auto& entry : std::filesystem::directory_iterator(registry.model_directory("m"))) {
    const std::string file = entry.path().filename().string();
    EXPECT_EQ(file.find(".tmp"), std::string::npos) << file;
    EXPECT_FALSE(file.ends_with(".claim")) << file;
  }
  const auto history = registry.history("m");
  EXPECT_EQ(history.size(), static_cast<std::size_t>(total));
  std::set<std::int64_t> recorded;
  for (const auto& entry : history) {
    EXPECT_EQ(entry.action, "publish");
    recorded.insert(entry.to.value_or(-1));
  }
  EXPECT_EQ(recorded.size(), static_cast<std::size_t>(total));
  ASSERT_TRUE(registry.current_version("m"));
  EXPECT_GE(*registry.current_version("m"), 1);
  EXPECT_LE(*registry.current_version("m"), total);
}

} // namespace

TEST(SnapshotRegistryTest, publish_by_8_processes_10_times_each_gives_versions_1_to_80) {
  sluice::testing_support::TempDir dir;
  publish_concurrently(dir.path(), /*use_lock=*/true, 8, 10);
  SnapshotRegistry registry(dir.path());
  expect_every_publish_once(registry, 8, 10);
  EXPECT_EQ(registry.current_version("m"), 80); // with the lock, moves happen in version order
}

TEST(SnapshotRegistryTest, publish_without_the_lock_still_numbers_1_to_80_through_link_claims) {
  sluice::testing_support::TempDir dir;
  publish_concurrently(dir.path(), /*use_lock=*/false, 8, 10);
  expect_every_publish_once(SnapshotRegistry(dir.path()), 8, 10);
}

TEST(SnapshotRegistryTest, publish_skips_numbers_claimed_or_reported_by_others) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry(dir.path(), {.use_lock = false}); // keeps a live-looking claim
  std::filesystem::create_directories(dir / "m");
  write_text(dir / "m" / "v000001.claim", "otherhost 12\n");
  write_text(dir / "m" / "v000002.report.json", "{}"); // its snapshot is still being linked
  const auto version = registry.publish(
      "m", [](const std::filesystem::path& p, std::int64_t) { write_sealed(p, "x"); },
      [](std::int64_t) { return std::string("{}"); });
  EXPECT_EQ(version, 3);
  EXPECT_EQ(read_text(dir / "m" / "v000002.report.json"), "{}");
  EXPECT_TRUE(std::filesystem::exists(dir / "m" / "v000001.claim"));
}

TEST(SnapshotRegistryTest, publish_refuses_a_snapshot_without_a_valid_checksum) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry(dir.path());
  try {
    registry.publish("m", [](const std::filesystem::path& p, std::int64_t) { write_text(p, "unsealed"); },
                     [](std::int64_t) { return std::string("{}"); });
    FAIL() << "an unsealed snapshot was published";
  } catch (const sluice::DataError& error) {
    EXPECT_NE(std::string(error.what()).find("checksum header"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(registry.versions("m").empty());
  EXPECT_FALSE(registry.current_version("m"));
  EXPECT_FALSE(std::filesystem::exists(registry.report_path("m", 1)));
  for (const auto& entry : std::filesystem::directory_iterator(dir / "m")) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
    EXPECT_FALSE(entry.path().filename().string().ends_with(".claim")) << entry.path();
  }
}

TEST(SnapshotRegistryTest, publish_refuses_escaping_model_names_before_touching_anything) {
  sluice::testing_support::TempDir dir;
  SnapshotRegistry registry(dir / "registry");
  auto write = [](const std::filesystem::path& p, std::int64_t) { write_sealed(p, "x"); };
  auto report = [](std::int64_t) { return std::string("{}"); };
  for (const std::string& name : std::vector<std::string>{"../outside", "a/b", "..", ".", "", ".hidden", std::string("a\0b", 3),
                                 std::string(129, 'n'), "/abs"}) {
    EXPECT_THROW(registry.publish(name, write, report), sluice::ConfigError) << name;
    EXPECT_THROW(registry.check_publishable(name), sluice::ConfigError) << name;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "outside"));
  EXPECT_FALSE(std::filesystem::exists(dir / "registry"));
}
