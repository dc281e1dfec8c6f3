// Anchors the exception vtables in one translation unit.
#include "sluice/error.hpp"

#include <filesystem>

namespace sluice {

ErrorKind kind_of(const std::exception& error) noexcept {
  if (dynamic_cast<const ConfigError*>(&error) != nullptr) return ErrorKind::configuration;
  if (dynamic_cast<const DataError*>(&error) != nullptr) return ErrorKind::data;
  if (dynamic_cast<const NumericalError*>(&error) != nullptr) return ErrorKind::numerical;
  if (dynamic_cast<const IoError*>(&error) != nullptr) return ErrorKind::io;
  if (dynamic_cast<const std::filesystem::filesystem_error*>(&error) != nullptr) {
    return ErrorKind::io;
  }
  return ErrorKind::internal;
}

int exit_code_of(ErrorKind kind) noexcept {
  switch (kind) {
  case ErrorKind::configuration: return 3;
  case ErrorKind::data: return 4;
  case ErrorKind::numerical: return 5;
  case ErrorKind::io: return 6;
  case ErrorKind::internal: break;
  }
  return 1;
}

} // namespace sluice
