// sluice gen: write a synthetic lake with a known truth (and optionally a job file for it).
#include "commands.hpp"

#include "sluice/lake/synthetic_lake.hpp"
#include "sluice/schedule/collective.hpp"
#include "sluice/snapshot/atomic_file.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace sluice::app {
namespace {

struct GenArguments {
  lake::SyntheticLakeOptions lake;
  std::string truth_file;
  std::string job_file;
  std::string registry = "registry";
  std::string name = "demo";
  double alpha = 1.0;
  std::int64_t block_rows = 16384;
};

std::string job_text(const GenArguments& a, const lake::SyntheticTruth& truth,
                     const std::filesystem::path& job_directory) {
  auto relative = [&](const std::filesystem::path& p) {
    return std::filesystem::absolute(p).lexically_relative(std::filesystem::absolute(job_directory)).generic_string();
  };
  std::vector<std::string> quoted;
  for (const std::string& name : truth.feature_names) quoted.push_back(fmt::format("\"{}\"", name));
  return fmt::format(R"(# Ridge regression over a synthetic lake written by `sluice gen`.
[lake]
path = "{}"
glob = "**/*.h5"
block_rows = {}

[model]
kind = "ridge"
features = [{}]
label = "{}"
alpha = {}

[publish]
registry = "{}"
name = "{}"
)",
                     relative(a.lake.root), a.block_rows, fmt::join(quoted, ", "), truth.label,
                     a.alpha, relative(a.registry), a.name);
}

int generate(const mpi::Communicator& comm, const GenArguments& a) {
  std::optional<schedule::LocalFailure> failure;
  try {
    for (std::int64_t i = comm.rank(); i < a.lake.num_partitions; i += comm.size()) {
      lake::write_synthetic_partition(a.lake, i);
    }
  } catch (const std::exception& error) {
    failure = schedule::LocalFailure::of(comm.rank(), error);
  }
  schedule::raise_if_any_failed(comm, failure);
  if (!comm.is_root()) return 0;

  const lake::SyntheticTruth truth = lake::synthetic_truth(a.lake);
  const std::int64_t total = a.lake.num_partitions * a.lake.rows_per_partition;
  fmt::print("wrote {} partitions, {} rows, {} features to {}\n", a.lake.num_partitions, total,
             a.lake.num_features, a.lake.root.string());
  fmt::print("truth: intercept={:.17g} coefficients=[{:.17g}]\n", truth.intercept,
             fmt::join(truth.coefficients, ", "));
  if (!a.truth_file.empty()) {
    nlohmann::json document = {{"coefficients", truth.coefficients},
                               {"intercept", truth.intercept},
                               {"noise", truth.noise},
                               {"features", truth.feature_names},
                               {"label", truth.label},
                               {"rows", total}};
    snapshot::write_file_atomically(a.truth_file, document.dump(2) + "\n");
  }
  if (!a.job_file.empty()) {
    std::filesystem::path job_path = std::filesystem::absolute(a.job_file);
    std::filesystem::create_directories(job_path.parent_path());
    snapshot::write_file_atomically(job_path, job_text(a, truth, job_path.parent_path()));
    fmt::print("job file: {}\n", job_path.string());
  }
  return 0;
}

} // namespace

void add_gen_command(CLI::App& app, Command& selected) {
  auto a = std::make_shared<GenArguments>();
  CLI::App* command = app.add_subcommand("gen", "Write a synthetic lake y = X·w + b + noise");
  command->add_option("--out", a->lake.root, "Lake directory to write")->required();
  command->add_option("--partitions", a->lake.num_partitions, "Number of partition files")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{10'000'000}));
  command->add_option("--rows", a->lake.rows_per_partition, "Mean rows per partition")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1'000'000'000'000}));
  command->add_option("--features", a->lake.num_features, "Number of float64 features")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100'000}));
  command->add_option("--seed", a->lake.seed, "Random seed (same seed, same bytes)");
  command->add_option("--skew", a->lake.skew, "Partition i gets rows ∝ 1/(i+1)^skew")
      ->check(CLI::Range(0.0, 10.0));
  command->add_option("--noise", a->lake.noise, "Label noise standard deviation")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--days", a->lake.num_days, "Number of day=... Hive directories")
      ->check(CLI::PositiveNumber);
  command->add_option("--chunk-rows", a->lake.storage.chunk_rows, "Chunked storage (0: contiguous)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--deflate", a->lake.storage.deflate_level, "Deflate level 0-9 (needs chunks)")
      ->check(CLI::Range(0, 9));
  command->add_flag("--shuffle", a->lake.storage.is_shuffled, "Shuffle filter (needs chunks)");
  command->add_option("--truth", a->truth_file, "Write the true coefficients as JSON here");
  command->add_option("--job", a->job_file, "Write a job file for this lake here");
  command->add_option("--registry", a->registry, "Registry the job file publishes to");
  command->add_option("--name", a->name, "Model name the job file publishes");
  command->add_option("--alpha", a->alpha, "Ridge alpha in the job file")->check(CLI::NonNegativeNumber);
  command->add_option("--block-rows", a->block_rows, "block_rows in the job file")
      ->check(CLI::PositiveNumber);
  command->callback([a, &selected] {
    if ((a->lake.storage.deflate_level > 0 || a->lake.storage.is_shuffled) &&
        a->lake.storage.chunk_rows == 0) {
      throw CLI::ValidationError("--deflate/--shuffle", "need --chunk-rows > 0");
    }
    selected.collective = [a](const mpi::Communicator& comm) { return generate(comm, *a); };
  });
}

} // namespace sluice::app
