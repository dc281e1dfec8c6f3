// ModelReference: how users name a snapshot in a registry ("NAME", "NAME@7", "NAME@production").
#pragma once

#include "sluice/snapshot/registry.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::snapshot {

/// A model of a registry and, optionally, one of its versions or aliases. At most one of
/// version and alias is set; neither means the model's CURRENT version.
struct ModelReference {
  std::string name;
  std::optional<std::int64_t> version;
  std::optional<std::string> alias;

  /// "NAME", "NAME@7" or "NAME@production", as parse_model_reference reads it.
  std::string to_string() const;
};

/// Parses "NAME", "NAME@VERSION" (decimal digits, 1 or more) or "NAME@ALIAS". NAME and ALIAS must
/// be registry names (sluice/registry_name.hpp); an alias of digits only reads as a version.
/// Throws ConfigError quoting at most a bounded prefix of the text.
ModelReference parse_model_reference(std::string_view text);

/// Throws ConfigError unless `alias` can name an alias: a registry name that is not all digits
/// (it would read as a version).
void check_alias_name(std::string_view alias);

/// A reference resolved to one published snapshot file.
struct ResolvedSnapshot {
  std::string name;
  std::int64_t version = 0;
  std::filesystem::path path;
};

/// Resolves a reference in the registry: NAME is the CURRENT version, NAME@ALIAS the version the
/// alias names, NAME@N version N. Refuses (ConfigError) a registry that is not a directory, an
/// invalid name, a missing model, version or alias; refuses (DataError) a model directory or
/// snapshot that is not inside the registry once symbolic links are followed, and a pointer that
/// does not name a snapshot. Does not read the snapshot: read_snapshot verifies it.
ResolvedSnapshot resolve(const SnapshotRegistry& registry, const ModelReference& reference);

} // namespace sluice::snapshot
