// Private helpers of the registry: file names, pointer files, claims by link(), the model lock.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::snapshot::registry_files {

inline constexpr const char* current_file = "CURRENT";
inline constexpr const char* aliases_directory = "aliases";
inline constexpr const char* history_file = "history.jsonl";
inline constexpr const char* lock_file = ".lock";

/// N for "v000N.h5" (any number of digits), else nullopt.
std::optional<std::int64_t> parse_version(std::string_view file_name);
/// N for any file that holds or reserves version N: "vN.h5", "vN.report.json", "vN.claim".
std::optional<std::int64_t> parse_numbered(std::string_view file_name);
std::string claim_name(std::int64_t version);

/// ".tmp-HOST-PID-COUNTER": unique among processes on every host sharing the directory.
std::string temporary_suffix();

/// The version a pointer file (CURRENT, an alias) names, nullopt if it does not exist; DataError
/// naming the file if it holds anything else.
std::optional<std::int64_t> read_pointer(const std::filesystem::path& pointer,
                                         const std::filesystem::path& root);
/// Replaces the pointer file atomically and durably (temporary, fsync, rename, fsync directory).
/// The temporary is `temporary_prefix` + temporary_suffix() in the pointer's directory.
void write_pointer(const std::filesystem::path& pointer, std::string_view temporary_prefix,
                   std::int64_t version, const std::function<void()>& before_rename = {});

/// Makes `to` a second name of `from` unless `to` exists: the atomic "create if absent" that
/// holds on NFS. True if `to` is now `from`'s; false if `to` already existed; IoError otherwise.
bool link_no_replace(const std::filesystem::path& from, const std::filesystem::path& to);

/// The highest number any file of the directory holds or reserves (0 if none).
std::int64_t highest_number(const std::filesystem::path& directory);

/// Claims the next free version number in the model directory by linking a unique file to
/// "vN.claim"; retries with the next number when another publisher got there first.
std::int64_t claim_next_version(const std::filesystem::path& directory);

/// An exclusive flock on the model directory's lock file, when asked for and supported.
class ModelLock {
public:
  ModelLock(const std::filesystem::path& directory, bool is_wanted);
  ~ModelLock();
  ModelLock(const ModelLock&) = delete;
  ModelLock& operator=(const ModelLock&) = delete;
  bool is_held() const noexcept { return fd_ >= 0; }

private:
  int fd_ = -1;
};

/// Now as "YYYY-MM-DDTHH:MM:SSZ".
std::string utc_now();
/// The user name of this process (the number when it has none) and the host name.
std::string user_name();
std::string host_name();

} // namespace sluice::snapshot::registry_files
