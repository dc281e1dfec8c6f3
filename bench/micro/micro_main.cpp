// Runs the micro-benchmarks with Eigen single-threaded and deletes the scratch data afterwards.
#include "bench_data.hpp"

#include <Eigen/Core>
#include <benchmark/benchmark.h>

int main(int argc, char** argv) {
  // Eigen's own threading slowed GEMM down on our machines; threads are ours to place.
  Eigen::setNbThreads(1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  sluice::bench::remove_scratch_directory();
  return 0;
}
