// Progress: rank 0 shows partitions done, rows/s and ETA while the ranks read and accumulate.
#pragma once

#include "sluice/mpi/communicator.hpp"

#include <cstdint>
#include <vector>

namespace sluice::coordinator {

/// Other ranks report each finished partition to rank 0 with a small message on a private
/// communicator; rank 0 folds them in whenever it finishes a partition of its own and, once its
/// own work is done, until every rank has said it is done. On a terminal rank 0 draws a live bar,
/// otherwise it prints a line every few seconds (SLUICE_PROGRESS_SECONDS, default 5);
/// SLUICE_PROGRESS=bar|lines|off overrides the choice.
class Progress {
public:
  /// `work` weighs each partition for the fraction done and the ETA: its rows when they are
  /// known, its file size in the first pass (files are opened only when read).
  Progress(const mpi::Communicator& comm, const std::vector<int>& owner,
           const std::vector<std::int64_t>& work);

  void partition_done(std::int64_t rows, std::int64_t bytes, std::int64_t work);
  /// Collective in effect: rank 0 returns once every rank called local_done.
  void local_done();

private:
  void drain(bool is_blocking);
  void record(std::int64_t rows, std::int64_t bytes, std::int64_t work);
  void show(bool is_final);

  mpi::Communicator comm_;
  std::int64_t total_partitions_ = 0;
  std::int64_t total_work_ = 0;
  std::int64_t done_work_ = 0;
  std::int64_t done_partitions_ = 0;
  std::int64_t done_rows_ = 0;
  std::int64_t done_bytes_ = 0;
  int ranks_done_ = 0;
  double start_ = 0.0;
  double last_shown_ = 0.0;
  double interval_s_ = 5.0;
  bool is_terminal_ = false;
  bool is_silent_ = false;
};

} // namespace sluice::coordinator
