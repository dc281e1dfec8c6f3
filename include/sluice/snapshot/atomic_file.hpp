// Durable, atomic file replacement: write a temporary, fsync it, rename it, fsync the directory.
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

namespace sluice::snapshot {

/// Flushes a file's data and metadata to stable storage.
void fsync_path(const std::filesystem::path& path);
/// Makes a rename or a new entry in the directory durable.
void fsync_directory(const std::filesystem::path& directory);
/// Atomically replaces target with content: readers see the old or the new file, never a mix.
void write_file_atomically(const std::filesystem::path& target, std::string_view content);
/// As above, through the given temporary (same directory as target) instead of target.tmp-PID;
/// `before_rename`, if set, is called once the temporary is durable, just before the rename.
void write_file_atomically(const std::filesystem::path& target, std::string_view content,
                           const std::filesystem::path& temporary,
                           const std::function<void()>& before_rename = {});
/// Renames from to to (same directory) and makes the rename durable.
void rename_durably(const std::filesystem::path& from, const std::filesystem::path& to);

} // namespace sluice::snapshot
