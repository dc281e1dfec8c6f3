// Routes of the serving API. Each request takes the served model once and uses it to the end.
#include "http_server.hpp"

#include "sluice/error.hpp"
#include "sluice/serving/predict_json.hpp"
#include "sluice/serving/request_error.hpp"

#include <sys/socket.h>

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

namespace sluice::app {
namespace {

constexpr const char* json_type = "application/json";

void answer_error(httplib::Response& response, int status, std::string_view message) {
  response.status = status;
  response.set_content(serving::error_json(message), json_type);
}

void predict(const serving::ScoringService& service, const httplib::Request& request,
             httplib::Response& response) {
  std::shared_ptr<const serving::LoadedModel> model = service.model();
  try {
    Eigen::MatrixXd raw = serving::parse_predict_request(request.body, *model);
    serving::Scores scores = serving::ScoringService::score(std::move(model), raw);
    response.set_content(serving::predict_response_json(scores), json_type);
  } catch (const serving::RequestError& error) {
    answer_error(response, 400, error.what());
  } catch (const DataError& error) {
    // Well-formed rows the model's pipeline refuses (e.g. a value it cannot transform).
    answer_error(response, 422, error.what());
  }
}

} // namespace

struct HttpServer::Impl {
  httplib::Server server;
};

HttpServer::HttpServer(serving::ScoringService& service, HttpServerOptions options)
    : impl_(std::make_unique<Impl>()), options_(std::move(options)) {
  httplib::Server& server = impl_->server;
  const int num_threads = options_.num_threads;
  server.new_task_queue = [num_threads] { return new httplib::ThreadPool(static_cast<std::size_t>(num_threads)); };
  // httplib closes a keep-alive connection after 5 requests by default: a client sending many
  // small requests would pay a new connection every fifth one.
  server.set_keep_alive_max_count(1000000);
  // An idle connection holds a worker until this passes, and stop() waits for it.
  server.set_keep_alive_timeout(2);
  server.set_payload_max_length(options_.max_body_bytes);
  // httplib writes headers and body in separate sends: with Nagle's algorithm on, a small answer
  // waits for the client's delayed ACK (about 40 ms).
  server.set_tcp_nodelay(true);
  // httplib's default adds SO_REUSEPORT, which lets a second server bind the same port and take
  // half of the connections: keep SO_REUSEADDR only (a restart may still reuse the port at once).
  server.set_socket_options([](int socket) {
    int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  // httplib bounds only bodies with a Content-Length; a chunked or unterminated body would be
  // read whole into memory. Refuse those before the body is read.
  server.set_pre_routing_handler([](const httplib::Request& request, httplib::Response& response) {
    if (request.method == "POST" && !request.has_header("Content-Length")) {
      answer_error(response, 411, "a Content-Length header is required (chunked bodies are not accepted)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server.Post("/v1/predict", [&service](const httplib::Request& request, httplib::Response& response) {
    predict(service, request, response);
  });
  server.Get("/v1/health", [&service](const httplib::Request&, httplib::Response& response) {
    response.set_content(serving::health_json(service), json_type);
  });
  server.Get("/v1/metadata", [&service](const httplib::Request&, httplib::Response& response) {
    response.set_content(serving::metadata_json(*service.model()), json_type);
  });
  const std::size_t max_body_bytes = options_.max_body_bytes;
  // httplib's own refusals (no such route, body too large, unreadable request) get JSON too.
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [max_body_bytes](const httplib::Request& request, httplib::Response& response) {
    if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    switch (response.status) {
    case 404: message = fmt::format("no endpoint {} {}", request.method, request.path); break;
    case 413: message = fmt::format("request body larger than {} bytes", max_body_bytes); break;
    default: message = fmt::format("request refused (HTTP {})", response.status); break;
    }
    response.set_content(serving::error_json(message), json_type);
    return httplib::Server::HandlerResponse::Handled;
  }));
  server.set_exception_handler([](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
    std::string message = "internal error";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      message = fmt::format("internal error: {}", e.what());
    } catch (...) {
    }
    spdlog::error("{}", message);
    answer_error(response, 500, message);
  });
}

HttpServer::~HttpServer() = default;

void HttpServer::bind() {
  httplib::Server& server = impl_->server;
  if (options_.port == 0) {
    port_ = server.bind_to_any_port(options_.host);
  } else {
    port_ = server.bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0) {
    throw IoError(fmt::format("cannot listen on {}:{} (address in use, or not an address of this host)",
                              options_.host, options_.port));
  }
}

void HttpServer::run() {
  is_running_.store(true);
  if (!is_stop_requested_.load()) {
    const bool is_clean = impl_->server.listen_after_bind();
    if (!is_clean && !is_stop_requested_.load()) {
      is_finished_.store(true);
      throw IoError(fmt::format("accepting connections on {}:{} failed", options_.host, port_));
    }
  }
  is_finished_.store(true);
}

void HttpServer::stop() {
  is_stop_requested_.store(true);
  // httplib's stop() does nothing until its accept loop has started: repeat it until run() ends
  // (run() sees the flag itself when it had not started yet).
  while (is_running_.load() && !is_finished_.load()) {
    impl_->server.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

} // namespace sluice::app
