// Validation of registry model and alias names: each must be exactly one safe path component.
#include "sluice/registry_name.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>

namespace sluice {
namespace {

bool is_name_character(char c) {
  const bool is_letter_or_digit =
      (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  return is_letter_or_digit || c == '.' || c == '_' || c == '-';
}

} // namespace

std::string quote_bounded(std::string_view text, std::size_t max_bytes) {
  std::string quoted = "'";
  const std::string_view shown = text.substr(0, max_bytes);
  for (char c : shown) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f || c == '\'' || c == '\\') {
      quoted += fmt::format("\\x{:02x}", byte);
    } else {
      quoted += c;
    }
  }
  if (shown.size() < text.size()) quoted += "...";
  return quoted + "'";
}

std::optional<std::string> registry_name_problem(std::string_view name) {
  if (name.empty()) return std::string("is empty");
  if (name.size() > max_registry_name_bytes) {
    return fmt::format("is {} bytes long, at most {} are allowed ({})", name.size(),
                       max_registry_name_bytes, quote_bounded(name));
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!is_name_character(name[i])) {
      return fmt::format("{} may hold only letters, digits, '-', '_' and '.' (found {} at byte {})",
                         quote_bounded(name), quote_bounded(name.substr(i, 1)), i);
    }
  }
  // A leading '.', '-' or '_' would make hidden files, option-like arguments or reserved names.
  const char first = name.front();
  if (first == '.' || first == '-' || first == '_') {
    return fmt::format("{} must start with a letter or a digit", quote_bounded(name));
  }
  if (name.find("..") != std::string_view::npos) {
    return fmt::format("{} must not contain '..'", quote_bounded(name));
  }
  return std::nullopt;
}

void check_registry_name(std::string_view name, std::string_view what) {
  if (auto problem = registry_name_problem(name)) {
    throw ConfigError(fmt::format("{} {}", what, *problem));
  }
}

} // namespace sluice
