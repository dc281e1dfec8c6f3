// STREAM-style triad a[i] = b[i] + s*c[i]: the memory bandwidth ceiling for streaming columns.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace {

void usage() {
  std::fprintf(stderr, "usage: sluice_limit_triad [--elements N] [--reps K] [--threads T]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  // 2^25 doubles = 256 MiB per array: far beyond any last-level cache, so DRAM is measured.
  long n = 1L << 25;
  int reps = 10;
  int threads = omp_get_max_threads();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage();
    if (a == "--elements") n = std::atol(argv[++i]);
    else if (a == "--reps") reps = std::atoi(argv[++i]);
    else if (a == "--threads") threads = std::atoi(argv[++i]);
    else usage();
  }
  if (n <= 0 || reps <= 0 || threads <= 0) usage();
  omp_set_num_threads(threads);

  std::unique_ptr<double[]> a(new double[n]), b(new double[n]), c(new double[n]);
  // First touch with the same static schedule as the timed loop, so pages sit near their thread.
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; ++i) {
    a[i] = 0.0;
    b[i] = 1.0;
    c[i] = 2.0;
  }

  const double s = 3.0;
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
    auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  // Keep the compiler from discarding the stores, and catch a broken loop.
  double check = a[0] + a[n / 2] + a[n - 1];
  if (check != 3 * 7.0) {
    std::fprintf(stderr, "triad: wrong result %g\n", check);
    return 1;
  }
  // STREAM counts 3 arrays moved per iteration (2 reads, 1 write), not the write-allocate read.
  const double bytes = 3.0 * 8.0 * static_cast<double>(n);
  std::printf("triad threads=%d elements=%ld best_s=%.6f GB_per_s=%.3f\n", threads, n, best,
              bytes / best / 1e9);
  std::printf("ROW,triad,stream triad,1,%d,%.6f,,%.3f\n", threads, best, bytes / best / 1e9);
  return 0;
}
