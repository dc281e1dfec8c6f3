// Transport: the point-to-point messages the tree reduce needs, over MPI or inside one process.
#pragma once

#include "sluice/mpi/communicator.hpp"

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

namespace sluice::schedule {

/// Messages of doubles between ranks. Messages from one rank to another arrive in the order they
/// were sent; send returns without waiting for the receiver.
class Transport {
public:
  virtual ~Transport() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual void send(int destination, std::vector<double> values) = 0;
  virtual std::vector<double> receive(int source) = 0;
  /// Waits until every message this rank sent can be reused (not necessarily received).
  virtual void complete_sends() = 0;
  /// Root's values reach every rank (collective).
  virtual void broadcast(std::vector<double>& values, int root) = 0;
};

/// Over a private duplicate of an MPI communicator, so its messages never meet the caller's.
class MpiTransport final : public Transport {
public:
  explicit MpiTransport(const mpi::Communicator& comm);
  ~MpiTransport() override;
  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  void send(int destination, std::vector<double> values) override;
  std::vector<double> receive(int source) override;
  void complete_sends() override;
  void broadcast(std::vector<double>& values, int root) override;

private:
  mpi::Communicator comm_;
  std::deque<std::vector<double>> in_flight_; // buffers of unfinished sends (deque: stable)
  std::vector<MPI_Request> requests_;
};

/// N ranks inside one process (one thread each), for testing distributed logic without MPI, as
/// Thrill's mock network does. endpoint(r) is rank r's transport; each is used by one thread.
class InProcessNetwork {
public:
  explicit InProcessNetwork(int num_ranks);
  ~InProcessNetwork();
  Transport& endpoint(int rank);
  /// Messages sent so far to `rank` (for tests of the reduce's cost).
  std::int64_t num_received(int rank) const;

private:
  class Endpoint;
  struct Queue {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<std::vector<double>> messages;
  };
  Queue& queue(int source, int destination);

  int num_ranks_;
  std::vector<std::unique_ptr<Queue>> queues_; // source * num_ranks + destination
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::vector<std::int64_t> received_;
};

} // namespace sluice::schedule
