// The HTTP front end of `sluice serve`: cpp-httplib routes over a ScoringService.
#pragma once

#include "sluice/serving/scoring_service.hpp"

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

namespace sluice::app {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                      ///< 0: any free port (see HttpServer::port)
  int num_threads = 16;                 ///< each open keep-alive connection holds one
  std::size_t max_body_bytes = 64 << 20; ///< larger requests are answered 413
};

/// POST /v1/predict, GET /v1/health, GET /v1/metadata (docs/serving.md). Every answer is JSON;
/// a malformed request gets a 4xx with {"error": ...} and the server carries on.
class HttpServer {
public:
  HttpServer(serving::ScoringService& service, HttpServerOptions options);
  ~HttpServer();

  /// Binds the listening socket; throws IoError naming host and port when it cannot.
  void bind();
  /// The bound port (the chosen one when the options asked for 0).
  int port() const noexcept { return port_; }
  /// Accepts and answers requests until stop(); returns once every connection is done.
  void run();
  /// Makes run() return (or not start) and waits until it has; safe from any thread but run()'s.
  void stop();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  HttpServerOptions options_;
  int port_ = 0;
  std::atomic<bool> is_stop_requested_{false};
  std::atomic<bool> is_running_{false};
  std::atomic<bool> is_finished_{false};
};

} // namespace sluice::app
