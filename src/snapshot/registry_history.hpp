// NAME/history.jsonl: one JSON object per pointer move, appended under the model's lock.
#pragma once

#include "sluice/snapshot/registry.hpp"

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sluice::snapshot::registry_history {

/// A new entry stamped with the time, user and host.
HistoryEntry make_entry(std::string action, std::string pointer, std::optional<std::int64_t> from,
                        std::optional<std::int64_t> to, std::string reason);
/// Appends one line with one write() (O_APPEND) and fsyncs it.
void append(const std::filesystem::path& history, const HistoryEntry& entry);
/// The entries of the file, oldest first; a last line without its newline (a crash mid-append)
/// is skipped. DataError naming the file and line for any other malformed line.
std::vector<HistoryEntry> read(const std::filesystem::path& history);

/// The version `pointer` named before its last move not undone by a rollback, as the history
/// tells it: each move pushes the version it left, each rollback pops. nullopt inside means the
/// pointer did not exist before; an empty optional outside means nothing is recorded.
std::optional<std::optional<std::int64_t>> previous_version(const std::vector<HistoryEntry>& history,
                                                            const std::string& pointer);

} // namespace sluice::snapshot::registry_history
