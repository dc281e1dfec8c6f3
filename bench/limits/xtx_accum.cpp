// XᵀX accumulation alone on in-memory column-major blocks: the compute ceiling for the fit.
// Two kernels: Eigen's SYRK (what a hand-written Eigen code would use) and sluice's own
// gram_lower; the benchmark takes the faster as the limit, so sluice is never judged against a
// ceiling lower than the kernel it runs.
#include "sluice/model/block_accumulator.hpp"
#include "sluice/model/gram.hpp"

#include <Eigen/Dense>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace {

void usage() {
  std::fprintf(stderr,
               "usage: sluice_limit_xtx [--rows N] [--features D] [--block-rows B] [--threads T] "
               "[--reps K] [--kernel eigen|sluice]\n");
  std::exit(2);
}

constexpr long tile_rows = sluice::model::BlockAccumulator::tile_rows; // the tiles sluice uses

using Block = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

}  // namespace

int main(int argc, char** argv) {
  long rows = 8'000'000;
  int d = 32;
  long block_rows = 65536;
  int threads = omp_get_max_threads();
  int reps = 5;
  std::string kernel = "eigen";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage();
    if (a == "--rows") rows = std::atol(argv[++i]);
    else if (a == "--features") d = std::atoi(argv[++i]);
    else if (a == "--block-rows") block_rows = std::atol(argv[++i]);
    else if (a == "--threads") threads = std::atoi(argv[++i]);
    else if (a == "--reps") reps = std::atoi(argv[++i]);
    else if (a == "--kernel") kernel = argv[++i];
    else usage();
  }
  if (rows <= 0 || d <= 0 || block_rows <= 0 || threads <= 0 || reps <= 0) usage();
  if (kernel != "eigen" && kernel != "sluice") usage();
  const bool eigen_kernel = kernel == "eigen";
  // Eigen's own GEMM threading is slower here than splitting rows ourselves.
  Eigen::setNbThreads(1);
  omp_set_num_threads(threads);

  // Column-major blocks, as sluice gets them from per-column datasets. Every row is held in
  // memory so the probe streams from DRAM like a real pass, not from a cache-resident block.
  const long nblocks = (rows + block_rows - 1) / block_rows;
  std::vector<Block> blocks(nblocks);
#pragma omp parallel for schedule(static)
  for (long b = 0; b < nblocks; ++b) {
    const long n = std::min(block_rows, rows - b * block_rows);
    std::mt19937_64 rng(1234 + b);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    blocks[b].resize(n, d);
    for (long j = 0; j < d; ++j)
      for (long i = 0; i < n; ++i) blocks[b](i, j) = u(rng);
  }

  double best = 1e30;
  Eigen::MatrixXd total(d, d);
  for (int r = 0; r < reps; ++r) {
    std::vector<Eigen::MatrixXd> partial(threads, Eigen::MatrixXd::Zero(d, d));
    auto t0 = std::chrono::steady_clock::now();
    // Fixed block boundaries and a static schedule: the same sum order every run.
#pragma omp parallel num_threads(threads)
    {
      Eigen::MatrixXd& acc = partial[omp_get_thread_num()];
      Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(d, d);
      Eigen::VectorXd sums(d);
#pragma omp for schedule(static)
      for (long b = 0; b < nblocks; ++b) {
        if (eigen_kernel) {
          acc.selfadjointView<Eigen::Lower>().rankUpdate(blocks[b].transpose());
        } else {
          // The same tiles sluice hands the kernel, with the sums it computes alongside.
          for (long t = 0; t < blocks[b].rows(); t += tile_rows) {
            const long n = std::min(tile_rows, static_cast<long>(blocks[b].rows()) - t);
            sluice::model::gram_lower(blocks[b].data() + t, blocks[b].rows(), n, d, gram.data(), d,
                                      sums.data());
            acc += gram;
          }
        }
      }
    }
    total.setZero();
    for (auto& p : partial) total += p;
    auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  // Diagonal of XᵀX for U(-1,1) data is rows/3: a cheap check the work was really done.
  const double diag = total(0, 0) / static_cast<double>(rows);
  if (std::abs(diag - 1.0 / 3.0) > 0.01) {
    std::fprintf(stderr, "xtx: implausible result %g\n", diag);
    return 1;
  }
  std::printf("xtx kernel=%s threads=%d rows=%ld features=%d block_rows=%ld best_s=%.6f Mrows_per_s=%.3f\n",
              kernel.c_str(), threads, rows, d, block_rows, best, rows / best / 1e6);
  const double bytes = 8.0 * d * static_cast<double>(rows);
  std::printf("ROW,xtx,%s B=%ld,1,%d,%.6f,%ld,%.3f\n",
              eigen_kernel ? "eigen rankUpdate" : "sluice gram_lower", block_rows, threads, best,
              rows, bytes / best / 1e9);
  return 0;
}
