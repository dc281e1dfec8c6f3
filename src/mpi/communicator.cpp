// Checked wrappers around the handful of MPI operations Sluice uses.
#include "sluice/mpi/communicator.hpp"

#include "sluice/mpi/error.hpp"

#include <fmt/format.h>

#include <limits>
#include <numeric>
#include <utility>

namespace sluice::mpi {
namespace {

// MPI counts are ints: a larger message is an error, never a silently truncated one.
int count_of(std::size_t count, const char* operation) {
  if (count > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw sluice::Error(fmt::format("MPI {} of {} elements exceeds the {} an MPI count can hold", operation,
                            count, std::numeric_limits<int>::max()));
  }
  return static_cast<int>(count);
}

} // namespace


Communicator Communicator::borrow(MPI_Comm comm) { return Communicator(comm, false); }

Communicator Communicator::adopt(MPI_Comm comm) { return Communicator(comm, true); }

Communicator::Communicator(MPI_Comm comm, bool is_owned) : comm_(comm), is_owned_(is_owned) {
  SLUICE_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  SLUICE_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  SLUICE_MPI_CHECK(MPI_Comm_size(comm_, &size_));
}

Communicator::Communicator(Communicator&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)),
      is_owned_(std::exchange(other.is_owned_, false)), rank_(other.rank_), size_(other.size_) {}

Communicator& Communicator::operator=(Communicator&& other) noexcept {
  if (this != &other) {
    release();
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    is_owned_ = std::exchange(other.is_owned_, false);
    rank_ = other.rank_;
    size_ = other.size_;
  }
  return *this;
}

Communicator::~Communicator() { release(); }

void Communicator::release() noexcept {
  // MPI_Comm_free is local (not a blocking collective), so it is safe in a destructor.
  if (is_owned_ && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  comm_ = MPI_COMM_NULL;
  is_owned_ = false;
}

Communicator Communicator::dup() const {
  MPI_Comm copy = MPI_COMM_NULL;
  SLUICE_MPI_CHECK(MPI_Comm_dup(comm_, &copy));
  return adopt(copy);
}

void Communicator::barrier() const { SLUICE_MPI_CHECK(MPI_Barrier(comm_)); }

double Communicator::wall_time() const { return MPI_Wtime(); }

void Communicator::broadcast(std::string& text, int root) const {
  std::uint64_t length = text.size();
  SLUICE_MPI_CHECK(MPI_Bcast(&length, 1, MPI_UINT64_T, root, comm_));
  text.resize(length);
  SLUICE_MPI_CHECK(MPI_Bcast(text.data(), count_of(static_cast<std::size_t>(length), "broadcast"),
                             MPI_CHAR, root, comm_));
}

void Communicator::broadcast(std::vector<std::int64_t>& values, int root) const {
  std::uint64_t length = values.size();
  SLUICE_MPI_CHECK(MPI_Bcast(&length, 1, MPI_UINT64_T, root, comm_));
  values.resize(length);
  SLUICE_MPI_CHECK(MPI_Bcast(values.data(), count_of(static_cast<std::size_t>(length), "broadcast"),
                             MPI_INT64_T, root, comm_));
}

bool Communicator::all_of(bool flag) const {
  int value = flag ? 1 : 0;
  int result = 0;
  SLUICE_MPI_CHECK(MPI_Allreduce(&value, &result, 1, MPI_INT, MPI_LAND, comm_));
  return result != 0;
}

bool Communicator::any_of(bool flag) const {
  int value = flag ? 1 : 0;
  int result = 0;
  SLUICE_MPI_CHECK(MPI_Allreduce(&value, &result, 1, MPI_INT, MPI_LOR, comm_));
  return result != 0;
}

double Communicator::max(double value) const {
  double result = 0;
  SLUICE_MPI_CHECK(MPI_Allreduce(&value, &result, 1, MPI_DOUBLE, MPI_MAX, comm_));
  return result;
}

double Communicator::sum(double value) const {
  double result = 0;
  SLUICE_MPI_CHECK(MPI_Allreduce(&value, &result, 1, MPI_DOUBLE, MPI_SUM, comm_));
  return result;
}

std::int64_t Communicator::sum(std::int64_t value) const {
  std::int64_t result = 0;
  SLUICE_MPI_CHECK(MPI_Allreduce(&value, &result, 1, MPI_INT64_T, MPI_SUM, comm_));
  return result;
}

std::vector<std::string> Communicator::gather(const std::string& text, int root) const {
  int length = count_of(text.size(), "gather");
  std::vector<int> lengths(rank_ == root ? size_ : 0);
  SLUICE_MPI_CHECK(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, root, comm_));
  std::vector<int> offsets(lengths.size());
  std::string joined;
  if (rank_ == root) {
    // Gatherv's displacements are ints too: the whole gathered text must fit one.
    count_of(static_cast<std::size_t>(std::reduce(lengths.begin(), lengths.end(), std::int64_t{0})),
             "gather");
    std::exclusive_scan(lengths.begin(), lengths.end(), offsets.begin(), 0);
    joined.resize(static_cast<std::size_t>(std::reduce(lengths.begin(), lengths.end(), 0)));
  }
  SLUICE_MPI_CHECK(MPI_Gatherv(text.data(), length, MPI_CHAR, joined.data(), lengths.data(),
                               offsets.data(), MPI_CHAR, root, comm_));
  std::vector<std::string> texts;
  for (std::size_t r = 0; r < lengths.size(); ++r) {
    texts.push_back(joined.substr(static_cast<std::size_t>(offsets[r]),
                                  static_cast<std::size_t>(lengths[r])));
  }
  return texts;
}

std::vector<double> Communicator::gather(double value, int root) const {
  std::vector<double> values(rank_ == root ? size_ : 0);
  SLUICE_MPI_CHECK(MPI_Gather(&value, 1, MPI_DOUBLE, values.data(), 1, MPI_DOUBLE, root, comm_));
  return values;
}

void Communicator::send(std::span<const double> values, int dest, int tag) const {
  SLUICE_MPI_CHECK(
      MPI_Send(values.data(), count_of(values.size(), "send"), MPI_DOUBLE, dest, tag, comm_));
}

void Communicator::receive(std::span<double> values, int source, int tag) const {
  SLUICE_MPI_CHECK(MPI_Recv(values.data(), count_of(values.size(), "receive"), MPI_DOUBLE, source,
                            tag, comm_, MPI_STATUS_IGNORE));
}

} // namespace sluice::mpi
