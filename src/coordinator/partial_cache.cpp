// Partial cache entries: a small binary file per partition, checksummed, renamed into place.
#include "partial_cache.hpp"

#include "sluice/model/gram.hpp"
#include "sluice/version.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>

namespace sluice::coordinator {
namespace {

using Json = nlohmann::json;

constexpr char entry_magic[8] = {'S', 'L', 'C', 'P', 'A', 'R', 'T', '2'};
constexpr std::string_view entry_suffix = ".partial";
constexpr auto dead_writer_age = std::chrono::hours(24);

std::string hex128(const void* data, std::size_t size) {
  const XXH128_hash_t hash = XXH3_128bits(data, size);
  return fmt::format("{:016x}{:016x}", hash.high64, hash.low64);
}

void append_u64(std::string& out, std::uint64_t value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

std::uint64_t read_u64(std::string_view bytes, std::size_t offset) {
  std::uint64_t value = 0;
  std::memcpy(&value, bytes.data() + offset, sizeof value);
  return value;
}

// A name no other writer, thread or host can pick.
std::filesystem::path unique_temporary(const std::filesystem::path& target) {
  static std::atomic<std::uint64_t> counter{0};
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return target.string() +
         fmt::format(".tmp-{}-{}-{}", hex128(host, std::strlen(host)).substr(0, 8), getpid(),
                     counter.fetch_add(1));
}

} // namespace

std::string partial_settings_key(const job::JobSpec& job, const model::Trainer& trainer,
                                 const transform::Pipeline& pipeline) {
  Json transforms = Json::array();
  for (const job::ModelParams& step : job.transforms) transforms.push_back(step.table());
  const Json settings = {
      {"entry_format", 2},
      {"sluice", std::string(version())},
      {"gram_kernel", std::string(model::gram_kernel_name())},
      {"kind", job.model.kind},
      {"features", job.model.features},
      {"label", job.model.label},
      {"model", job.model.params.table()},
      {"transforms", transforms},
      {"split", job.split ? job.split->table() : Json()},
      {"pipeline", pipeline.is_empty() ? std::string() : fmt::format("{:016x}", pipeline.hash())},
      {"hive_values", pipeline.hive_values()},
      {"columns", trainer.columns()},
      {"warm_start", trainer.warm_start_signature()},
      {"profile", job.run.profile}, // entries hold the profile partial only when it is kept
      {"group", job.lake.group},
      {"block_rows", job.lake.block_rows},
      {"split_rows", job.lake.split_rows},
      {"on_nonfinite", job.lake.on_nonfinite == job::NonFiniteAction::error ? "error" : "drop_rows"}};
  const std::string text = settings.dump();
  return hex128(text.data(), text.size());
}

PartialCache::PartialCache(std::filesystem::path root, std::string settings_key,
                           std::int64_t max_bytes)
    : root_(std::move(root)), settings_key_(std::move(settings_key)), max_bytes_(max_bytes) {}

std::filesystem::path PartialCache::entry_path(const std::string& key) const {
  return root_ / settings_key_ / (key + std::string(entry_suffix));
}

std::string PartialCache::entry_key(const lake::PartitionInfo& partition) const {
  struct stat status {};
  if (::stat(partition.path.c_str(), &status) != 0) return {};
  const std::string identity = Json{partition.relative_path,
                                    static_cast<std::int64_t>(status.st_size),
                                    static_cast<std::int64_t>(status.st_mtim.tv_sec),
                                    static_cast<std::int64_t>(status.st_mtim.tv_nsec),
                                    static_cast<std::int64_t>(status.st_ctim.tv_sec),
                                    static_cast<std::int64_t>(status.st_ctim.tv_nsec),
                                    static_cast<std::uint64_t>(status.st_ino)}
                                   .dump();
  return hex128(identity.data(), identity.size());
}

std::string PartialCache::entry_key(const lake::PartitionInfo& partition, std::int64_t first_row,
                                    std::int64_t end_row) const {
  std::string key = entry_key(partition);
  if (key.empty() || end_row < 0) return key;
  return fmt::format("{}-rows-{}-{}", key, first_row, end_row);
}

// Layout: magic, u64 metadata bytes, metadata JSON, then per segment its partial, then per
// segment its profile partial (each a u64 count and its doubles; the metadata's checksums give
// the number of segments), then a u64 XXH3-64 of all that precedes it.
std::optional<PartitionOutcome> PartialCache::load(const std::string& key) const {
  if (key.empty()) return std::nullopt;
  const std::filesystem::path path = entry_path(key);
  std::ifstream stream(path, std::ios::binary);
  if (!stream) return std::nullopt;
  const std::string bytes{std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>()};
  const auto damaged = [&](std::string_view why) -> std::optional<PartitionOutcome> {
    spdlog::warn("ignoring damaged cache entry {} ({}): the partition is read again",
                 path.string(), why);
    return std::nullopt;
  };
  constexpr std::size_t word = sizeof(std::uint64_t);
  if (bytes.size() < sizeof entry_magic + 3 * word ||
      std::memcmp(bytes.data(), entry_magic, sizeof entry_magic) != 0) {
    return damaged("not an entry");
  }
  const std::size_t sealed = bytes.size() - word;
  if (XXH3_64bits(bytes.data(), sealed) != read_u64(bytes, sealed)) return damaged("checksum");
  const std::uint64_t metadata_bytes = read_u64(bytes, sizeof entry_magic);
  if (metadata_bytes > sealed) return damaged("sizes");
  // Each array: a u64 count then its doubles, bounds-checked before it is read.
  std::size_t at = sizeof entry_magic + word + metadata_bytes;
  const auto read_array = [&](model::Partial& values) {
    if (at + word > sealed) return false;
    const std::uint64_t count = read_u64(bytes, at);
    at += word;
    if (count > (sealed - at) / sizeof(double)) return false;
    values.resize(count);
    std::memcpy(values.data(), bytes.data() + at, count * sizeof(double));
    at += count * sizeof(double);
    return true;
  };
  try {
    const Json metadata = Json::parse(bytes.substr(sizeof entry_magic + word, metadata_bytes));
    if (metadata.at("key") != key || metadata.at("settings") != settings_key_) {
      return damaged("another key");
    }
    PartitionOutcome outcome = outcome_from_json(metadata.at("outcome"));
    const std::size_t num_segments = outcome.checksums.size();
    outcome.partials.resize(num_segments);
    outcome.profiles.resize(num_segments);
    for (model::Partial& partial : outcome.partials) {
      if (!read_array(partial)) return damaged("sizes");
    }
    for (model::Partial& profile : outcome.profiles) {
      if (!read_array(profile)) return damaged("sizes");
    }
    if (at != sealed) return damaged("sizes");
    // Marks it recently used, for trim(); a failure here only makes it look older.
    std::error_code ignored;
    std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now(), ignored);
    return outcome;
  } catch (const std::exception& error) {
    return damaged(error.what());
  }
}

void PartialCache::store(const std::string& key, const PartitionOutcome& outcome) const {
  if (key.empty()) return;
  const std::filesystem::path path = entry_path(key);
  const std::string metadata =
      Json{{"key", key}, {"settings", settings_key_}, {"outcome", to_json(outcome)}}.dump();
  std::string bytes(entry_magic, sizeof entry_magic);
  append_u64(bytes, metadata.size());
  bytes += metadata;
  // Without a profile (profile = false) each segment stores an empty one.
  const std::vector<model::Partial> no_profiles(outcome.partials.size());
  for (const auto* list : {&outcome.partials, outcome.profiles.empty() ? &no_profiles : &outcome.profiles}) {
    for (const model::Partial& values : *list) {
      append_u64(bytes, values.size());
      bytes.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double));
    }
  }
  append_u64(bytes, XXH3_64bits(bytes.data(), bytes.size()));
  // No fsync: an entry torn by a crash fails its checksum and is read again, which is cheaper
  // than syncing every partition.
  const std::filesystem::path temporary = unique_temporary(path);
  std::error_code error;
  std::filesystem::create_directories(path.parent_path(), error);
  {
    std::ofstream stream(temporary, std::ios::binary | std::ios::trunc);
    stream.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    stream.close();
    if (!stream) {
      std::filesystem::remove(temporary, error);
      spdlog::warn("cannot write cache entry {}: the partition will be read again next time",
                   temporary.string());
      return;
    }
  }
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::filesystem::remove(temporary, error);
    spdlog::warn("cannot move cache entry into place at {}", path.string());
  }
}

