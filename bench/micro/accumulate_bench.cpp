// XᵀX accumulation: BlockAccumulator::add_block at 1 and 2 threads, and a bare Eigen baseline.
// d = 8, 32, 128 features means d + 1 columns, the label being accumulated with them.
#include "bench_data.hpp"

#include "sluice/model/block_accumulator.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>

namespace sluice::bench {
namespace {

// The default [lake] block_rows, so one call here is one block of a real run.
constexpr Eigen::Index block_rows = 65536;

void BM_add_block(benchmark::State& state) {
  const Eigen::Index num_columns = state.range(0) + 1;
  const Eigen::MatrixXd block = random_block(block_rows, num_columns, 3);
  model::BlockAccumulator accumulator(num_columns,
                                      {.nonfinite = model::NonFinitePolicy::error,
                                       .num_threads = static_cast<int>(state.range(1))});
  for (auto _ : state) {
    accumulator.add_block(block.data(), block.outerStride(), block.rows());
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(accumulator.stats().comoment.data());
  state.SetItemsProcessed(state.iterations() * block_rows);
  state.SetBytesProcessed(state.iterations() * block_rows * num_columns *
                          static_cast<std::int64_t>(sizeof(double)));
}

// The floor add_block is measured against: the uncentred Gram matrix of the block, one thread,
// with no tiling, finiteness check or merge.
void BM_eigen_rank_update(benchmark::State& state) {
  const Eigen::Index num_columns = state.range(0) + 1;
  const Eigen::MatrixXd block = random_block(block_rows, num_columns, 3);
  Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(num_columns, num_columns);
  for (auto _ : state) {
    gram.selfadjointView<Eigen::Lower>().rankUpdate(block.transpose());
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(gram.data());
  state.SetItemsProcessed(state.iterations() * block_rows);
  state.SetBytesProcessed(state.iterations() * block_rows * num_columns *
                          static_cast<std::int64_t>(sizeof(double)));
}

BENCHMARK(BM_add_block)
    ->ArgNames({"d", "threads"})
    ->ArgsProduct({{8, 32, 128}, {1, 2}})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_eigen_rank_update)
    ->ArgNames({"d"})->ArgsProduct({{8, 32, 128}})->Unit(benchmark::kMicrosecond)->UseRealTime();

} // namespace
} // namespace sluice::bench
