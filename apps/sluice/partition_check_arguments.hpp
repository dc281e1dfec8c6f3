// The command line of sluice-check-partition: a check request as separate arguments, so that a
// partition's path travels byte for byte.
#pragma once

#include "sluice/coordinator/partition_check.hpp"
#include "sluice/error.hpp"

#include <fmt/format.h>

#include <string>
#include <vector>

namespace sluice::app {

/// The program `sluice run` starts for each check ([lake] isolate): installed beside `sluice`.
inline constexpr const char* partition_checker_name = "sluice-check-partition";

// PATH GROUP MAX_COLUMN_BYTES MAX_CHUNK_BYTES BLOCK_ROWS MEMORY_BYTES TIMEOUT_S [COLUMN...]
inline constexpr int num_fixed_check_arguments = 7;

inline std::vector<std::string> check_arguments(const coordinator::PartitionCheckRequest& request) {
  std::vector<std::string> arguments{request.path.string(),
                                     request.group,
                                     std::to_string(request.limits.max_column_bytes),
                                     std::to_string(request.limits.max_chunk_bytes),
                                     std::to_string(request.block_rows),
                                     std::to_string(request.memory_bytes),
                                     fmt::format("{:.17g}", request.timeout_s)};
  arguments.insert(arguments.end(), request.columns.begin(), request.columns.end());
  return arguments;
}

/// The request from argv[1..argc); ConfigError when it is malformed.
inline coordinator::PartitionCheckRequest check_request(int argc, char** argv) {
  if (argc < 1 + num_fixed_check_arguments) throw ConfigError("too few arguments");
  coordinator::PartitionCheckRequest request;
  request.path = argv[1];
  request.group = argv[2];
  request.limits.max_column_bytes = std::stoll(argv[3]);
  request.limits.max_chunk_bytes = std::stoll(argv[4]);
  request.block_rows = std::stoll(argv[5]);
  request.memory_bytes = std::stoll(argv[6]);
  request.timeout_s = std::stod(argv[7]);
  request.columns.assign(argv + 1 + num_fixed_check_arguments, argv + argc);
  if (request.block_rows <= 0 || request.memory_bytes <= 0 || !(request.timeout_s > 0)) {
    throw ConfigError("limits must be positive");
  }
  return request;
}

} // namespace sluice::app
