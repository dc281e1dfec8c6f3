// PipelineRunner: applies a pipeline to blocks of raw rows, one column at a time. One per thread;
// its buffers are reused from block to block, so a block costs no allocation once warm.
#pragma once

#include "sluice/transform/pipeline.hpp"

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sluice::transform {

class Expression;

/// Which rows of the split a runner keeps.
enum class RowSet { all, training, validation };

/// What the runner knows of the partition the block comes from.
struct BlockSource {
  const std::map<std::string, std::string>* hive_keys = nullptr; ///< the partition's key=value
  std::uint64_t path_hash = 0;   ///< lake::path_hash of the partition's relative path
  std::int64_t first_row = 0;    ///< the block's first row within the partition
  std::string partition;         ///< for messages
};

/// Sees the values reaching a step fitted in the runner's pass (one column at a time).
using StepObserver =
    std::function<void(std::size_t step, std::size_t column, const double* values, std::int64_t rows)>;

/// The pass every step is fitted for: apply the whole pipeline.
inline constexpr int fully_fitted = std::numeric_limits<int>::max();

class PipelineRunner {
public:
  /// Applies the steps usable in `pass` (those fitted in earlier passes and the stateless ones
  /// whose inputs are ready); steps fitted in `pass` are shown to `observer` instead.
  PipelineRunner(const Pipeline& pipeline, int pass, RowSet rows, StepObserver observer = {});
  ~PipelineRunner();
  PipelineRunner(PipelineRunner&&) noexcept;

  /// Runs the block: `raw` is column-major rows × pipeline.raw_inputs() with leading dimension
  /// ld (followed by pipeline.hive_key_columns() when source.hive_keys is null). Returns the rows kept. Throws DataError naming the step, column and row on a value a
  /// step refuses (an unseen category under unseen = "error", a non-integer category).
  std::int64_t apply(const double* raw, std::int64_t ld, std::int64_t rows, const BlockSource& source);

  std::int64_t rows() const noexcept { return rows_; }
  /// The kept rows' values of a pipeline column (valid until the next apply).
  const double* column(int slot) const { return slots_[static_cast<std::size_t>(slot)].data(); }
  /// Each kept row's index within its partition.
  const std::int64_t* row_index() const noexcept { return row_index_.data(); }
  /// Copies the kept rows of the given columns into a column-major block.
  void gather(const std::vector<int>& slots, double* out, std::int64_t ld) const;
  /// Rows that entered apply() and, per row-dropping step (in step order), rows left after it,
  /// summed over every call.
  const std::vector<std::int64_t>& kept_counts() const noexcept { return kept_counts_; }
  /// The row-dropping steps counted by kept_counts (after the first entry, which is the split).
  const std::vector<std::size_t>& row_steps() const noexcept { return row_steps_; }

private:
  void keep_rows(const std::vector<char>& keep);
  void run_step(std::size_t index, const BlockSource& source);

  const Pipeline* pipeline_;
  int pass_;
  RowSet row_set_;
  StepObserver observer_;
  struct Scratch;
  std::unique_ptr<Scratch> scratch_;
  std::vector<std::vector<double>> slots_;
  std::vector<char> is_live_;          // slot holds this block's values
  std::vector<std::int64_t> row_index_;
  std::int64_t rows_ = 0;
  std::size_t num_raw_ = 0;
  std::vector<std::int64_t> kept_counts_;
  std::vector<std::size_t> row_steps_;
  std::vector<char> keep_;
};

/// Whether a row falls in the validation set of a hash split: a hash of (seed, partition path,
/// row) below the fraction. The same rows on any rank and thread count, and for `predict`.
bool is_validation_row(const Split& split, std::uint64_t path_hash, std::int64_t row);

/// The value a Hive key takes as a column: the number, when the value is one, else its position
/// among the key's sorted values (NaN when unknown).
double hive_key_value(const std::vector<std::string>& values, const std::string& value);

} // namespace sluice::transform
