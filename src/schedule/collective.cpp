// Agreement on failures at phase boundaries, so no rank hangs in a later collective.
#include "sluice/schedule/collective.hpp"

#include "sluice/error.hpp"

#include <nlohmann/json.hpp>

#include <limits>

namespace sluice::schedule {

LocalFailure LocalFailure::of(std::int64_t order, const std::exception& error) {
  if (const auto* agreed = dynamic_cast<const AgreedError*>(&error)) {
    return {order, error.what(), agreed->kind()};
  }
  return {order, error.what(), kind_of(error)};
}

void raise_if_any_failed(const mpi::Communicator& comm,
                         const std::optional<LocalFailure>& failure) {
  if (!comm.any_of(failure.has_value())) return;
  std::string local;
  if (failure) {
    local = nlohmann::json{{"order", failure->order},
                           {"message", failure->message},
                           {"kind", static_cast<int>(failure->kind)}}
                .dump();
  }
  std::vector<std::string> all = comm.gather(local);
  std::string chosen;
  std::vector<std::int64_t> kind = {static_cast<std::int64_t>(ErrorKind::internal)};
  if (comm.is_root()) {
    std::int64_t best = std::numeric_limits<std::int64_t>::max();
    for (const std::string& text : all) {
      if (text.empty()) continue;
      auto parsed = nlohmann::json::parse(text);
      if (parsed["order"].get<std::int64_t>() < best) {
        best = parsed["order"].get<std::int64_t>();
        chosen = parsed["message"].get<std::string>();
        kind[0] = parsed["kind"].get<std::int64_t>();
      }
    }
  }
  comm.broadcast(chosen);
  comm.broadcast(kind);
  throw AgreedError(chosen, static_cast<ErrorKind>(kind[0]));
}

} // namespace sluice::schedule
