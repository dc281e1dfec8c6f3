// Collective failure agreement: a failure on any rank becomes the same exception on every rank.
#pragma once

#include "sluice/error.hpp"
#include "sluice/mpi/communicator.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace sluice::schedule {

/// An error every rank of the communicator throws together, with the same message: the program
/// can report it once (on rank 0) and end every rank normally.
class AgreedError : public Error {
public:
  explicit AgreedError(const std::string& message, ErrorKind kind = ErrorKind::internal)
      : Error(message), kind_(kind) {}
  /// The class of the original failure (configuration, data, numerical, io, internal).
  ErrorKind kind() const noexcept { return kind_; }

private:
  ErrorKind kind_;
};

/// A failure one rank met during a phase. `order` ranks failures so every run reports the same
/// one (e.g. the partition index); ties go to the lower rank.
struct LocalFailure {
  std::int64_t order = 0;
  std::string message;
  ErrorKind kind = ErrorKind::internal;

  /// The failure an exception describes, keeping its class.
  static LocalFailure of(std::int64_t order, const std::exception& error);
};

/// Collective: if any rank passes a failure, every rank throws AgreedError carrying the
/// failure of lowest order. Call it at the end of every phase that can fail locally, so no rank
/// is left waiting in a later collective.
void raise_if_any_failed(const mpi::Communicator& comm, const std::optional<LocalFailure>& failure);

} // namespace sluice::schedule
