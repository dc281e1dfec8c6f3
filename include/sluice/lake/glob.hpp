// Glob matching of lake-relative paths, with `**` spanning any number of directories.
#pragma once

#include <string_view>

namespace sluice::lake {

/// True if the '/'-separated relative path matches pattern. Within a component, `*`, `?` and
/// `[...]` behave as in fnmatch(3) and never cross '/'; a component `**` matches zero or more
/// whole components.
bool glob_match(std::string_view pattern, std::string_view relative_path);

} // namespace sluice::lake
