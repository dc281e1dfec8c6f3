// RequestError: a scoring request that cannot be served as sent (the caller's fault, not the model's).
#pragma once

#include "sluice/error.hpp"

namespace sluice::serving {

/// The request is malformed: invalid JSON, a missing, unknown or repeated column, a non-numeric
/// value, columns of unequal length, no rows. An HTTP front end answers it with a 4xx status.
class RequestError : public DataError {
public:
  using DataError::DataError;
};

} // namespace sluice::serving
