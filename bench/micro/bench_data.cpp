// Scratch space and random blocks for the micro-benchmarks.
#include "bench_data.hpp"

#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>

namespace sluice::bench {
namespace {

std::filesystem::path make_scratch_directory() {
  std::string pattern = (std::filesystem::temp_directory_path() / "sluice-micro-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  }
  return pattern;
}

bool has_scratch_directory = false;

} // namespace

const std::filesystem::path& scratch_directory() {
  static const std::filesystem::path directory = [] {
    std::filesystem::path made = make_scratch_directory();
    has_scratch_directory = true;
    return made;
  }();
  return directory;
}

void remove_scratch_directory() {
  if (!has_scratch_directory)
    return;
  std::error_code ignored;
  std::filesystem::remove_all(scratch_directory(), ignored);
}

Eigen::MatrixXd random_block(Eigen::Index rows, Eigen::Index columns, std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  Eigen::MatrixXd block(rows, columns);
  for (Eigen::Index j = 0; j < columns; ++j) {
    for (Eigen::Index i = 0; i < rows; ++i)
      block(i, j) = normal(generator);
  }
  return block;
}

} // namespace sluice::bench
