// Tests of the job-file parser: valid files, and every kind of malformed one naming its key.
#include "sluice/job/job_spec.hpp"

#include "sluice/error.hpp"
#include "sluice/lake/read_limits.hpp"
#include "sluice/model/model_kinds.hpp"

#include <gtest/gtest.h>

using namespace sluice::job;

namespace {

const char* valid_job = R"(
[lake]
path = "lake"
glob = "day=*/*.h5"
block_rows = 1000
on_bad_partition = "skip"
on_nonfinite = "drop_rows"
[lake.select]
day = ["2026-11-01", "2026-11-02"]
region = "eu"
[model]
kind = "ridge"
features = ["a", "b"]
label = "y"
alpha = 2
[publish]
registry = "/abs/registry"
name = "m-1"
[run]
threads = 2
)";

// The job's own keys are checked by parse_job, the model's by its kind (before any data is read).
std::string error_of(const std::string& text) {
  try {
    sluice::model::make_trainer(parse_job(text, "/base", "job.toml").model);
  } catch (const sluice::ConfigError& error) {
    return error.what();
  }
  return "no error";
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  text.replace(text.find(from), from.size(), to);
  return text;
}

} // namespace

TEST(JobSpecTest, parse_reads_every_key) {
  JobSpec job = parse_job(valid_job, "/base", "job.toml");
  EXPECT_EQ(job.lake.root, "/base/lake");
  EXPECT_EQ(job.lake.glob, "day=*/*.h5");
  EXPECT_EQ(job.lake.block_rows, 1000);
  EXPECT_EQ(job.lake.on_bad_partition, BadPartitionPolicy::skip);
  EXPECT_EQ(job.lake.on_nonfinite, NonFiniteAction::drop_rows);
  EXPECT_EQ(job.lake.selection.at("day").size(), 2u);
  EXPECT_EQ(job.lake.selection.at("region"), std::vector<std::string>{"eu"});
  EXPECT_EQ(job.model.features, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*job.model.params.number("alpha"), 2.0);
  EXPECT_EQ(job.publish.registry, "/abs/registry");
  EXPECT_EQ(job.run.threads, 2);
  EXPECT_EQ(job.columns(), (std::vector<std::string>{"a", "b", "y"}));
  EXPECT_EQ(job.text, valid_job);
}

TEST(JobSpecTest, parse_refuses_unknown_keys_by_full_name) {
  EXPECT_NE(error_of(replaced(valid_job, "glob =", "globb =")).find("unknown key 'lake.globb'"), std::string::npos);
  EXPECT_NE(error_of(std::string(valid_job) + "[extra]\nx = 1\n").find("unknown key 'extra'"), std::string::npos);
  EXPECT_NE(error_of(replaced(valid_job, "threads = 2", "thread = 2")).find("'run.thread'"), std::string::npos);
}

TEST(JobSpecTest, parse_refuses_wrong_types_naming_the_key) {
  EXPECT_NE(error_of(replaced(valid_job, "block_rows = 1000", "block_rows = \"big\"")).find("'lake.block_rows' must be an integer, got a string"), std::string::npos);
  EXPECT_NE(error_of(replaced(valid_job, "features = [\"a\", \"b\"]", "features = \"a\"")).find("'model.features' must be an array"), std::string::npos);
  EXPECT_NE(error_of(replaced(valid_job, "features = [\"a\", \"b\"]", "features = [\"a\", 3]")).find("'model.features' must hold only strings"), std::string::npos);
  EXPECT_NE(error_of(replaced(valid_job, "alpha = 2", "alpha = \"2\"")).find("'model.alpha' must be a number"), std::string::npos);
  EXPECT_NE(error_of("lake = \"x\"\n").find("'lake' must be a table, got a string"), std::string::npos);
}

TEST(JobSpecTest, parse_refuses_invalid_values) {
  EXPECT_NE(error_of(replaced(valid_job, "block_rows = 1000", "block_rows = 0")).find("'lake.block_rows' must be 1..16777216"), std::string::npos);
  EXPECT_NE(error_of(replaced(valid_job, "kind = \"ridge\"", "kind = \"lasso\"")).find("'model.kind' must be one of"), std::string::npos);
  EXPECT_NE(error_of(replaced(valid_job, "alpha = 2", "alpha = -1")).find("'model.alpha'"), std::string::npos);
  EXPECT_NE(error_of(replaced(valid_job, "label = \"y\"", "label = \"a\"")).find("also a feature"), std::string::npos);
  EXPECT_NE(error_of(replaced(valid_job, "[\"a\", \"b\"]", "[\"a\", \"a\"]")).find("twice"), std::string::npos);
  EXPECT_NE(error_of(replaced(valid_job, "name = \"m-1\"", "name = \"../x\"")).find("'publish.name'"), std::string::npos);
  EXPECT_NE(error_of(replaced(valid_job, "kind = \"ridge\"", "kind = \"ols\"")).find("must be 0"), std::string::npos);
  EXPECT_NE(error_of(replaced(valid_job, "on_nonfinite = \"drop_rows\"", "on_nonfinite = \"zero\"")).find("'lake.on_nonfinite'"), std::string::npos);
}

