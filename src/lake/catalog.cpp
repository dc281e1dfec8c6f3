// Walks the lake directory and keeps the files that match the job's glob and key selection.
#include "sluice/lake/catalog.hpp"

#include "sluice/error.hpp"
#include "sluice/lake/glob.hpp"

#include "partition_guard.hpp"

#include <fmt/format.h>
#include <xxhash.h>
#include <fmt/ranges.h>
#include <fmt/std.h>

#include <algorithm>

namespace sluice::lake {
namespace {

std::string describe_selection(const KeySelection& selection) {
  if (selection.empty()) return "";
  std::vector<std::string> parts;
  for (const auto& [key, values] : selection) {
    parts.push_back(fmt::format("{} in [{}]", key, fmt::join(values, ", ")));
  }
  return fmt::format(" with {}", fmt::join(parts, " and "));
}

} // namespace

std::vector<PartitionInfo> discover_partitions(const LakeQuery& query) {
  std::error_code error;
  if (!std::filesystem::exists(query.root, error)) {
    throw DataError(fmt::format("lake {} does not exist", query.root));
  }
  if (!std::filesystem::is_directory(query.root, error)) {
    throw DataError(fmt::format("lake {} is not a directory", query.root));
  }
  std::vector<PartitionInfo> partitions;
  auto options = std::filesystem::directory_options::follow_directory_symlink;
  std::filesystem::recursive_directory_iterator it(query.root, options, error);
  if (error) throw DataError(fmt::format("cannot list lake {}: {}", query.root, error.message()));
  for (; it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (error) throw DataError(fmt::format("cannot list lake {}: {}", query.root, error.message()));
    if (!it->is_regular_file(error)) continue;
    std::string relative = it->path().lexically_relative(query.root).generic_string();
    if (!glob_match(query.glob, relative)) continue;
    // Paths travel in messages, reports and snapshots as UTF-8 text: refuse one that is not.
    if (printable_text(relative) != relative) {
      throw DataError(fmt::format("lake {}: partition path '{}' is not printable UTF-8 ('?' marks "
                                  "the bytes); rename it", query.root, printable_text(relative)));
    }
    PartitionInfo partition{.relative_path = relative,
                            .path = it->path(),
                            .keys = hive_keys(relative),
                            .file_bytes = static_cast<std::int64_t>(it->file_size(error)),
                            .path_hash = path_hash(relative)};
    if (is_selected(partition.keys, query.selection)) partitions.push_back(std::move(partition));
  }
  if (partitions.empty()) {
    throw DataError(fmt::format("no partitions in lake {} match glob '{}'{}", query.root,
                                query.glob, describe_selection(query.selection)));
  }
  std::sort(partitions.begin(), partitions.end(),
            [](const PartitionInfo& a, const PartitionInfo& b) {
              return a.relative_path < b.relative_path;
            });
  return partitions;
}

std::uint64_t path_hash(const std::string& relative_path) {
  return XXH3_64bits(relative_path.data(), relative_path.size());
}

} // namespace sluice::lake
