// sluice serve: answer scoring requests over HTTP with a registry's model, following its moves.
#include "commands.hpp"

#include "http_server.hpp"
#include "sluice/error.hpp"
#include "sluice/serving/model_watcher.hpp"
#include "sluice/serving/scoring_service.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <thread>

namespace sluice::app {
namespace {

struct ServeArguments {
  std::string registry;
  std::string model;
  std::string snapshot_file;
  HttpServerOptions http;
  int poll_ms = 200;
};

// SIGTERM/SIGINT write one byte here; a thread reads it and stops the server (a handler may do
// no more than write(2)).
int stop_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int) {
  const int saved_errno = errno;
  const char byte = 1;
  [[maybe_unused]] ssize_t written = ::write(stop_pipe[1], &byte, 1);
  errno = saved_errno;
}

// Installs the handlers for the lifetime of the object and restores the old ones after.
class StopSignals {
public:
  StopSignals() {
    if (::pipe2(stop_pipe, O_CLOEXEC) != 0) throw IoError("cannot create the signal pipe");
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &action, &old_term_);
    sigaction(SIGINT, &action, &old_int_);
  }
  ~StopSignals() {
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGINT, &old_int_, nullptr);
    ::close(stop_pipe[0]);
    ::close(stop_pipe[1]);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  /// Blocks until a signal arrived (true) or wake() was called (false).
  bool wait() {
    char byte = 0;
    ssize_t n = 0;
    do {
      n = ::read(stop_pipe[0], &byte, 1);
    } while (n < 0 && errno == EINTR);
    return byte == 1;
  }
  void wake() {
    const char byte = 2;
    [[maybe_unused]] ssize_t written = ::write(stop_pipe[1], &byte, 1);
  }

private:
  struct sigaction old_term_ {};
  struct sigaction old_int_ {};
};

serving::ModelSource source_of(const ServeArguments& a) {
  if (!a.snapshot_file.empty()) {
    if (!a.registry.empty() || !a.model.empty()) {
      throw ConfigError("serve: give --snapshot FILE or --registry R --model NAME[@ALIAS], not both");
    }
    return serving::ModelSource::from_file(a.snapshot_file);
  }
  if (a.registry.empty() || a.model.empty()) {
    throw ConfigError("serve: give --registry R and --model NAME[@ALIAS] (or --snapshot FILE)");
  }
  return serving::ModelSource::from_registry(a.registry, a.model);
}

int serve(const mpi::Communicator& comm, const ServeArguments& a) {
  if (comm.size() != 1) {
    throw ConfigError(fmt::format("serve runs as one process, not {} ranks: start it without mpirun",
                                  comm.size()));
  }
  serving::ScoringService service(source_of(a));
  std::shared_ptr<const serving::LoadedModel> model = service.model();
  HttpServer server(service, a.http);
  server.bind();
  StopSignals signals;
  std::thread stopper([&] {
    if (signals.wait()) {
      spdlog::info("stopping: finishing the requests in progress");
      server.stop();
    }
  });
  std::optional<serving::ModelWatcher> watcher;
  if (!a.registry.empty()) watcher.emplace(service, std::chrono::milliseconds(a.poll_ms));
  // Scripts wait for this line (and read the port from it when they asked for port 0).
  fmt::print("serving {} version {} ({}) on http://{}:{}\n", model->name(), model->version(),
             model->kind(), a.http.host, server.port());
  std::fflush(stdout);
  model.reset();
  std::exception_ptr failure;
  try {
    server.run();
  } catch (...) {
    failure = std::current_exception();
  }
  signals.wake(); // ends the stopper when no signal came
  stopper.join();
  watcher.reset();
  if (failure) std::rethrow_exception(failure);
  fmt::print("stopped\n");
  return 0;
}

} // namespace

void add_serve_command(CLI::App& app, Command& selected) {
  auto a = std::make_shared<ServeArguments>();
  CLI::App* command = app.add_subcommand(
      "serve", "Answer scoring requests over HTTP (POST /v1/predict, GET /v1/health, /v1/metadata)");
  command->add_option("--registry", a->registry, "Registry directory");
  command->add_option("--model", a->model, "NAME (its current version), NAME@VERSION or NAME@ALIAS");
  command->add_option("--snapshot", a->snapshot_file, "Serve this snapshot file instead (never reloaded)");
  command->add_option("--host", a->http.host, "Address to listen on")->capture_default_str();
  command->add_option("--port", a->http.port, "Port (0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  command->add_option("--threads", a->http.num_threads,
                      "Worker threads; each open keep-alive connection holds one")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  command->add_option("--max-body-bytes", a->http.max_body_bytes, "Larger request bodies get 413")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--poll-ms", a->poll_ms, "How often the registry is checked for a new version")
      ->check(CLI::Range(10, 60000))
      ->capture_default_str();
  command->callback([a, &selected] {
    selected.collective = [a](const mpi::Communicator& comm) {
      return on_root_only(comm, [&] { return serve(comm, *a); });
    };
  });
}

} // namespace sluice::app