void PartialCache::trim() const {
  struct Entry {
    std::filesystem::file_time_type used;
    std::int64_t bytes;
    std::filesystem::path path;
  };
  std::vector<Entry> entries;
  std::int64_t total = 0;
  const auto now = std::filesystem::file_time_type::clock::now();
  std::error_code error;
  for (auto it = std::filesystem::recursive_directory_iterator(root_, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    std::error_code entry_error;
    if (!it->is_regular_file(entry_error)) continue;
    const auto used = it->last_write_time(entry_error);
    const auto bytes = static_cast<std::int64_t>(it->file_size(entry_error));
    if (entry_error) continue; // removed meanwhile by another job's trim
    const std::string name = it->path().filename().string();
    if (name.find(".tmp-") != std::string::npos) {
      // A writer renames within moments; one this old has died.
      if (now - used > dead_writer_age) std::filesystem::remove(it->path(), entry_error);
      continue;
    }
    if (!name.ends_with(entry_suffix)) continue;
    entries.push_back({used, bytes, it->path()});
    total += bytes;
  }
  if (total <= max_bytes_) return;
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.used < b.used; });
  std::size_t num_removed = 0;
  for (const Entry& entry : entries) {
    if (total <= max_bytes_) break;
    std::error_code remove_error;
    // Another job loading it meanwhile gets a miss and reads the partition: never a wrong value.
    if (std::filesystem::remove(entry.path, remove_error)) ++num_removed;
    total -= entry.bytes;
  }
  spdlog::info("partial cache {}: removed {} least recently used entries to stay under {} bytes",
               root_.string(), num_removed, max_bytes_);
}

std::optional<PartialCache> open_partial_cache(const job::JobSpec& job, bool is_wanted,
                                               const model::Trainer& trainer,
                                               const transform::Pipeline& pipeline) {
  if (!is_wanted || !job.cache.is_enabled) return std::nullopt;
  return PartialCache(job.cache.root, partial_settings_key(job, trainer, pipeline),
                      job.cache.max_bytes);
}

} // namespace sluice::coordinator
