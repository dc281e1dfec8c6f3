// Live progress on rank 0, fed by small point-to-point messages from the other ranks.
#include "progress.hpp"

#include "sluice/mpi/error.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace sluice::coordinator {
namespace {

constexpr int progress_tag = 7;
constexpr std::int64_t done_marker = -1;
constexpr std::int64_t heartbeat_marker = -2;

std::string human_rate(double per_second) {
  if (per_second >= 1e6) return fmt::format("{:.1f} M", per_second / 1e6);
  if (per_second >= 1e3) return fmt::format("{:.1f} k", per_second / 1e3);
  return fmt::format("{:.0f} ", per_second);
}

} // namespace

Progress::Progress(const mpi::Communicator& comm, const std::vector<int>& owner,
                   const std::vector<std::int64_t>& work, double peer_timeout_s)
    : comm_(comm.dup()), peer_timeout_s_(peer_timeout_s) {
  for (std::size_t i = 0; i < owner.size(); ++i) {
    if (owner[i] < 0) continue; // skipped or cached: no work this pass
    ++total_partitions_;
    total_work_ += work[i];
  }
  start_ = last_shown_ = comm_.wall_time();
  // Under mpirun rank 0's stderr is a pipe even when the user watches a terminal, so the mode
  // can be forced: SLUICE_PROGRESS=bar|lines|off (default: a bar on a terminal, else lines).
  const char* mode = std::getenv("SLUICE_PROGRESS");
  const std::string chosen = mode != nullptr ? mode : "";
  is_terminal_ = chosen == "bar" || (chosen.empty() && ::isatty(STDERR_FILENO) != 0);
  is_silent_ = chosen == "off";
  if (const char* text = std::getenv("SLUICE_PROGRESS_SECONDS")) {
    double value = std::atof(text);
    if (value > 0) interval_s_ = value;
  }
  if (is_terminal_) interval_s_ = 0.2;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  hosts_ = comm_.gather(std::string(host));
  last_sent_ = start_;
  last_heard_.assign(static_cast<std::size_t>(comm_.size()), start_);
  is_rank_done_.assign(static_cast<std::size_t>(comm_.size()), 0);
}

void Progress::send(std::int64_t a, std::int64_t b, std::int64_t c) {
  std::array<std::int64_t, 3> message{a, b, c};
  SLUICE_MPI_CHECK(MPI_Send(message.data(), 3, MPI_INT64_T, 0, progress_tag, comm_.native()));
  last_sent_ = comm_.wall_time();
}

void Progress::heartbeat() {
  if (peer_timeout_s_ <= 0) return;
  const double now = comm_.wall_time();
  const double interval = std::clamp(peer_timeout_s_ / 5.0, 0.05, 2.0);
  if (now - last_sent_ < interval) return;
  if (!comm_.is_root()) {
    send(heartbeat_marker, 0, 0);
    return;
  }
  // Rank 0 between its own blocks: a host lost while rank 0 still has work of its own is noticed
  // within the timeout, not only once rank 0 has finished its share. The messages that queued
  // up while it read are taken in first, so a long block of its own is not taken for silence.
  last_sent_ = now;
  drain(false);
  check_silence(comm_.wall_time());
}

void Progress::check_silence(double now) const {
  if (peer_timeout_s_ <= 0) return;
  for (std::size_t rank = 1; rank < last_heard_.size(); ++rank) {
    if (is_rank_done_[rank] || now - last_heard_[rank] <= peer_timeout_s_) continue;
    throw PeerSilentError(fmt::format(
        "rank {} on host {} has sent nothing for {:.0f} s (stopped, hung or cut off; [run] "
        "peer_timeout = {:g} s): ending the job, nothing is published",
        rank, hosts_.at(rank), now - last_heard_[rank], peer_timeout_s_));
  }
}

void Progress::partition_done(std::int64_t rows, std::int64_t bytes, std::int64_t work) {
  if (!comm_.is_root()) {
    send(rows, bytes, work);
    return;
  }
  record(rows, bytes, work);
  drain(false);
}

void Progress::local_done() {
  if (!comm_.is_root()) {
    send(done_marker, 0, 0);
    return;
  }
  drain(true);
  show(true);
}

void Progress::poll() {
  if (!comm_.is_root()) return;
  drain(false);
  check_silence(comm_.wall_time());
}

void Progress::record(std::int64_t rows, std::int64_t bytes, std::int64_t work) {
  ++done_partitions_;
  done_rows_ += rows;
  done_bytes_ += bytes;
  done_work_ += work;
}

void Progress::drain(bool is_blocking) {
  const int others = comm_.size() - 1;
  while (ranks_done_ < others) {
    int is_pending = 0;
    MPI_Status status;
    if (is_blocking) {
      // Probe with a short sleep rather than a blocking receive so the bar keeps moving.
      SLUICE_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, progress_tag, comm_.native(), &is_pending, &status));
      if (!is_pending) {
        show(false);
        check_silence(comm_.wall_time()); // only here: rank 0 is waiting for the others
        ::usleep(2000);
        continue;
      }
    } else {
      SLUICE_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, progress_tag, comm_.native(), &is_pending, &status));
      if (!is_pending) break;
    }
    std::array<std::int64_t, 3> message{};
    SLUICE_MPI_CHECK(MPI_Recv(message.data(), 3, MPI_INT64_T, status.MPI_SOURCE, progress_tag,
                              comm_.native(), MPI_STATUS_IGNORE));
    last_heard_[static_cast<std::size_t>(status.MPI_SOURCE)] = comm_.wall_time();
    if (message[0] == done_marker) {
      ++ranks_done_;
      is_rank_done_[static_cast<std::size_t>(status.MPI_SOURCE)] = 1;
    } else if (message[0] != heartbeat_marker) {
      record(message[0], message[1], message[2]);
    }
  }
  show(false);
}

void Progress::show(bool is_final) {
  if (is_silent_) return;
  const double now = comm_.wall_time();
  if (!is_final && now - last_shown_ < interval_s_) return;
  if (is_final && !is_terminal_ && now - start_ < interval_s_) return; // short runs stay quiet
  last_shown_ = now;
  const double elapsed = std::max(now - start_, 1e-9);
  const double rate = static_cast<double>(done_rows_) / elapsed;
  const double fraction =
      total_work_ > 0 ? static_cast<double>(done_work_) / static_cast<double>(total_work_) : 1.0;
  const double remaining = fraction > 0 ? elapsed * (1.0 - fraction) / fraction : 0.0;
  std::string text = fmt::format("{}/{} partitions, {}rows/s, {:.1f} GB/s, ETA {:.0f}s",
                                 done_partitions_, total_partitions_, human_rate(rate),
                                 static_cast<double>(done_bytes_) / elapsed / 1e9, remaining);
  if (is_terminal_) {
    constexpr int width = 30;
    const int filled = static_cast<int>(fraction * width);
    std::fprintf(stderr, "\r[%s%s] %3.0f%% %s%s", std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(width - filled), '.').c_str(), 100 * fraction,
                 text.c_str(), is_final ? "\n" : "");
  } else {
    std::fprintf(stderr, "[sluice] progress: %s\n", text.c_str());
  }
  std::fflush(stderr);
}

} // namespace sluice::coordinator
