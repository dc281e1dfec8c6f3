// Dynamic assignment over MPI: one int64 request, one int64 answer (a unit index or -1).
#include "unit_dispenser.hpp"

#include "sluice/mpi/error.hpp"

#include <unistd.h>

namespace sluice::coordinator {
namespace {

constexpr int request_tag = 11;
constexpr int answer_tag = 12;
constexpr std::int64_t nothing_left = -1;

} // namespace

UnitDispenser::UnitDispenser(const mpi::Communicator& comm, std::vector<std::size_t> order,
                             std::size_t num_units)
    : comm_(comm.dup()) {
  if (!comm_.is_root()) return;
  queue_.assign(order.begin(), order.end());
  reader_.assign(num_units, -1);
  is_done_.assign(static_cast<std::size_t>(comm_.size()), 0);
}

void UnitDispenser::answer(int rank, bool is_halted) {
  std::int64_t unit = nothing_left;
  if (!is_halted && !queue_.empty()) {
    unit = static_cast<std::int64_t>(queue_.front());
    queue_.pop_front();
    reader_[static_cast<std::size_t>(unit)] = rank;
  } else {
    is_done_[static_cast<std::size_t>(rank)] = 1;
    ++num_done_;
  }
  SLUICE_MPI_CHECK(MPI_Send(&unit, 1, MPI_INT64_T, rank, answer_tag, comm_.native()));
}

void UnitDispenser::serve() {
  if (!comm_.is_root()) return;
  for (;;) {
    int is_pending = 0;
    MPI_Status status;
    SLUICE_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, request_tag, comm_.native(), &is_pending, &status));
    if (!is_pending) return;
    std::int64_t is_halted = 0;
    SLUICE_MPI_CHECK(MPI_Recv(&is_halted, 1, MPI_INT64_T, status.MPI_SOURCE, request_tag,
                              comm_.native(), MPI_STATUS_IGNORE));
    answer(status.MPI_SOURCE, is_halted != 0);
  }
}

std::optional<std::size_t> UnitDispenser::next(bool is_halted) {
  if (is_finished_) return std::nullopt;
  if (comm_.is_root()) {
    serve();
    if (is_halted || queue_.empty()) {
      is_finished_ = true;
      return std::nullopt;
    }
    const std::size_t unit = queue_.front();
    queue_.pop_front();
    reader_[unit] = 0;
    return unit;
  }
  std::int64_t request = is_halted ? 1 : 0, unit = nothing_left;
  SLUICE_MPI_CHECK(MPI_Send(&request, 1, MPI_INT64_T, 0, request_tag, comm_.native()));
  SLUICE_MPI_CHECK(MPI_Recv(&unit, 1, MPI_INT64_T, 0, answer_tag, comm_.native(), MPI_STATUS_IGNORE));
  if (unit == nothing_left) {
    is_finished_ = true;
    return std::nullopt;
  }
  return static_cast<std::size_t>(unit);
}

void UnitDispenser::quit() {
  if (!is_finished_) next(true);
}

std::vector<int> UnitDispenser::finish(const std::function<void()>& wait) {
  std::vector<std::int64_t> readers;
  if (comm_.is_root()) {
    while (num_done_ < comm_.size() - 1) {
      serve();
      if (num_done_ < comm_.size() - 1) {
        wait();
        ::usleep(500);
      }
    }
    readers.assign(reader_.begin(), reader_.end());
  }
  comm_.broadcast(readers);
  return {readers.begin(), readers.end()};
}

} // namespace sluice::coordinator
