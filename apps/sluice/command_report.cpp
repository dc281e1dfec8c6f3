// sluice report REPORT.json: the run report as a table of stages and ranks.
#include "commands.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace sluice::app {
namespace {

struct ReportArguments {
  std::string file;
};

int report(const ReportArguments& a) {
  std::ifstream stream(a.file);
  if (!stream) throw ConfigError(fmt::format("cannot read report {}", a.file));
  nlohmann::json r = nlohmann::json::parse(stream, nullptr, false);
  if (r.is_discarded() || !r.contains("ranks")) {
    throw DataError(fmt::format("{} is not a Sluice run report", a.file));
  }
  fmt::print("model {} version {}: {} rows on {} ranks x {} threads in {:.3f} s ({:.3g} rows/s), "
             "load imbalance {:.3f}\n",
             r.value("model_name", "?"), r.value("version", 0), r.value("rows", 0),
             r.value("num_ranks", 0), r.value("threads_per_rank", 0), r.value("seconds", 0.0),
             r.value("rows_per_second", 0.0), r.value("load_imbalance", 1.0));
  fmt::print("\n{:<14} {:>10}\n", "stage", "seconds");
  for (const auto& [name, seconds] : r["stages"].items()) {
    fmt::print("{:<14} {:>10.4f}\n", name, seconds.get<double>());
  }
  fmt::print("\n{:>4} {:>10} {:>12} {:>14} {:>10} {:>10}\n", "rank", "partitions", "rows", "bytes",
             "busy_s", "read_fit_s");
  for (const auto& rank : r["ranks"]) {
    fmt::print("{:>4} {:>10} {:>12} {:>14} {:>10.4f} {:>10.4f}\n", rank.value("rank", 0),
               rank.value("partitions", 0), rank.value("rows", 0), rank.value("bytes", 0),
               rank.value("busy_seconds", 0.0), rank["stages"].value("read_fit", 0.0));
  }
  return 0;
}

} // namespace

void add_report_command(CLI::App& app, Command& selected) {
  auto a = std::make_shared<ReportArguments>();
  CLI::App* command = app.add_subcommand("report", "Print a run report (vNNNNNN.report.json)");
  command->add_option("report", a->file, "Run report JSON")->required();
  command->callback([a, &selected] {
    selected = [a](const mpi::Communicator& comm) { return on_root_only(comm, [&] { return report(*a); }); };
  });
}

} // namespace sluice::app
