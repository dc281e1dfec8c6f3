// Progress: rank 0 shows partitions done, rows/s and ETA while the ranks read and accumulate.
#pragma once

#include "sluice/error.hpp"
#include "sluice/mpi/communicator.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::coordinator {

/// Other ranks report each finished partition to rank 0 with a small message on a private
/// communicator; rank 0 folds them in whenever it finishes a partition of its own and, once its
/// own work is done, until every rank has said it is done. On a terminal rank 0 draws a live bar,
/// otherwise it prints a line every few seconds (SLUICE_PROGRESS_SECONDS, default 5);
/// SLUICE_PROGRESS=bar|lines|off overrides the choice.
/// Rank 0 heard nothing from a rank for longer than the peer timeout while waiting for it: the
/// rank is stopped, hung or cut off. Thrown on rank 0 alone (the silent rank cannot agree), so
/// the application must end the job (sluice aborts it, which makes mpirun kill every rank).
class PeerSilentError : public IoError {
public:
  using IoError::IoError;
};

class Progress {
public:
  /// `work` weighs each partition for the fraction done and the ETA: its rows when they are
  /// known, its file size in the first pass (files are opened only when read). Collective.
  /// `peer_timeout_s` > 0: the other ranks send a heartbeat at least every
  /// peer_timeout_s / 5 s (from heartbeat(), between blocks), and rank 0, between its own blocks
  /// (heartbeat()) and while it waits for the others, throws PeerSilentError naming a rank (and
  /// its host) it has not heard from for longer.
  Progress(const mpi::Communicator& comm, const std::vector<int>& owner,
           const std::vector<std::int64_t>& work, double peer_timeout_s = 0.0);

  void partition_done(std::int64_t rows, std::int64_t bytes, std::int64_t work);
  /// Between blocks, on the thread that talks MPI: other ranks tell rank 0 they are alive; rank 0
  /// takes their messages in and checks that none has gone silent.
  void heartbeat();
  /// Collective in effect: rank 0 returns once every rank called local_done.
  void local_done();
  /// Rank 0, while it waits on the other ranks for something else (dynamic assignment): folds
  /// their messages in and throws PeerSilentError for a rank silent past the timeout.
  void poll();

private:
  void drain(bool is_blocking);
  void send(std::int64_t a, std::int64_t b, std::int64_t c);
  void check_silence(double now) const;
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
  double peer_timeout_s_ = 0.0;
  double last_sent_ = 0.0;
  std::vector<double> last_heard_;    ///< rank 0: when each rank was last heard from
  std::vector<char> is_rank_done_;    ///< rank 0
  std::vector<std::string> hosts_;    ///< rank 0: each rank's host, for the message
};

} // namespace sluice::coordinator
