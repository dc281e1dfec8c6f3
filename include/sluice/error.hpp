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

/// A file-system or operating-system failure (cannot create, write, rename or sync).
class IoError : public Error {
public:
  using Error::Error;
};

/// The class of a failure, kept when the failure is agreed on across ranks; the command-line
/// program turns it into its exit code (docs/cli.md).
enum class ErrorKind { internal, configuration, data, numerical, io };

/// The class of an exception by its type (std::filesystem_error counts as io).
ErrorKind kind_of(const std::exception& error) noexcept;

/// The process exit code of a failure of that class: internal 1, configuration 3, data 4,
/// numerical 5, io 6.
int exit_code_of(ErrorKind kind) noexcept;

} // namespace sluice
