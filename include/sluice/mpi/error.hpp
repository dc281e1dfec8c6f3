// mpi::Error and the SLUICE_MPI_CHECK macro that turns MPI return codes into exceptions.
#pragma once

#include "sluice/error.hpp"

#include <string>

namespace sluice::mpi {

/// An MPI call failed; what() names the call and carries MPI_Error_string's text.
class Error : public sluice::Error {
public:
  Error(const char* call, int code);
  int code() const noexcept { return code_; }

private:
  int code_;
};

/// Throws mpi::Error when an MPI call does not return MPI_SUCCESS.
void check(int code, const char* call);

} // namespace sluice::mpi

#define SLUICE_MPI_CHECK(call) ::sluice::mpi::check((call), #call)
