// Isolated partition checks: sluice-check-partition started, watched and reaped for one partition.
#include "partition_check_process.hpp"
#include "partition_check_arguments.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>
#include <fmt/std.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern char** environ; // NOLINT: POSIX declares it nowhere else

namespace sluice::app {
namespace {

using coordinator::PartitionCheckRequest;
using coordinator::PartitionCheckResult;
using Status = PartitionCheckResult::Status;
using Clock = std::chrono::steady_clock;

constexpr int exit_passed = 0;
constexpr int exit_refused = 4; // sluice-check-partition's codes
// The refusal is one line; anything beyond this is noise from a dying process.
constexpr std::size_t max_output_bytes = 64 << 10;

class Descriptor {
public:
  explicit Descriptor(int fd = -1) noexcept : fd_(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() { close(); }
  int get() const noexcept { return fd_; }
  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_;
};

// Reads what the pipe holds now; false at end of file.
bool drain(int fd, std::string& output) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      output.append(buffer, std::min(static_cast<std::size_t>(n),
                                     max_output_bytes - std::min(max_output_bytes, output.size())));
      continue;
    }
    if (n == 0) return false;
    return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

// Ends the process the check started, and only that one.
void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

pid_t spawn_check(const std::filesystem::path& checker, const PartitionCheckRequest& request,
                  int output_fd) {
  std::vector<std::string> arguments = check_arguments(request);
  arguments.insert(arguments.begin(), checker.string());
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, output_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, output_fd, STDERR_FILENO);
  // MPI's sockets and shared-memory files stay with the rank.
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  // The rank's own signal handlers and mask (e.g. a stop handler) are not the check's.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int error = posix_spawn(&pid, checker.c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) {
    throw IoError(fmt::format("cannot start the isolated check of partition {}: {}: {}",
                              request.path, checker, std::strerror(error)));
  }
  return pid;
}

std::string last_line(const std::string& output) {
  std::size_t end = output.find_last_not_of("\r\n");
  if (end == std::string::npos) return {};
  const std::size_t start = output.rfind('\n', end);
  return output.substr(start == std::string::npos ? 0 : start + 1,
                       end + 1 - (start == std::string::npos ? 0 : start + 1));
}

PartitionCheckResult check_in_process(const std::filesystem::path& checker,
                                      const PartitionCheckRequest& request) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw IoError(fmt::format("cannot start the isolated check of partition {}: pipe: {}",
                              request.path, std::strerror(errno)));
  }
  Descriptor read_end(fds[0]), write_end(fds[1]);
  const pid_t pid = spawn_check(checker, request, write_end.get());
  write_end.close(); // the pipe ends when the check does
  ::fcntl(read_end.get(), F_SETFL, O_NONBLOCK);

  const auto deadline = Clock::now() + std::chrono::duration<double>(request.timeout_s);
  const auto give_up = [&](Status status) {
    kill_and_reap(pid);
    return PartitionCheckResult{.status = status};
  };
  // The pipe ends when the process does (it holds the only write end): wait on the pipe, then
  // reap. Polling in short slices keeps the deadline and a stop request within 50 ms.
  std::string output;
  for (bool is_open = true; is_open;) {
    pollfd waiting{read_end.get(), POLLIN, 0};
    ::poll(&waiting, 1, 50);
    is_open = drain(read_end.get(), output);
    if (!is_open) break;
    if (Clock::now() > deadline) return give_up(Status::timed_out);
    if (request.should_abandon && request.should_abandon()) return give_up(Status::abandoned);
  }
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) {
      throw IoError(fmt::format("cannot wait for the isolated check of partition {}: {}",
                                request.path, std::strerror(errno)));
    }
    if (Clock::now() > deadline) return give_up(Status::timed_out);
    std::this_thread::sleep_for(std::chrono::microseconds(200)); // it is exiting
  }
  if (WIFSIGNALED(status)) return {.status = Status::signalled, .signal = WTERMSIG(status)};
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == exit_passed) return {.status = Status::passed};
  if (code == exit_refused && !last_line(output).empty()) {
    return {.status = Status::refused, .message = last_line(output)};
  }
  throw Error(fmt::format("the isolated check of partition {} failed (exit code {}): {}",
                          request.path, code, last_line(output)));
}

} // namespace

coordinator::PartitionChecker make_partition_checker() {
  // Beside this program (the build tree and an installation alike), even if it was moved.
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  const std::filesystem::path checker =
      (error ? std::filesystem::path("/proc/self/exe") : self).parent_path() / partition_checker_name;
  return [checker](const PartitionCheckRequest& request) { return check_in_process(checker, request); };
}

} // namespace sluice::app