TEST(JobSpecTest, parse_refuses_absurd_sizes_and_long_names) {
  EXPECT_NE(error_of(replaced(valid_job, "block_rows = 1000", "block_rows = 4611686018427387904"))
                .find("'lake.block_rows' must be 1..16777216"),
            std::string::npos);
  EXPECT_EQ(error_of(replaced(valid_job, "block_rows = 1000", "block_rows = 16777216")), "no error");
  const std::string long_name(129, 'n');
  EXPECT_NE(error_of(replaced(valid_job, "name = \"m-1\"", "name = \"" + long_name + "\""))
                .find("'publish.name' is 129 bytes long, at most 128"),
            std::string::npos);
}

TEST(JobSpecTest, parse_refuses_missing_tables_and_bad_syntax) {
  EXPECT_NE(error_of("[lake]\npath = \"x\"\n").find("'model' is missing"), std::string::npos);
  EXPECT_NE(error_of("").find("'lake' is missing"), std::string::npos);
  EXPECT_NE(error_of("[lake\npath = 1").find("job.toml:1"), std::string::npos);
  EXPECT_THROW(load_job("/nonexistent/job.toml"), sluice::ConfigError);
}

TEST(JobSpecTest, parse_reads_and_checks_isolation_keys) {
  const JobSpec defaults = parse_job(valid_job, "/base", "job.toml");
  EXPECT_FALSE(defaults.lake.isolate);
  EXPECT_EQ(defaults.lake.isolate_memory_bytes, 0);
  EXPECT_EQ(defaults.lake.isolate_timeout_s, 300.0);
  const JobSpec set = parse_job(
      replaced(valid_job, "block_rows = 1000",
               "block_rows = 1000\nisolate = true\nisolate_memory_bytes = 536870912\n"
               "isolate_timeout_s = 12.5"),
      "/base", "job.toml");
  EXPECT_TRUE(set.lake.isolate);
  EXPECT_EQ(set.lake.isolate_memory_bytes, 536870912);
  EXPECT_EQ(set.lake.isolate_timeout_s, 12.5);
  EXPECT_EQ(error_of(replaced(valid_job, "block_rows = 1000", "isolate = \"yes\"")),
            "job.toml: 'lake.isolate' must be a boolean, got a string");
  EXPECT_EQ(error_of(replaced(valid_job, "block_rows = 1000", "isolate_memory_bytes = 1048576")),
            "job.toml: 'lake.isolate_memory_bytes' must be 0 (automatic) or at least 268435456 "
            "(256 MiB)");
  for (const std::string value : {"0", "0.5", "86401", "nan"}) {
    EXPECT_EQ(error_of(replaced(valid_job, "block_rows = 1000", "isolate_timeout_s = " + value)),
              "job.toml: 'lake.isolate_timeout_s' must be 1..86400 seconds");
  }
}

TEST(JobSpecTest, parse_reads_and_checks_partition_size_limits) {
  // Without the keys, the job's limits are the reader's defaults.
  const JobSpec defaults = parse_job(valid_job, "/base", "job.toml");
  const sluice::lake::ReadLimits reader_defaults;
  EXPECT_EQ(defaults.lake.max_column_bytes, reader_defaults.max_column_bytes);
  EXPECT_EQ(defaults.lake.max_chunk_bytes, reader_defaults.max_chunk_bytes);
  const JobSpec set = parse_job(
      replaced(valid_job, "block_rows = 1000",
               "block_rows = 1000\nmax_column_bytes = 1099511627776\nmax_chunk_bytes = 65536"),
      "/base", "job.toml");
  EXPECT_EQ(set.lake.max_column_bytes, std::int64_t{1} << 40);
  EXPECT_EQ(set.lake.max_chunk_bytes, 65536);
  for (const std::string key : {"max_column_bytes", "max_chunk_bytes"}) {
    for (const std::string value : {"0", "-8"}) {
      EXPECT_EQ(error_of(replaced(valid_job, "block_rows = 1000", key + " = " + value)),
                "job.toml: 'lake." + key + "' must be a positive number of bytes");
    }
    EXPECT_EQ(error_of(replaced(valid_job, "block_rows = 1000", key + " = \"8 GiB\"")),
              "job.toml: 'lake." + key + "' must be an integer, got a string");
  }
}
