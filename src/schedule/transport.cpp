// MPI and in-process implementations of the reduce's message transport.
#include "sluice/schedule/transport.hpp"

#include "sluice/error.hpp"
#include "sluice/mpi/error.hpp"

#include <fmt/format.h>

#include <climits>

namespace sluice::schedule {
namespace {

constexpr int partial_tag = 41;

int checked_count(std::size_t size) {
  if (size > static_cast<std::size_t>(INT_MAX)) {
    throw Error(fmt::format("a partial of {} values exceeds one MPI message", size));
  }
  return static_cast<int>(size);
}

} // namespace

MpiTransport::MpiTransport(const mpi::Communicator& comm) : comm_(comm.dup()) {}

MpiTransport::~MpiTransport() {
  if (!requests_.empty()) {
    MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
  }
}

void MpiTransport::send(int destination, std::vector<double> values) {
  in_flight_.push_back(std::move(values));
  const std::vector<double>& buffer = in_flight_.back();
  MPI_Request request = MPI_REQUEST_NULL;
  SLUICE_MPI_CHECK(MPI_Isend(buffer.data(), checked_count(buffer.size()), MPI_DOUBLE, destination,
                             partial_tag, comm_.native(), &request));
  requests_.push_back(request);
}

std::vector<double> MpiTransport::receive(int source) {
  MPI_Status status;
  SLUICE_MPI_CHECK(MPI_Probe(source, partial_tag, comm_.native(), &status));
  int count = 0;
  SLUICE_MPI_CHECK(MPI_Get_count(&status, MPI_DOUBLE, &count));
  std::vector<double> values(static_cast<std::size_t>(count));
  SLUICE_MPI_CHECK(MPI_Recv(values.data(), count, MPI_DOUBLE, source, partial_tag, comm_.native(),
                            MPI_STATUS_IGNORE));
  return values;
}

void MpiTransport::complete_sends() {
  if (!requests_.empty()) {
    SLUICE_MPI_CHECK(MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(),
                                 MPI_STATUSES_IGNORE));
  }
  requests_.clear();
  in_flight_.clear();
}

void MpiTransport::broadcast(std::vector<double>& values, int root) {
  std::int64_t size = static_cast<std::int64_t>(values.size());
  SLUICE_MPI_CHECK(MPI_Bcast(&size, 1, MPI_INT64_T, root, comm_.native()));
  values.resize(static_cast<std::size_t>(size));
  SLUICE_MPI_CHECK(MPI_Bcast(values.data(), checked_count(values.size()), MPI_DOUBLE, root,
                             comm_.native()));
}

class InProcessNetwork::Endpoint final : public Transport {
public:
  Endpoint(InProcessNetwork& network, int rank) : network_(network), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return network_.num_ranks_; }
  void send(int destination, std::vector<double> values) override {
    Queue& queue = network_.queue(rank_, destination);
    {
      const std::lock_guard lock(queue.mutex);
      queue.messages.push_back(std::move(values));
    }
    queue.ready.notify_all();
  }
  std::vector<double> receive(int source) override {
    Queue& queue = network_.queue(source, rank_);
    std::unique_lock lock(queue.mutex);
    queue.ready.wait(lock, [&] { return !queue.messages.empty(); });
    std::vector<double> values = std::move(queue.messages.front());
    queue.messages.pop_front();
    ++network_.received_[static_cast<std::size_t>(rank_)];
    return values;
  }
  void complete_sends() override {}
  void broadcast(std::vector<double>& values, int root) override {
    if (rank_ == root) {
      for (int r = 0; r < network_.num_ranks_; ++r) {
        if (r != root) send(r, values);
      }
    } else {
      values = receive(root);
    }
  }

private:
  InProcessNetwork& network_;
  int rank_;
};

InProcessNetwork::InProcessNetwork(int num_ranks)
    : num_ranks_(num_ranks), received_(static_cast<std::size_t>(num_ranks), 0) {
  for (int i = 0; i < num_ranks * num_ranks; ++i) queues_.push_back(std::make_unique<Queue>());
  for (int r = 0; r < num_ranks; ++r) endpoints_.push_back(std::make_unique<Endpoint>(*this, r));
}

InProcessNetwork::~InProcessNetwork() = default;

Transport& InProcessNetwork::endpoint(int rank) { return *endpoints_.at(static_cast<std::size_t>(rank)); }

std::int64_t InProcessNetwork::num_received(int rank) const {
  return received_.at(static_cast<std::size_t>(rank));
}

InProcessNetwork::Queue& InProcessNetwork::queue(int source, int destination) {
  return *queues_.at(static_cast<std::size_t>(source * num_ranks_ + destination));
}

} // namespace sluice::schedule
