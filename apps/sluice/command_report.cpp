// sluice report REPORT.json [--plot OUT.png]: the run report as a table, and as a timeline picture.
#include "commands.hpp"
#include "report_plot.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>

namespace sluice::app {
namespace {

struct ReportArguments {
  std::string file;
  std::string plot_file; // empty: no plot
};

void print_tables(const nlohmann::json& r) {
  fmt::print("model {} version {}: {} rows on {} ranks x {} threads in {:.3f} s ({:.3g} rows/s), "
             "load imbalance {:.3f}\n",
             r.value("model_name", "?"), r.value("version", 0), r.value("rows", 0),
             r.value("num_ranks", 0), r.value("threads_per_rank", 0), r.value("seconds", 0.0),
             r.value("rows_per_second", 0.0), r.value("load_imbalance", 1.0));
  fmt::print("\n{:<14} {:>10}\n", "stage", "seconds");
  const nlohmann::json root_stages = r.value("stages", nlohmann::json::object());
  std::vector<std::string> order = r.value("stage_order", std::vector<std::string>{});
  for (const auto& [name, seconds] : root_stages.items()) {
    if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
  }
  for (const std::string& name : order) {
    if (root_stages.contains(name)) {
      fmt::print("{:<14} {:>10.4f}\n", name, root_stages[name].get<double>());
    }
  }
  fmt::print("\n{:>4} {:>10} {:>12} {:>14} {:>10} {:>10}\n", "rank", "partitions", "rows", "bytes",
             "busy_s", "read_fit_s");
  for (const auto& rank : r["ranks"]) {
    const nlohmann::json rank_stages = rank.value("stages", nlohmann::json::object());
    fmt::print("{:>4} {:>10} {:>12} {:>14} {:>10.4f} {:>10.4f}\n", rank.value("rank", 0),
               rank.value("partitions", 0), rank.value("rows", 0), rank.value("bytes", 0),
               rank.value("busy_seconds", 0.0), rank_stages.value("read_fit", 0.0));
  }
}

int report(const ReportArguments& a) {
  std::ifstream stream(a.file);
  if (!stream) throw ConfigError(fmt::format("cannot read report {}", a.file));
  nlohmann::json r = nlohmann::json::parse(stream, nullptr, false);
  if (r.is_discarded() || !r.is_object() || !r.contains("ranks") || !r["ranks"].is_array()) {
    throw DataError(fmt::format("{} is not a Sluice run report", a.file));
  }
  // A report of the right shape can still hold a field of the wrong type (edited by hand, or
  // from a future version): say which file, not just nlohmann's message.
  try {
    print_tables(r);
    if (!a.plot_file.empty()) {
      write_timeline_png(r, a.plot_file);
      fmt::print("\ntimeline written to {}\n", a.plot_file);
    }
  } catch (const nlohmann::json::exception& error) {
    throw DataError(fmt::format("{} is not a valid Sluice run report: {}", a.file, error.what()));
  }
  return 0;
}

} // namespace

void add_report_command(CLI::App& app, Command& selected) {
  auto a = std::make_shared<ReportArguments>();
  CLI::App* command = app.add_subcommand("report", "Print a run report (vNNNNNN.report.json)");
  command->add_option("report", a->file, "Run report JSON")->required();
  command->add_option("--plot", a->plot_file,
                      "Also draw a per-rank stage timeline into this PNG file");
  command->callback([a, &selected] {
    selected.local = [a] { return report(*a); };
  });
}

} // namespace sluice::app
