// The registry's append-only history of pointer moves, and rollback's reading of it.
#include "registry_history.hpp"

#include "registry_files.hpp"

#include "sluice/error.hpp"
#include "sluice/snapshot/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/std.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace sluice::snapshot::registry_history {
namespace {

nlohmann::json optional_json(const std::optional<std::int64_t>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

std::optional<std::int64_t> optional_version(const nlohmann::json& object, const char* key) {
  if (!object.contains(key) || object.at(key).is_null()) return std::nullopt;
  return object.at(key).get<std::int64_t>();
}

nlohmann::json to_json(const HistoryEntry& entry) {
  nlohmann::json line = {{"time", entry.time_utc},      {"action", entry.action},
                         {"pointer", entry.pointer},    {"from", optional_json(entry.from)},
                         {"to", optional_json(entry.to)}, {"reason", entry.reason},
                         {"user", entry.user},          {"host", entry.host}};
  if (!entry.removed.empty()) line["removed"] = entry.removed;
  if (!entry.metrics.empty()) line["metrics"] = entry.metrics;
  return line;
}

HistoryEntry from_json(const nlohmann::json& line) {
  HistoryEntry entry;
  entry.time_utc = line.at("time").get<std::string>();
  entry.action = line.at("action").get<std::string>();
  entry.pointer = line.value("pointer", "");
  entry.from = optional_version(line, "from");
  entry.to = optional_version(line, "to");
  entry.reason = line.value("reason", "");
  entry.user = line.value("user", "");
  entry.host = line.value("host", "");
  if (line.contains("removed")) entry.removed = line.at("removed").get<std::vector<std::int64_t>>();
  if (line.contains("metrics")) entry.metrics = line.at("metrics").get<std::map<std::string, double>>();
  return entry;
}

} // namespace

HistoryEntry make_entry(std::string action, std::string pointer, std::optional<std::int64_t> from,
                        std::optional<std::int64_t> to, std::string reason) {
  return HistoryEntry{.time_utc = registry_files::utc_now(),
                      .action = std::move(action),
                      .pointer = std::move(pointer),
                      .from = from,
                      .to = to,
                      .removed = {},
                      .reason = std::move(reason),
                      .user = registry_files::user_name(),
                      .host = registry_files::host_name()};
}

void append(const std::filesystem::path& history, const HistoryEntry& entry) {
  const std::string line = history_line(entry) + "\n";
  const bool is_new = !std::filesystem::exists(history);
  const int fd = ::open(history.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(fmt::format("cannot open {}: {}", history, std::strerror(errno)));
  const bool is_written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                          ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!is_written) throw IoError(fmt::format("cannot append to {}: {}", history, std::strerror(saved)));
  if (is_new) fsync_directory(history.parent_path());
}

std::vector<HistoryEntry> read(const std::filesystem::path& history) {
  std::vector<HistoryEntry> entries;
  std::ifstream stream(history, std::ios::binary);
  if (!stream) return entries;
  std::stringstream buffer;
  buffer << stream.rdbuf();
  const std::string text = buffer.str();
  std::size_t start = 0;
  for (std::int64_t line_number = 1; start < text.size(); ++line_number) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) break; // cut short by a crash: never a complete move
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    try {
      entries.push_back(from_json(nlohmann::json::parse(line)));
    } catch (const nlohmann::json::exception& error) {
      throw DataError(fmt::format("{}:{}: not a history entry: {}", history, line_number, error.what()));
    }
  }
  return entries;
}

std::optional<std::optional<std::int64_t>> previous_version(const std::vector<HistoryEntry>& history,
                                                            const std::string& pointer) {
  std::vector<std::optional<std::int64_t>> stack;
  for (const HistoryEntry& entry : history) {
    if (entry.pointer != pointer || entry.action == "gate") continue; // a gate moves nothing
    if (entry.action == "rollback") {
      if (!stack.empty()) stack.pop_back();
    } else {
      stack.push_back(entry.from);
    }
  }
  if (stack.empty()) return std::nullopt;
  return stack.back();
}

} // namespace sluice::snapshot::registry_history

namespace sluice::snapshot {

std::string history_line(const HistoryEntry& entry) { return registry_history::to_json(entry).dump(); }

} // namespace sluice::snapshot
