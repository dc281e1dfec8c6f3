// fit_in_process: the engine's pass loop over in-memory partitions, without MPI or files, for
// unit tests of model kinds. Same tiling, same merge tree, same update order as `sluice run`.
#pragma once

#include "sluice/model/trainer.hpp"
#include "sluice/schedule/transport.hpp"
#include "sluice/schedule/tree_reduce.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <map>
#include <vector>

namespace sluice::testing_support {

struct InProcessOptions {
  std::int64_t block_rows = 16384;
  int num_threads = 1;
  sluice::model::NonFinitePolicy nonfinite = sluice::model::NonFinitePolicy::error;
  int max_passes = 1000;
  /// Each partition's PartitionKey::path_hash (lake::path_hash of its relative path in a real
  /// lake); empty: made-up distinct values.
  std::vector<std::uint64_t> path_hashes;
  /// The split grid (lake.split_rows): each partition is accumulated in segments of this many
  /// rows, whose partials are folded left to right before the partitions merge.
  std::int64_t split_rows = std::int64_t{1} << 40;
};

/// Runs every pass of `trainer` over `partitions` (each rows × trainer.columns(), column-major).
/// Returns the number of passes.
inline int fit_in_process(sluice::model::Trainer& trainer,
                          const std::vector<Eigen::MatrixXd>& partitions,
                          const InProcessOptions& options = {}) {
  sluice::schedule::InProcessNetwork network(1);
  std::vector<int> owner(partitions.size(), 0);
  int pass = 0;
  bool is_more = true;
  while (is_more && pass < options.max_passes) {
    std::map<std::size_t, std::vector<double>> partials;
    for (std::size_t i = 0; i < partitions.size(); ++i) {
      const Eigen::MatrixXd& data = partitions[i];
      const std::int64_t rows = data.rows();
      const std::int64_t block_rows = std::min(options.block_rows, std::max<std::int64_t>(rows, 1));
      std::vector<double> folded;
      for (std::int64_t first = 0; first < rows || first == 0; first += options.split_rows) {
        auto accumulator = trainer.make_accumulator(
            {.index = i,
             .path_hash = options.path_hashes.empty() ? 0x9e3779b97f4a7c15ULL * (i + 1)
                                                      : options.path_hashes[i]},
            {.nonfinite = options.nonfinite, .num_threads = options.num_threads,
             .first_row = first});
        const std::int64_t end = std::min(rows, first + options.split_rows);
        for (std::int64_t row = first; row < end; row += block_rows) {
          const std::int64_t count = std::min(block_rows, end - row);
          accumulator->add_block(data.data() + row, data.rows(), count, options.num_threads);
        }
        sluice::schedule::combine(folded, accumulator->finish(),
                                  [&](std::vector<double>& into, const std::vector<double>& from) {
                                    trainer.merge(into, from);
                                  });
        if (rows == 0) break;
      }
      partials[i] = std::move(folded);
    }
    std::vector<double> merged = sluice::schedule::tree_reduce(
        network.endpoint(0), owner, std::move(partials),
        [&](std::vector<double>& into, const std::vector<double>& from) { trainer.merge(into, from); });
    is_more = trainer.update(merged);
    ++pass;
  }
  return pass;
}

} // namespace sluice::testing_support
