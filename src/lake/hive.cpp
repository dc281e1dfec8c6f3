// Parsing of Hive-style `key=value` directory names and key-based partition selection.
#include "sluice/lake/hive.hpp"

#include <algorithm>
#include <set>

namespace sluice::lake {

std::map<std::string, std::string> hive_keys(std::string_view relative_path) {
  std::map<std::string, std::string> keys;
  std::size_t last_slash = relative_path.rfind('/');
  if (last_slash == std::string_view::npos) return keys;
  std::string_view directories = relative_path.substr(0, last_slash);
  std::size_t start = 0;
  while (start <= directories.size()) {
    std::size_t end = directories.find('/', start);
    if (end == std::string_view::npos) end = directories.size();
    std::string_view component = directories.substr(start, end - start);
    std::size_t equals = component.find('=');
    if (equals != std::string_view::npos && equals > 0) {
      keys[std::string(component.substr(0, equals))] = std::string(component.substr(equals + 1));
    }
    start = end + 1;
  }
  return keys;
}

bool is_selected(const std::map<std::string, std::string>& keys, const KeySelection& selection) {
  return std::all_of(selection.begin(), selection.end(), [&](const auto& entry) {
    auto found = keys.find(entry.first);
    return found != keys.end() &&
           std::find(entry.second.begin(), entry.second.end(), found->second) != entry.second.end();
  });
}

std::map<std::string, std::vector<std::string>> key_values(
    const std::vector<std::map<std::string, std::string>>& partition_keys) {
  std::map<std::string, std::set<std::string>> distinct;
  for (const auto& keys : partition_keys) {
    for (const auto& [key, value] : keys) distinct[key].insert(value);
  }
  std::map<std::string, std::vector<std::string>> values;
  for (const auto& [key, set] : distinct) values[key].assign(set.begin(), set.end());
  return values;
}

} // namespace sluice::lake
