// The default in-memory budget for iterative passes.
#include "partition_cache.hpp"

#include <unistd.h>

#include <algorithm>

namespace sluice::coordinator {

std::int64_t default_memory_budget(int ranks_on_node) {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  const std::int64_t physical = static_cast<std::int64_t>(pages) * page_size;
  return physical / 2 / std::max(ranks_on_node, 1);
}

bool RankCache::reserve(std::int64_t bytes) {
  if (used_bytes.fetch_add(bytes) + bytes <= budget_bytes) return true;
  used_bytes.fetch_sub(bytes);
  refused_bytes.fetch_add(bytes);
  return false;
}

nlohmann::json RankCache::describe() const {
  return {{"in_memory", is_holding_all()},
          {"held_bytes", used_bytes.load()},
          {"refused_bytes", refused_bytes.load()},
          {"budget_bytes", is_enabled ? budget_bytes : 0}};
}

} // namespace sluice::coordinator
