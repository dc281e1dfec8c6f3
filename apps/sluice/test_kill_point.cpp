// Fault injection for tests: the process-wide side effect (a signal) stays in the application;
// the library only names the points it passes.
#include "test_kill_point.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <csignal>
#include <memory>
#include <vector>

namespace sluice::app {
namespace {

std::int64_t parse_number(std::string_view text, std::int64_t minimum, const std::string& spec) {
  std::int64_t value = 0;
  const auto [end, status] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || status != std::errc() || end != text.data() + text.size() || value < minimum) {
    throw ConfigError(fmt::format("--test-kill-at '{}': '{}' is not a number >= {}", spec, text,
                                  minimum));
  }
  return value;
}

} // namespace

std::function<void(std::string_view)> make_kill_point(const std::string& spec, int rank) {
  if (spec.empty()) return {};
  std::vector<std::string_view> parts;
  for (std::string_view rest = spec;;) {
    const auto colon = rest.find(':');
    parts.push_back(rest.substr(0, colon));
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  if (parts.size() > 3 || std::find(std::begin(kill_points), std::end(kill_points), parts[0]) ==
                              std::end(kill_points)) {
    throw ConfigError(fmt::format("--test-kill-at '{}': expected POINT[:RANK[:NTH]] with POINT one "
                                  "of read, reduce, snapshot_written, pointer_moving",
                                  spec));
  }
  const std::string point(parts[0]);
  const std::int64_t target_rank = parts.size() > 1 ? parse_number(parts[1], 0, spec) : -1;
  const std::int64_t nth = parts.size() > 2 ? parse_number(parts[2], 1, spec) : 1;
  if (target_rank >= 0 && target_rank != rank) return {};
  // Shared by copies of the callback; "read" is reached from several OpenMP threads at once.
  auto count = std::make_shared<std::atomic<std::int64_t>>(0);
  return [point, nth, count](std::string_view reached) {
    if (reached == point && count->fetch_add(1) + 1 == nth) std::raise(SIGKILL);
  };
}

} // namespace sluice::app
