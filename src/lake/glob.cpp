// Component-wise glob matching on top of fnmatch(3), adding the recursive `**` component.
#include "sluice/lake/glob.hpp"

#include <fnmatch.h>

#include <string>
#include <vector>

namespace sluice::lake {
namespace {

std::vector<std::string> split_components(std::string_view path) {
  std::vector<std::string> components;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) components.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return components;
}

bool match_from(const std::vector<std::string>& pattern, std::size_t p,
                const std::vector<std::string>& path, std::size_t q) {
  if (p == pattern.size()) return q == path.size();
  if (pattern[p] == "**") {
    // Try every split point: `**` swallows path[q..k) for k = q..end.
    for (std::size_t k = q; k <= path.size(); ++k) {
      if (match_from(pattern, p + 1, path, k)) return true;
    }
    return false;
  }
  if (q == path.size()) return false;
  if (fnmatch(pattern[p].c_str(), path[q].c_str(), FNM_PERIOD) != 0) return false;
  return match_from(pattern, p + 1, path, q + 1);
}

} // namespace

bool glob_match(std::string_view pattern, std::string_view relative_path) {
  return match_from(split_components(pattern), 0, split_components(relative_path), 0);
}

} // namespace sluice::lake
