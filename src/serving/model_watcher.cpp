// The background poll that keeps a service on the version its registry names.
#include "sluice/serving/model_watcher.hpp"

namespace sluice::serving {

ModelWatcher::ModelWatcher(ScoringService& service, std::chrono::milliseconds interval)
    : service_(service), interval_(interval),
      thread_([this](std::stop_token stop) { run(std::move(stop)); }) {}

ModelWatcher::~ModelWatcher() {
  thread_.request_stop(); // wakes the wait below through its stop_token
  thread_.join();
}

void ModelWatcher::run(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  while (true) {
    // Returns at the interval's end, or at once when a stop is requested.
    wake_.wait_for(lock, stop, interval_, [] { return false; });
    if (stop.stop_requested()) return;
    lock.unlock();
    service_.refresh(); // never throws; a failure keeps the served version
    lock.lock();
  }
}

} // namespace sluice::serving
