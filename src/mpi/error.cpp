// Converts MPI error codes into typed exceptions with the library's own description.
#include "sluice/mpi/error.hpp"

#include <mpi.h>

#include <fmt/format.h>

namespace sluice::mpi {
namespace {

std::string describe(const char* call, int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) {
    return fmt::format("MPI call failed: {} (code {})", call, code);
  }
  return fmt::format("MPI call failed: {}: {} (code {})", call, std::string(text, length), code);
}

} // namespace

Error::Error(const char* call, int code) : sluice::Error(describe(call, code)), code_(code) {}

void check(int code, const char* call) {
  if (code != MPI_SUCCESS) throw Error(call, code);
}

} // namespace sluice::mpi
