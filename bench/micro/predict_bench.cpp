// Serving cost: snapshot::predict row by row over a block, against one Eigen matrix-vector product.
#include "bench_data.hpp"

#include "sluice/snapshot/snapshot.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>

namespace sluice::bench {
namespace {

constexpr Eigen::Index block_rows = 4096;

snapshot::Snapshot model_with_features(Eigen::Index num_features) {
  snapshot::Snapshot model;
  model.coefficients = random_block(num_features, 1, 9).col(0);
  model.intercept = 0.5;
  return model;
}

// Rows are stored as the columns of a d × n matrix so each row is contiguous, the layout a
// server would receive one request at a time.
void BM_predict_rows(benchmark::State& state) {
  const Eigen::Index num_features = state.range(0);
  const snapshot::Snapshot model = model_with_features(num_features);
  const Eigen::MatrixXd rows = random_block(num_features, block_rows, 10);
  Eigen::VectorXd predictions(block_rows);
  for (auto _ : state) {
    for (Eigen::Index i = 0; i < block_rows; ++i)
      predictions(i) = snapshot::predict(model, rows.col(i));
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(predictions.data());
  state.SetItemsProcessed(state.iterations() * block_rows);
}

// The batched equivalent: intercept + Xw for the whole block in one GEMV.
void BM_predict_block_gemv(benchmark::State& state) {
  const Eigen::Index num_features = state.range(0);
  const snapshot::Snapshot model = model_with_features(num_features);
  const Eigen::MatrixXd rows = random_block(num_features, block_rows, 10);
  Eigen::VectorXd predictions(block_rows);
  for (auto _ : state) {
    predictions.noalias() = rows.transpose() * model.coefficients;
    predictions.array() += model.intercept;
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(predictions.data());
  state.SetItemsProcessed(state.iterations() * block_rows);
}

BENCHMARK(BM_predict_rows)
    ->ArgNames({"d"})->ArgsProduct({{8, 32, 128}})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_predict_block_gemv)
    ->ArgNames({"d"})->ArgsProduct({{8, 32, 128}})->Unit(benchmark::kMicrosecond)->UseRealTime();

} // namespace
} // namespace sluice::bench
