// Logger configuration shared by the sluice program and the tests.
#include "sluice/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace sluice {

void configure_logging(int rank, bool is_verbose) {
  spdlog::drop("sluice");
  auto logger = spdlog::stderr_color_mt("sluice");
  logger->set_pattern(rank == 0 ? "[sluice] %v" : fmt::format("[sluice rank {}] %v", rank));
  if (is_verbose) {
    logger->set_level(spdlog::level::debug);
  } else {
    // Progress and summaries come from the coordinator; other ranks speak only about problems.
    logger->set_level(rank == 0 ? spdlog::level::info : spdlog::level::warn);
  }
  spdlog::set_default_logger(std::move(logger));
}

} // namespace sluice
