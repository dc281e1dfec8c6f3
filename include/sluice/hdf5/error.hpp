// hdf5::Error and the checks that turn HDF5 return codes into exceptions carrying the error stack.
#pragma once

#include "sluice/error.hpp"

#include <hdf5.h>

#include <string>
#include <string_view>

namespace sluice::hdf5 {

/// An HDF5 call failed; what() says what was attempted and the innermost causes from HDF5's stack.
class Error : public sluice::Error {
public:
  using sluice::Error::Error;
};

/// Turns off HDF5's automatic error printing so each failure is reported once, by us. Idempotent.
void silence_library_errors();

/// Throws hdf5::Error describing `what` and the current error stack if id is negative.
hid_t check_id(hid_t id, std::string_view what);
/// Throws hdf5::Error describing `what` and the current error stack if status is negative.
void check_status(herr_t status, std::string_view what);

} // namespace sluice::hdf5
