// Hive-style partition keys: directories named `key=value` label every row below them.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::lake {

/// The keys of every `key=value` directory component of a relative path (the file name itself
/// is not a directory and never counts). A key repeated deeper in the path takes the deeper value.
std::map<std::string, std::string> hive_keys(std::string_view relative_path);

/// A selection: for each key, the values a partition may have. An empty selection keeps all.
using KeySelection = std::map<std::string, std::vector<std::string>>;

/// True if for every selected key the partition has that key with one of the allowed values.
bool is_selected(const std::map<std::string, std::string>& keys, const KeySelection& selection);

/// Every key of the given partitions' keys with its distinct values, sorted.
std::map<std::string, std::vector<std::string>> key_values(
    const std::vector<std::map<std::string, std::string>>& partition_keys);

} // namespace sluice::lake
