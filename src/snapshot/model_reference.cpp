// Parsing "NAME[@VERSION|@ALIAS]" and resolving it to a snapshot file inside a registry.
#include "sluice/snapshot/model_reference.hpp"

#include "sluice/error.hpp"
#include "sluice/registry_name.hpp"

#include <fmt/format.h>
#include <fmt/std.h>

#include <algorithm>
#include <charconv>
#include <limits>

namespace sluice::snapshot {
namespace {

bool is_all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

} // namespace

std::string ModelReference::to_string() const {
  if (version) return fmt::format("{}@{}", name, *version);
  if (alias) return fmt::format("{}@{}", name, *alias);
  return name;
}

void check_alias_name(std::string_view alias) {
  check_registry_name(alias, "alias");
  if (is_all_digits(alias)) {
    throw ConfigError(fmt::format("alias {} is all digits and would read as a version",
                                  quote_bounded(alias)));
  }
}

ModelReference parse_model_reference(std::string_view text) {
  const auto at = text.find('@');
  ModelReference reference;
  const std::string_view name = text.substr(0, at);
  if (auto problem = registry_name_problem(name)) {
    throw ConfigError(fmt::format("model reference {}: the model name {}", quote_bounded(text), *problem));
  }
  reference.name = std::string(name);
  if (at == std::string_view::npos) return reference;
  const std::string_view suffix = text.substr(at + 1);
  if (is_all_digits(suffix)) {
    std::int64_t version = 0;
    const auto [end, status] = std::from_chars(suffix.data(), suffix.data() + suffix.size(), version);
    if (status != std::errc() || end != suffix.data() + suffix.size() || version < 1) {
      throw ConfigError(fmt::format("model reference {}: version must be 1..{}", quote_bounded(text),
                                    std::numeric_limits<std::int64_t>::max()));
    }
    reference.version = version;
    return reference;
  }
  if (auto problem = registry_name_problem(suffix)) {
    throw ConfigError(fmt::format("model reference {}: the alias {}", quote_bounded(text), *problem));
  }
  reference.alias = std::string(suffix);
  return reference;
}

ResolvedSnapshot resolve(const SnapshotRegistry& registry, const ModelReference& reference) {
  const std::filesystem::path directory = registry.checked_model_directory(reference.name);
  std::error_code error;
  if (!std::filesystem::is_directory(registry.root(), error)) {
    throw ConfigError(fmt::format("registry {} does not exist", registry.root()));
  }
  if (!std::filesystem::is_directory(directory, error)) {
    throw ConfigError(fmt::format("registry {} has no model '{}'", registry.root(), reference.name));
  }
  std::optional<std::int64_t> version = reference.version;
  if (reference.alias) {
    version = registry.alias_version(reference.name, *reference.alias);
    if (!version) {
      throw ConfigError(fmt::format("model '{}' in {} has no alias '{}'", reference.name,
                                    registry.root(), *reference.alias));
    }
  } else if (!version) {
    version = registry.current_version(reference.name);
    if (!version) {
      throw ConfigError(fmt::format("model '{}' in {} has no current version", reference.name,
                                    registry.root()));
    }
  }
  ResolvedSnapshot resolved{reference.name, *version, registry.snapshot_path(reference.name, *version)};
  if (!std::filesystem::exists(resolved.path, error)) {
    throw ConfigError(fmt::format("model '{}' in {} has no version {}{}", reference.name,
                                  registry.root(), *version,
                                  reference.version ? "" : fmt::format(" (named by {})", reference.to_string())));
  }
  registry.check_inside(resolved.path, "snapshot");
  if (!std::filesystem::is_regular_file(resolved.path, error)) {
    throw DataError(fmt::format("registry {}: snapshot {} is not a regular file", registry.root(),
                                resolved.path));
  }
  return resolved;
}

} // namespace sluice::snapshot
