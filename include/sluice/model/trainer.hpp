// The plug-in interface every model kind implements: passes of mergeable per-partition partials,
// an update after each merged pass, and a fitted model that saves, loads and scores itself.
#pragma once

#include "sluice/model/block_accumulator.hpp"
#include "sluice/model/parameters.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::model {

/// A partition's contribution to one pass: a flat vector of doubles. Most kinds use a fixed size
/// per pass; an empty vector is the identity of every merge (a partition that contributed nothing).
using Partial = std::vector<double>;

/// What a trainer may know about the partition it accumulates: random choices and folds are keyed
/// by it, never by rank or thread.
struct PartitionKey {
  std::size_t index = 0;      ///< position in the lake's sorted partition list
  std::uint64_t path_hash = 0; ///< XXH3-64 of the relative path: stable when partitions are added
  const std::map<std::string, std::string>* hive_keys = nullptr; ///< its key=value directories
  std::string_view path;       ///< for messages
};

/// Accumulates one partition for one pass. Blocks arrive in row order; each block is cut into
/// tiles of tile_rows rows counted from the block's start. compute_tile may run on several
/// threads at once for distinct tiles; begin_block, end_block and finish run on one thread.
/// Tiles are folded in tile order, so the partial has the same bits for any thread count.
class PartialAccumulator {
public:
  static constexpr std::int64_t tile_rows = 2048;

  virtual ~PartialAccumulator() = default;

  /// Prepares a block of `rows` rows; returns its number of tiles.
  virtual std::int64_t begin_block(std::int64_t rows) = 0;
  /// The engine's entry point: begin_block with the block's values, for accumulators that
  /// transform the whole block before its tiles are computed (a pipeline). compute_tile then
  /// receives the same pointer, which such an accumulator may ignore.
  virtual std::int64_t prepare_block(const double* data, std::int64_t leading_dimension,
                                     std::int64_t rows) {
    (void)data;
    (void)leading_dimension;
    return begin_block(rows);
  }
  /// One tile of a column-major block (all the trainer's columns, leading dimension ld).
  virtual void compute_tile(std::int64_t tile, const double* data, std::int64_t leading_dimension,
                            std::int64_t rows) = 0;
  virtual void end_block(std::int64_t rows) = 0;
  /// The partition's partial, once every block was added.
  virtual Partial finish() = 0;
  /// Non-finite values met (left out of the partial, or the rows dropped, per the policy).
  virtual NonFiniteReport nonfinite() const = 0;

  /// begin_block, every tile on `num_threads` OpenMP threads, end_block.
  void add_block(const double* data, std::int64_t leading_dimension, std::int64_t rows,
                 int num_threads);
};

/// One named value per metric, in a fixed order (e.g. rmse, r2).
using Metrics = std::vector<std::pair<std::string, double>>;

/// Per-iteration history: column names and one row per iteration (e.g. iteration, loss, seconds).
struct History {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;
};

/// A fitted model: what a snapshot stores and what serving loads. Immutable and thread-safe.
class FittedModel {
public:
  virtual ~FittedModel() = default;
  virtual std::string_view kind() const = 0;
  /// The input columns of score(), in order.
  virtual const std::vector<std::string>& features() const = 0;
  /// The columns score() writes, in order (e.g. "prediction"; "probability", "class").
  virtual std::vector<std::string> outputs() const = 0;
  /// Scores `rows` rows: `in` is column-major rows × features() with leading dimension in_ld,
  /// `out` column-major rows × outputs() with leading dimension out_ld.
  virtual void score(const double* in, std::int64_t in_ld, std::int64_t rows, double* out,
                     std::int64_t out_ld) const = 0;
  /// Writes the parameters and hyper-parameters (docs/snapshot-format.md, per kind).
  virtual void save(ParameterWriter& writer) const = 0;
  /// A one-line human summary of the hyper-parameters (for `snapshots show`).
  virtual std::string describe() const = 0;
};

/// A model kind's training logic. The engine calls, for pass = 0, 1, ...: make_accumulator for
/// each partition, merge along a tree fixed by partition index, then update with the merged
/// partial on every rank; when update returns false, finish. Every call sees the same inputs on
/// every rank, so every rank holds the same state without a broadcast.
class Trainer {
public:
  virtual ~Trainer() = default;
  virtual std::string_view kind() const = 0;
  /// The columns read from every partition, in block order.
  virtual const std::vector<std::string>& columns() const = 0;
  /// How messages name column `index` of a NonFiniteReport: the block's column, quoted.
  virtual std::string report_column(std::int64_t index) const {
    return "'" + columns().at(static_cast<std::size_t>(index)) + "'";
  }
  /// Whether fitting takes more than one pass (the engine then keeps data in memory if it fits).
  virtual bool is_iterative() const = 0;
  /// A short name of the current pass for progress and the run report ("statistics", "newton 3").
  virtual std::string pass_name() const = 0;
  /// Whether the current pass's merged partial is needed only on the coordinator (rank 0): its
  /// update then runs there alone, with the other ranks given an empty partial. Only the final
  /// evaluation pass of a kind may ask for this, since the ranks' states differ afterwards.
  virtual bool is_root_only_pass() const { return false; }
  virtual std::unique_ptr<PartialAccumulator> make_accumulator(const PartitionKey& partition,
                                                               const AccumulatorOptions& options) const = 0;
  /// into ← into ⊕ from, where `into` covers partitions left of `from`. Neither is empty.
  virtual void merge(Partial& into, const Partial& from) const = 0;
  /// Consumes the pass's merged partial (empty when no partition contributed); returns whether
  /// another pass is needed. Throws NumericalError or DataError when fitting cannot go on.
  virtual bool update(const Partial& merged) = 0;
  /// The fitted model, its metrics and iteration history, once update returned false.
  virtual std::shared_ptr<const FittedModel> model() const = 0;
  virtual Metrics metrics() const = 0;
  virtual History history() const { return {}; }
  /// Statistics kept for later jobs (count, means, co-moments), where the kind has them.
  virtual const SufficientStats* statistics() const { return nullptr; }
  /// Before the first pass: start the iterations from `previous` (the model this job published
  /// last) instead of from scratch. Returns whether it will: only iterative kinds do, and only
  /// from a model of the same kind, features and shape. The result then differs from a cold
  /// start within the kind's tolerance, not in its bits.
  virtual bool warm_start(const FittedModel& previous) {
    (void)previous;
    return false;
  }
  /// What of a warm start the first pass's partials depend on (they are cached by it); empty
  /// when the first pass does not depend on it.
  virtual std::string warm_start_signature() const { return {}; }
};

} // namespace sluice::model
