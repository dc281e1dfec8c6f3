// mpi::Communicator: a move-only owner (or borrower) of an MPI communicator with checked collectives.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sluice::mpi {

/// A communicator with explicit ownership. Moves leave MPI_COMM_NULL behind; copies are explicit
/// through dup(). Every operation throws mpi::Error on failure (MPI_ERRORS_RETURN is set).
class Communicator {
public:
  /// Uses comm without taking ownership (e.g. MPI_COMM_WORLD).
  static Communicator borrow(MPI_Comm comm);
  /// Takes ownership of comm; it is freed on destruction.
  static Communicator adopt(MPI_Comm comm);

  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&& other) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  ~Communicator();

  /// A new owned communicator over the same group, so a component's tags cannot collide.
  Communicator dup() const;

  MPI_Comm native() const noexcept { return comm_; }
  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  bool is_root() const noexcept { return rank_ == 0; }

  void barrier() const;
  double wall_time() const;

  /// Root's value of text reaches every rank.
  void broadcast(std::string& text, int root = 0) const;
  void broadcast(std::vector<std::int64_t>& values, int root = 0) const;

  /// Logical AND of flag over all ranks.
  bool all_of(bool flag) const;
  /// Logical OR of flag over all ranks.
  bool any_of(bool flag) const;
  double max(double value) const;
  double sum(double value) const;
  std::int64_t sum(std::int64_t value) const;

  /// Gathers one string per rank to root (empty vector elsewhere), in rank order.
  std::vector<std::string> gather(const std::string& text, int root = 0) const;
  /// Gathers one double per rank to root (empty vector elsewhere), in rank order.
  std::vector<double> gather(double value, int root = 0) const;

  void send(std::span<const double> values, int dest, int tag) const;
  void receive(std::span<double> values, int source, int tag) const;

private:
  Communicator(MPI_Comm comm, bool is_owned);
  void release() noexcept;

  MPI_Comm comm_ = MPI_COMM_NULL;
  bool is_owned_ = false;
  int rank_ = 0;
  int size_ = 0;
};

} // namespace sluice::mpi
