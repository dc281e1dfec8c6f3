// ModelWatcher: keeps a ScoringService on the version its registry names, polling in the background.
#pragma once

#include "sluice/serving/scoring_service.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace sluice::serving {

/// Calls service.refresh() every `interval` on a thread of its own until destroyed, so a moved
/// CURRENT pointer or alias is served within about one interval plus the load time.
class ModelWatcher {
public:
  explicit ModelWatcher(ScoringService& service,
                        std::chrono::milliseconds interval = std::chrono::milliseconds(200));
  /// Stops the thread and waits for it (at most one refresh in progress).
  ~ModelWatcher();

  ModelWatcher(const ModelWatcher&) = delete;
  ModelWatcher& operator=(const ModelWatcher&) = delete;

private:
  void run(std::stop_token stop);

  ScoringService& service_;
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::jthread thread_; // last: started once the members it uses exist
};

} // namespace sluice::serving
