// The names a snapshot registry accepts for models and aliases: one safe path component each.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

/// The longest model or alias name, in bytes.
inline constexpr std::size_t max_registry_name_bytes = 128;

/// Why `name` cannot name a model or an alias in a registry, or nullopt when it can. Accepted:
/// `[A-Za-z0-9][A-Za-z0-9._-]{0,127}` without `..`, so a name is always one directory entry of the
/// registry (never `.`, `..`, a path, a hidden file or a name with NUL or control bytes). The text
/// quotes at most the first 40 bytes of the name, with unprintable bytes escaped, e.g.
/// "'../x' may hold only letters, digits, '-', '_' and '.' (found '/' at byte 2)".
std::optional<std::string> registry_name_problem(std::string_view name);

/// Throws ConfigError "<what> <problem>" (e.g. "model name 'a/b' may hold only ...") when `name`
/// is not a valid registry name.
void check_registry_name(std::string_view name, std::string_view what);

/// `text` for a message: at most max_bytes bytes, unprintable bytes as \xHH, "..." when cut,
/// in single quotes.
std::string quote_bounded(std::string_view text, std::size_t max_bytes = 40);

} // namespace sluice
