// sluice-check-partition: reads one partition under resource limits for `sluice run` ([lake]
// isolate). A crash of libhdf5 on a crafted file ends this process, not the run's rank.
//
//   sluice-check-partition PATH GROUP MAX_COLUMN_BYTES MAX_CHUNK_BYTES BLOCK_ROWS MEMORY_BYTES
//                          TIMEOUT_S [COLUMN...]
//
// Exit 0: read completely; 4: refused, the reason (naming the file) on stdout; 2: a malformed
// request. A small program of its own: it starts in a few milliseconds, and never joins MPI.
#include "../sluice/partition_check_arguments.hpp"

#include "sluice/error.hpp"
#include "sluice/hdf5/file.hpp"
#include "sluice/lake/partition_scan.hpp"

#include <fmt/format.h>
#include <fmt/std.h>

#include <sys/resource.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

namespace {

using sluice::coordinator::PartitionCheckRequest;

constexpr int exit_passed = 0;
constexpr int exit_usage = 2;
constexpr int exit_refused = 4;

void set_limit(int resource, rlim_t soft, rlim_t hard) {
  const rlimit limit{soft, hard};
  if (::setrlimit(resource, &limit) != 0) {
    std::fprintf(stderr, "%s: cannot set a resource limit: %s\n",
                 sluice::app::partition_checker_name, std::strerror(errno));
    std::_Exit(exit_usage);
  }
}

// The reason the partition is bad, or empty when it passed.
std::string refusal_of(const PartitionCheckRequest& request) {
  const std::string memory = fmt::format(
      "(the isolated check's address space is limited to {} bytes: lake.isolate_memory_bytes)",
      request.memory_bytes);
  try {
    sluice::lake::scan_partition(request.path, request.group, request.columns, request.limits,
                                 request.block_rows);
    // The run would read the same file and then crash in libhdf5's shutdown.
    if (sluice::hdf5::num_open_files() != 0) {
      return fmt::format("partition {}: libhdf5 could not close the file after reading it "
                         "(corrupt metadata it keeps pinned, which crashes the library when it "
                         "shuts down); the partition is refused",
                         request.path);
    }
    return {};
  } catch (const std::bad_alloc&) {
    return fmt::format("partition {}: reading it needs more memory than allowed {}", request.path,
                       memory);
  } catch (const std::exception& error) {
    std::string message = error.what();
    // HDF5's words when malloc returned NULL (e.g. "memory allocation failed for chunk").
    for (const char* failed : {"allocation failed", "unable to allocate", "can't allocate"}) {
      if (message.find(failed) != std::string::npos) {
        message += " " + memory;
        break;
      }
    }
    if (message.find(request.path.string()) == std::string::npos) {
      message = fmt::format("partition {}: {}", request.path, message);
    }
    return message;
  }
}

} // namespace

int main(int argc, char** argv) {
  PartitionCheckRequest request;
  try {
    request = sluice::app::check_request(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "%s: malformed request: %s\n", sluice::app::partition_checker_name,
                 error.what());
    return exit_usage;
  }
  set_limit(RLIMIT_CORE, 0, 0); // a crash here is expected input, not a core file to keep
  const auto memory = static_cast<rlim_t>(request.memory_bytes);
  set_limit(RLIMIT_AS, memory, memory);
  const auto cpu_s = static_cast<rlim_t>(std::ceil(request.timeout_s));
  set_limit(RLIMIT_CPU, cpu_s, cpu_s + 2); // SIGXCPU, then SIGKILL
  std::string refusal = refusal_of(request);
  for (char& c : refusal) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (!refusal.empty()) std::fprintf(stdout, "%s\n", refusal.c_str());
  std::fflush(stdout);
  // Not exit(): libhdf5's shutdown would run, and may crash on what a hostile file left behind.
  std::_Exit(refusal.empty() ? exit_passed : exit_refused);
}
