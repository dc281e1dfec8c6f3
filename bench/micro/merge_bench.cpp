// SufficientStats::merge: the pairwise update run once per tile, per partition and per reduce step.
#include "bench_data.hpp"

#include "sluice/model/sufficient_stats.hpp"

#include <benchmark/benchmark.h>

namespace sluice::bench {
namespace {

model::SufficientStats random_stats(Eigen::Index num_columns, std::int64_t count,
                                    std::uint64_t seed) {
  model::SufficientStats stats = model::SufficientStats::empty(num_columns);
  const Eigen::MatrixXd rows = random_block(4 * num_columns, num_columns, seed);
  stats.count = count;
  stats.mean = rows.colwise().mean().transpose();
  const Eigen::MatrixXd centred = rows.rowwise() - stats.mean.transpose();
  stats.comoment = centred.transpose() * centred;
  return stats;
}

void BM_merge(benchmark::State& state) {
  const Eigen::Index num_columns = state.range(0) + 1;
  const model::SufficientStats other = random_stats(num_columns, 65536, 5);
  model::SufficientStats total = random_stats(num_columns, 65536, 6);
  for (auto _ : state) {
    total.merge(other);
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(total.comoment.data());
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_merge)->ArgName("d")->Arg(32)->Arg(128)->Unit(benchmark::kNanosecond)->UseRealTime();

} // namespace
} // namespace sluice::bench
