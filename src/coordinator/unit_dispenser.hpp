// UnitDispenser: dynamic assignment — ranks ask rank 0 for their next work unit when idle.
#pragma once

#include "sluice/mpi/communicator.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

namespace sluice::coordinator {

/// Rank 0 hands out a pass's units in the given order (largest first) to whichever rank asks,
/// itself included, so a slow node or a skewed lake does not hold the others up. The assignment
/// changes who reads what, never the bits: partials merge by unit and partition index.
/// Messages travel on a private communicator; rank 0 answers between its own blocks (serve()).
class UnitDispenser {
public:
  /// Collective.
  UnitDispenser(const mpi::Communicator& comm, std::vector<std::size_t> order,
                std::size_t num_units);

  /// This rank's next unit; nothing when none is left, or when `is_halted` (this rank stops
  /// taking units: a failure or a stop request), after which it must not ask again.
  std::optional<std::size_t> next(bool is_halted);
  /// Tells rank 0 this rank takes no more units, unless next() already returned nothing.
  void quit();
  /// Rank 0 (a no-op elsewhere): answers the requests that are waiting.
  void serve();
  /// Collective, once next() said nothing: rank 0 keeps answering until every rank is done,
  /// calling `wait` between polls (progress, silent-peer checks). Returns every unit's reader
  /// (-1: not handed out), the same on every rank.
  std::vector<int> finish(const std::function<void()>& wait);

private:
  void answer(int rank, bool is_halted);

  mpi::Communicator comm_;
  std::deque<std::size_t> queue_; ///< rank 0: units not handed out yet
  std::vector<int> reader_;       ///< rank 0: by unit
  std::vector<char> is_done_;     ///< rank 0: by rank
  int num_done_ = 0;              ///< rank 0: other ranks told "nothing left"
  bool is_finished_ = false;      ///< next() returned nothing: no more requests
};

} // namespace sluice::coordinator
