// XᵀX accumulation: BlockAccumulator::add_block at 1 and 2 threads, its gram_lower kernel alone,
// and a bare Eigen baseline.
// d = 8, 32, 128 features means d + 1 columns, the label being accumulated with them.
#include "bench_data.hpp"

#include "sluice/model/block_accumulator.hpp"
#include "sluice/model/gram.hpp"

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

// The kernel add_block runs per tile (products and column sums), without the centring, merge or
// threads around it.
void BM_gram_lower(benchmark::State& state) {
  const Eigen::Index num_columns = state.range(0) + 1;
  const Eigen::MatrixXd block = random_block(block_rows, num_columns, 3);
  const std::int64_t tile_rows = model::BlockAccumulator::tile_rows;
  Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(num_columns, num_columns);
  Eigen::VectorXd sums(num_columns);
  for (auto _ : state) {
    for (std::int64_t start = 0; start < block_rows; start += tile_rows) {
      model::gram_lower(block.data() + start, block.outerStride(), tile_rows, num_columns,
                        gram.data(), gram.outerStride(), sums.data());
    }
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
BENCHMARK(BM_gram_lower)
    ->ArgNames({"d"})->ArgsProduct({{8, 32, 128}})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_eigen_rank_update)
    ->ArgNames({"d"})->ArgsProduct({{8, 32, 128}})->Unit(benchmark::kMicrosecond)->UseRealTime();

} // namespace
} // namespace sluice::bench
