// The exception hierarchy: every runtime failure Sluice reports derives from sluice::Error.
#pragma once

#include <stdexcept>
#include <string>

namespace sluice {

/// Base of every exception Sluice throws for a runtime failure.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The input data is unusable: a partition, dataset or column is missing, malformed or corrupt.
class DataError : public Error {
public:
  using Error::Error;
};

/// The job file or a command-line option is invalid.
class ConfigError : public Error {
public:
  using Error::Error;
};

/// A numerical problem that the job cannot get past (e.g. a singular system without regularisation).
class NumericalError : public Error {
public:
  using Error::Error;
};

} // namespace sluice
