// Builds the machine-readable run report from the stage timers and per-partition outcomes.
#include "run_report.hpp"

#include "sluice/version.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>

namespace sluice::coordinator {

using Json = nlohmann::json;

StageTimer::StageTimer(const mpi::Communicator& comm)
    : comm_(comm), start_(comm.wall_time()), last_(start_) {}

void StageTimer::end_stage(const std::string& name) {
  const double now = comm_.wall_time();
  stages_.emplace_back(name, now - last_);
  last_ = now;
}

double StageTimer::total_seconds() const { return comm_.wall_time() - start_; }

Json StageTimer::gather(const mpi::Communicator& comm) const {
  Json mine = Json::object();
  for (const auto& [name, seconds] : stages_) mine[name] = seconds;
  Json all = Json::array();
  for (const std::string& text : comm.gather(mine.dump())) all.push_back(Json::parse(text));
  return all;
}

Json describe_rank(const RankCache& cache, int threads) {
  Json mine = cache.describe();
  // Which node a rank ran on is what explains a slow or lost rank on a cluster.
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  mine["host"] = std::string(host.data());
  Json cpus = Json::array();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
  }
  mine["cpus"] = cpus;
  mine["threads"] = threads;
  return mine;
}

Json make_run_report(const RunReportInput& in) {
  const job::JobSpec& job = in.job;
  const int num_ranks = in.num_ranks;
  const auto& partitions = in.partitions;
  const auto& outcomes = in.outcomes;
  const auto& rank_stages = in.rank_stages;
  const StageTimer& root_timer = in.root_timer;
  struct RankTotals {
    std::int64_t partitions = 0, rows = 0, bytes = 0;
    double seconds = 0;
  };
  std::vector<RankTotals> ranks(static_cast<std::size_t>(num_ranks));
  Json partition_rows = Json::array();
  std::int64_t total_rows = 0;
  std::int64_t total_bytes = 0;
  for (const auto& [index, outcome] : outcomes) {
    const WorkUnit& unit = in.units[index];
    // A split of a large partition is listed with its first row (0 for a whole partition).
    partition_rows.push_back({{"path", partitions[unit.partition].relative_path},
                              {"first_row", unit.first_row},
                              {"rank", outcome.rank},
                              {"rows", outcome.rows},
                              {"bytes", outcome.bytes},
                              {"seconds", outcome.seconds},
                              {"skipped", !outcome.skipped_reason.empty()},
                              {"cached", outcome.is_cached}});
    if (outcome.rank >= 0 && outcome.rank < num_ranks) {
      RankTotals& totals = ranks[static_cast<std::size_t>(outcome.rank)];
      ++totals.partitions;
      totals.rows += outcome.rows;
      totals.bytes += outcome.bytes;
      totals.seconds += outcome.seconds;
    }
    total_rows += outcome.rows;
    total_bytes += outcome.bytes;
  }
  Json rank_rows = Json::array();
  double max_read_fit = 0;
  double sum_read_fit = 0;
  for (int r = 0; r < num_ranks; ++r) {
    const RankTotals& totals = ranks[static_cast<std::size_t>(r)];
    Json stages = r < static_cast<int>(rank_stages.size()) ? rank_stages[static_cast<std::size_t>(r)] : Json::object();
    const double read_fit = stages.value("read_fit", 0.0);
    max_read_fit = std::max(max_read_fit, read_fit);
    sum_read_fit += read_fit;
    Json cache = r < static_cast<int>(in.rank_cache.size()) ? in.rank_cache[static_cast<std::size_t>(r)] : Json::object();
    rank_rows.push_back({{"rank", r},
                         {"host", cache.value("host", std::string())},
                         {"cpus", cache.value("cpus", Json::array())},
                         {"threads", cache.value("threads", 0)},
                         {"partitions", totals.partitions},
                         {"rows", totals.rows},
                         {"bytes", totals.bytes},
                         {"busy_seconds", totals.seconds},
                         {"data_in_memory", cache.value("in_memory", false)},
                         {"memory_held_bytes", cache.value("held_bytes", std::int64_t{0})},
                         {"memory_refused_bytes", cache.value("refused_bytes", std::int64_t{0})},
                         {"memory_budget_bytes", cache.value("budget_bytes", std::int64_t{0})},
                         {"stages", stages}});
  }
  Json stages = Json::object();
  Json stage_order = Json::array(); // JSON objects have no order; readers print stages in this one
  for (const auto& [name, seconds] : root_timer.stages()) {
    stages[name] = seconds;
    stage_order.push_back(name);
  }
  const double total_seconds = root_timer.total_seconds();
  const double mean_read_fit = sum_read_fit / std::max(num_ranks, 1);
  Json skipped_rows = Json::array();
  for (const auto& entry : in.skipped) skipped_rows.push_back({{"path", entry.path}, {"reason", entry.reason}});
  Json pass_rows = Json::array();
  for (const PassRecord& pass : in.passes) {
    pass_rows.push_back({{"name", pass.name}, {"seconds", pass.seconds}, {"from_memory", pass.is_from_memory}});
  }
  Json metrics = Json::object();
  for (const auto& [name, value] : in.metrics) metrics[name] = value;
  return {{"report_version", 1},
          {"model_name", job.publish.name},
          {"version", in.version},
          {"sluice_version", std::string(sluice::version())},
          {"num_ranks", num_ranks},
          {"threads_per_rank", in.threads},
          {"model_kind", job.model.kind},
          {"rows", total_rows},
          {"bytes_read", total_bytes},
          {"seconds", total_seconds},
          {"rows_per_second", total_seconds > 0 ? static_cast<double>(total_rows) / total_seconds : 0.0},
          {"load_imbalance", mean_read_fit > 0 ? max_read_fit / mean_read_fit : 1.0},
          {"stages", stages},
          {"stage_order", stage_order},
          {"ranks", rank_rows},
          {"partitions", partition_rows},
          {"skipped", skipped_rows},
          {"passes", pass_rows},
          {"metrics", metrics}};
}

} // namespace sluice::coordinator
