// Inputs shared by the micro-benchmarks: a scratch directory outside git and seeded random blocks.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <filesystem>

namespace sluice::bench {

/// A directory under $TMPDIR (or /tmp) made on first use; remove_scratch_directory() deletes it.
const std::filesystem::path& scratch_directory();
void remove_scratch_directory();

/// rows × columns standard-normal values, column-major, the same for the same seed.
Eigen::MatrixXd random_block(Eigen::Index rows, Eigen::Index columns, std::uint64_t seed);

} // namespace sluice::bench
