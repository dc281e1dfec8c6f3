// Test fixture helpers: write a synthetic lake from all ranks and build a job for it.
#pragma once

#include "sluice/job/job_spec.hpp"
#include "sluice/lake/synthetic_lake.hpp"
#include "sluice/mpi/communicator.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string>

namespace sluice::testing_support {

/// Every rank writes its share of the partitions; returns once the whole lake exists.
inline void write_lake(const mpi::Communicator& comm, const lake::SyntheticLakeOptions& options) {
  for (std::int64_t i = comm.rank(); i < options.num_partitions; i += comm.size()) {
    lake::write_synthetic_partition(options, i);
  }
  comm.barrier();
}

/// A job over x00..x{d-1} -> y; `extra_model` and `extra_lake` lines are appended to the tables.
inline std::string job_text(std::int64_t num_features, const std::string& name,
                            const std::string& extra_model = "alpha = 0.5",
                            const std::string& extra_lake = "block_rows = 1000") {
  std::vector<std::string> features;
  for (std::int64_t j = 0; j < num_features; ++j) features.push_back(fmt::format("\"x{:02d}\"", j));
  return fmt::format("[lake]\npath = \"lake\"\n{}\n[model]\nfeatures = [{}]\nlabel = \"y\"\n{}\n"
                     "[publish]\nregistry = \"registry\"\nname = \"{}\"\n",
                     extra_lake, fmt::join(features, ", "), extra_model, name);
}

inline job::JobSpec make_job(const std::filesystem::path& base, const std::string& text) {
  return job::parse_job(text, base, "job.toml");
}

} // namespace sluice::testing_support
