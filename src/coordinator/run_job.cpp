// The batch flow: discover -> inspect -> plan -> read+accumulate -> ordered reduce -> solve -> publish.
#include "sluice/coordinator/run_job.hpp"

#include "checkpoint.hpp"
#include "partition_worker.hpp"
#include "progress.hpp"
#include "run_report.hpp"
#include "stop_signal.hpp"

#include "sluice/lake/catalog.hpp"
#include "sluice/lake/partition_reader.hpp"
#include "sluice/schedule/collective.hpp"
#include "sluice/schedule/partition_planner.hpp"
#include "sluice/snapshot/registry.hpp"
#include "sluice/snapshot/snapshot.hpp"
#include "sluice/version.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <numeric>
#include <optional>

namespace sluice::coordinator {
namespace {

using schedule::LocalFailure;
using Json = nlohmann::json;

constexpr int owner_skipped = -1; // failed inspection under on_bad_partition = "skip"
constexpr int owner_resumed = -2; // statistics come from the checkpoint

// Runs fn on the root only; a failure there becomes the same exception on every rank.
template <typename Fn>
void on_root(const mpi::Communicator& comm, Fn&& fn) {
  std::optional<LocalFailure> failure;
  if (comm.is_root()) {
    try {
      fn();
    } catch (const std::exception& error) {
      failure = LocalFailure{0, error.what()};
    }
  }
  schedule::raise_if_any_failed(comm, failure);
}

std::vector<lake::PartitionInfo> discover(const mpi::Communicator& comm, const job::JobSpec& job) {
  std::string text;
  on_root(comm, [&] {
    Json list = Json::array();
    for (const lake::PartitionInfo& p : lake::discover_partitions(
             {.root = job.lake.root, .glob = job.lake.glob, .selection = job.lake.selection})) {
      list.push_back({p.relative_path, p.file_bytes});
    }
    text = list.dump();
  });
  comm.broadcast(text);
  std::vector<lake::PartitionInfo> partitions;
  for (const Json& entry : Json::parse(text)) {
    std::string relative = entry[0].get<std::string>();
    partitions.push_back({.relative_path = relative,
                          .path = job.lake.root / relative,
                          .keys = lake::hive_keys(relative),
                          .file_bytes = entry[1].get<std::int64_t>()});
  }
  return partitions;
}

// Every rank opens a strided share of the partitions to check the schema and count rows, so the
// metadata pass over thousands of files is spread over the ranks. Returns, on root, per
// partition: rows, or the reason it is unusable.
std::vector<std::pair<std::int64_t, std::string>> inspect(const mpi::Communicator& comm,
                                                          const job::JobSpec& job,
                                                          const std::vector<lake::PartitionInfo>& partitions) {
  Json mine = Json::array();
  for (std::size_t i = static_cast<std::size_t>(comm.rank()); i < partitions.size();
       i += static_cast<std::size_t>(comm.size())) {
    try {
      lake::PartitionReader reader(partitions[i].path, job.lake.group, job.columns());
      mine.push_back({i, reader.num_rows(), ""});
    } catch (const Error& error) {
      mine.push_back({i, 0, error.what()});
    }
  }
  std::vector<std::pair<std::int64_t, std::string>> result(comm.is_root() ? partitions.size() : 0);
  for (const std::string& text : comm.gather(mine.dump())) {
    for (const Json& entry : Json::parse(text)) {
      result[entry[0].get<std::size_t>()] = {entry[1].get<std::int64_t>(), entry[2].get<std::string>()};
    }
  }
  return result;
}

struct Plan {
  std::vector<int> owner;
  std::vector<std::int64_t> rows;
  std::vector<snapshot::SkippedPartition> skipped;      // root only
  std::map<std::size_t, PartitionOutcome> resumed;       // root only
  double imbalance = 1.0;
};

Plan make_plan(const mpi::Communicator& comm, const job::JobSpec& job,
               const std::vector<lake::PartitionInfo>& partitions) {
  auto inspection = inspect(comm, job, partitions);
  Plan plan;
  std::vector<std::int64_t> packed;
  on_root(comm, [&] {
    plan.resumed = load_checkpoint(job, partitions);
    if (!plan.resumed.empty()) {
      spdlog::info("resuming: {} of {} partitions already done in {}", plan.resumed.size(),
                   partitions.size(), checkpoint_path(job).string());
    }
    std::vector<std::int64_t> rows(partitions.size(), 0);
    std::vector<std::size_t> to_plan;
    for (std::size_t i = 0; i < partitions.size(); ++i) {
      const auto& [num_rows, problem] = inspection[i];
      if (!problem.empty()) {
        if (job.lake.on_bad_partition == job::BadPartitionPolicy::error) throw DataError(problem);
        spdlog::warn("skipping partition: {}", problem);
        plan.skipped.push_back({partitions[i].relative_path, problem});
        continue;
      }
      rows[i] = num_rows;
      if (!plan.resumed.contains(i)) to_plan.push_back(i);
    }
    if (plan.skipped.size() == partitions.size()) {
      throw DataError(fmt::format("all {} partitions were skipped as bad", partitions.size()));
    }
    std::vector<std::int64_t> planned_rows;
    for (std::size_t i : to_plan) planned_rows.push_back(rows[i]);
    schedule::Assignment assignment = schedule::plan_partitions(planned_rows, comm.size());
    packed.assign(partitions.size(), owner_skipped);
    for (std::size_t i = 0; i < partitions.size(); ++i) {
      if (plan.resumed.contains(i)) packed[i] = owner_resumed;
    }
    for (std::size_t j = 0; j < to_plan.size(); ++j) packed[to_plan[j]] = assignment.owner[j];
    packed.insert(packed.end(), rows.begin(), rows.end());
    packed.push_back(static_cast<std::int64_t>(assignment.imbalance() * 1e6));
  });
  comm.broadcast(packed);
  const std::size_t n = partitions.size();
  plan.owner.assign(packed.begin(), packed.begin() + static_cast<std::ptrdiff_t>(n));
  plan.rows.assign(packed.begin() + static_cast<std::ptrdiff_t>(n),
                   packed.begin() + static_cast<std::ptrdiff_t>(2 * n));
  plan.imbalance = static_cast<double>(packed.back()) / 1e6;
  return plan;
}

struct LocalWork {
  std::vector<PartitionOutcome> outcomes; // ascending partition index
  bool is_stopped = false;
};

// One partition under the job's bad-partition policy: its outcome (possibly a skip), or why the
// job must fail.
struct Attempt {
  std::optional<PartitionOutcome> outcome;
  std::optional<std::string> failure;
};

// The rows and bytes a finished (not skipped) partition adds to the progress.
bool is_finished(const Attempt& attempt) {
  return attempt.outcome && attempt.outcome->skipped_reason.empty();
}

// Whether a rank that has started `num_started` partitions stops before the next one.
bool stop_before_next(const RunOptions& options, std::int64_t num_started) {
  return is_stop_requested() ||
         (options.stop_after_partitions >= 0 && num_started >= options.stop_after_partitions);
}

Attempt attempt_partition(const mpi::Communicator& comm, const job::JobSpec& job,
                          const lake::PartitionInfo& partition, std::size_t index,
                          const model::AccumulatorOptions& accumulator,
                          std::vector<double>& buffer) {
  try {
    PartitionOutcome outcome = process_partition(partition, index, job, accumulator, buffer);
    outcome.rank = comm.rank();
    return {std::move(outcome), std::nullopt};
  } catch (const Error& error) {
    if (job.lake.on_bad_partition != job::BadPartitionPolicy::skip) {
      return {std::nullopt, fmt::format("{} [rank {}]", error.what(), comm.rank())};
    }
    spdlog::warn("skipping partition: {}", error.what());
    PartitionOutcome skipped;
    skipped.index = index;
    skipped.rank = comm.rank();
    skipped.skipped_reason = error.what();
    return {std::move(skipped), std::nullopt};
  }
}

// Several threads and at least as many partitions: each thread takes whole partitions, largest
// first, like a rank of its own, so the threads never wait on one another inside a partition. A
// partition's statistics have the same bits whichever thread computes them. Returns the attempts
// in the order of `mine` (ascending partition index). Only the calling thread talks MPI
// (progress), as FUNNELED asks.
std::vector<Attempt> attempt_in_parallel(const mpi::Communicator& comm, const job::JobSpec& job,
                                         const std::vector<lake::PartitionInfo>& partitions,
                                         const std::vector<std::size_t>& mine, const Plan& plan,
                                         const RunOptions& options, int num_threads,
                                         model::AccumulatorOptions accumulator,
                                         Progress& progress, bool& is_stopped) {
  std::vector<std::size_t> largest_first(mine.size()); // positions in `mine`
  std::iota(largest_first.begin(), largest_first.end(), std::size_t{0});
  std::stable_sort(largest_first.begin(), largest_first.end(), [&](std::size_t a, std::size_t b) {
    return plan.rows[mine[a]] > plan.rows[mine[b]];
  });
  accumulator.num_threads = 1;
  std::vector<Attempt> attempts(mine.size());
  std::atomic<bool> is_halted{false}, stopped{false};
  std::atomic<std::int64_t> num_started{0};
  std::mutex pending_mutex;
  std::vector<std::pair<std::int64_t, std::int64_t>> pending; // rows, bytes of finished ones
  std::exception_ptr unexpected;
  const auto report_pending = [&] {
    std::vector<std::pair<std::int64_t, std::int64_t>> done;
    {
      const std::lock_guard lock(pending_mutex);
      done.swap(pending);
    }
    for (const auto& [rows, bytes] : done) progress.partition_done(rows, bytes);
  };
#pragma omp parallel num_threads(num_threads)
  {
    std::vector<double> buffer;
#pragma omp for schedule(dynamic, 1)
    for (std::size_t k = 0; k < largest_first.size(); ++k) {
      if (is_halted) continue;
      if (stop_before_next(options, num_started.fetch_add(1))) {
        stopped = true;
        is_halted = true;
        continue;
      }
      const std::size_t position = largest_first[k];
      Attempt& attempt = attempts[position];
      try {
        attempt = attempt_partition(comm, job, partitions[mine[position]], mine[position],
                                    accumulator, buffer);
        if (attempt.failure) is_halted = true;
        if (is_finished(attempt)) {
          const std::lock_guard lock(pending_mutex);
          pending.emplace_back(attempt.outcome->rows, attempt.outcome->bytes);
        }
      } catch (...) {
        const std::lock_guard lock(pending_mutex);
        if (!unexpected) unexpected = std::current_exception();
        is_halted = true;
      }
      if (omp_get_thread_num() == 0) report_pending();
    }
  }
  if (unexpected) std::rethrow_exception(unexpected);
  report_pending();
  is_stopped = stopped;
  return attempts;
}

LocalWork read_and_accumulate(const mpi::Communicator& comm, const job::JobSpec& job,
                              const std::vector<lake::PartitionInfo>& partitions, const Plan& plan,
                              const RunOptions& options, Progress& progress) {
  LocalWork work;
  std::optional<LocalFailure> failure;
  const int num_threads = threads_per_rank(job, options);
  const model::AccumulatorOptions accumulator{
      .nonfinite = job.lake.on_nonfinite == job::NonFiniteAction::drop_rows
                       ? model::NonFinitePolicy::drop_rows
                       : model::NonFinitePolicy::error,
      .num_threads = num_threads};
  std::vector<std::size_t> mine;
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    if (plan.owner[i] == comm.rank()) mine.push_back(i);
  }
  const auto take = [&](std::size_t i, Attempt& attempt) {
    if (attempt.failure) {
      if (!failure) failure = LocalFailure{static_cast<std::int64_t>(i), *attempt.failure};
    } else if (attempt.outcome) {
      work.outcomes.push_back(std::move(*attempt.outcome));
    }
  };
  if (num_threads > 1 && mine.size() >= static_cast<std::size_t>(num_threads)) {
    std::vector<Attempt> attempts = attempt_in_parallel(comm, job, partitions, mine, plan, options,
                                                        num_threads, accumulator, progress,
                                                        work.is_stopped);
    // In partition order, so the failure reported is the lowest partition's.
    for (std::size_t k = 0; k < mine.size(); ++k) take(mine[k], attempts[k]);
  } else {
    // Fewer partitions than threads: one partition at a time, its blocks shared by the threads.
    std::vector<double> buffer;
    std::int64_t num_done = 0;
    for (std::size_t i : mine) {
      if (stop_before_next(options, num_done)) {
        work.is_stopped = true;
        break;
      }
      Attempt attempt = attempt_partition(comm, job, partitions[i], i, accumulator, buffer);
      if (is_finished(attempt)) progress.partition_done(attempt.outcome->rows, attempt.outcome->bytes);
      take(i, attempt);
      if (failure) break;
      ++num_done;
    }
  }
  progress.local_done();
  schedule::raise_if_any_failed(comm, failure);
  return work;
}

// Root: every outcome of the run (metadata only), by partition index, including resumed ones.
std::map<std::size_t, PartitionOutcome> gather_outcomes(const mpi::Communicator& comm,
                                                        const LocalWork& work, const Plan& plan) {
  Json mine = Json::array();
  for (const PartitionOutcome& outcome : work.outcomes) mine.push_back(to_json(outcome));
  std::map<std::size_t, PartitionOutcome> all;
  for (const std::string& text : comm.gather(mine.dump())) {
    for (const Json& entry : Json::parse(text)) {
      PartitionOutcome outcome = outcome_from_json(entry);
      all[outcome.index] = std::move(outcome);
    }
  }
  if (comm.is_root()) {
    for (const auto& [index, outcome] : plan.resumed) all[index] = outcome;
  }
  return all;
}

void check_nonfinite(const mpi::Communicator& comm, const job::JobSpec& job,
                     const std::vector<lake::PartitionInfo>& partitions,
                     const std::map<std::size_t, PartitionOutcome>& outcomes) {
  on_root(comm, [&] {
    if (job.lake.on_nonfinite != job::NonFiniteAction::error) return;
    std::int64_t total = 0;
    const PartitionOutcome* first = nullptr;
    for (const auto& [index, outcome] : outcomes) {
      total += outcome.nonfinite.num_values;
      if (first == nullptr && outcome.nonfinite.num_values > 0) first = &outcome;
    }
    if (first == nullptr) return;
    throw DataError(fmt::format(
        "found {} NaN/Inf values in the job's columns; the first in partition {}, column '{}', "
        "row {} (set lake.on_nonfinite = \"drop_rows\" to drop such rows)",
        total, partitions[first->index].path.string(),
        job.columns()[static_cast<std::size_t>(first->nonfinite.first_column)],
        first->nonfinite.first_row));
  });
}

// Root receives each partition's statistics in partition order: the fold, and so every bit of
// the result, is the same on any number of ranks. Returns, on root, stats by partition index
// when keep_all (for checkpoints), else the folded total under index 0.
std::map<std::size_t, model::SufficientStats> ordered_reduce(
    const mpi::Communicator& comm, const job::JobSpec& job, const LocalWork& work,
    const Plan& plan, const std::map<std::size_t, PartitionOutcome>& outcomes, bool keep_all) {
  const auto k = static_cast<Eigen::Index>(job.columns().size());
  std::map<std::size_t, model::SufficientStats> result;
  if (!comm.is_root()) {
    for (const PartitionOutcome& outcome : work.outcomes) {
      if (!outcome.skipped_reason.empty()) continue;
      std::vector<double> buffer = outcome.stats.to_buffer();
      comm.send(buffer, 0, 0);
    }
    return result;
  }
  std::map<std::size_t, const PartitionOutcome*> local;
  for (const PartitionOutcome& outcome : work.outcomes) local[outcome.index] = &outcome;
  model::SufficientStats total = model::SufficientStats::empty(k);
  std::vector<double> buffer(model::SufficientStats::buffer_size(k));
  for (const auto& [index, outcome] : outcomes) {
    if (!outcome.skipped_reason.empty()) continue;
    model::SufficientStats stats;
    const int owner = plan.owner[index];
    if (owner == owner_resumed) {
      stats = plan.resumed.at(index).stats;
    } else if (owner == 0) {
      stats = local.at(index)->stats;
    } else {
      comm.receive(buffer, owner, 0);
      stats = model::SufficientStats::from_buffer(buffer, k);
    }
    if (keep_all) {
      result[index] = std::move(stats);
    } else {
      total.merge(stats);
    }
  }
  if (!keep_all) result[0] = std::move(total);
  return result;
}

void save_stopped_run(const mpi::Communicator& comm, const job::JobSpec& job,
                      const std::vector<lake::PartitionInfo>& partitions, const LocalWork& work,
                      const Plan& plan, std::map<std::size_t, PartitionOutcome>& outcomes) {
  auto stats = ordered_reduce(comm, job, work, plan, outcomes, true);
  std::size_t num_saved = 0;
  on_root(comm, [&] {
    std::vector<PartitionOutcome> finished;
    for (auto& [index, outcome] : outcomes) {
      if (!outcome.skipped_reason.empty()) continue;
      outcome.stats = stats.at(index);
      finished.push_back(outcome);
    }
    num_saved = finished.size();
    save_checkpoint(job, partitions, finished);
  });
  throw StoppedError(fmt::format(
      "stopped on request after {} of {} partitions; they are saved in {}; run the same job "
      "again to continue",
      comm.is_root() ? num_saved : 0, partitions.size(), checkpoint_path(job).string()));
}

std::string utc_now() {
  auto now = std::chrono::system_clock::now();
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                     std::chrono::time_point_cast<std::chrono::seconds>(now));
}

snapshot::Snapshot build_snapshot(const mpi::Communicator& comm, const job::JobSpec& job,
                                  const std::vector<lake::PartitionInfo>& partitions,
                                  const Plan& plan,
                                  const std::map<std::size_t, PartitionOutcome>& outcomes,
                                  const model::SufficientStats& total,
                                  const model::RidgeFit& fit, int threads) {
  snapshot::Snapshot s;
  s.model_name = job.publish.name;
  s.model_kind = std::string(job::to_string(job.model.kind));
  s.feature_names = job.model.features;
  s.label = job.model.label;
  s.coefficients = fit.coefficients;
  s.intercept = fit.intercept;
  s.alpha = job.model.alpha;
  s.fit_intercept = job.model.fit_intercept;
  Json pipeline = {{"version", 1},
                   {"group", job.lake.group},
                   {"stages", Json::array({{{"stage", "select"}, {"columns", job.model.features}},
                                           {{"stage", "cast"}, {"dtype", "float64"}}})},
                   {"on_nonfinite", job.lake.on_nonfinite == job::NonFiniteAction::error
                                        ? "error"
                                        : "drop_rows"}};
  s.pipeline_json = pipeline.dump();
  s.rmse = fit.rmse;
  s.r2 = fit.r2;
  s.num_rows = fit.num_rows;
  s.job_text = job.text;
  s.sluice_version = std::string(version());
  s.num_ranks = comm.size();
  s.threads_per_rank = threads;
  s.created_utc = utc_now();
  s.lake_root = job.lake.root.string();
  s.skipped = plan.skipped;
  for (const auto& [index, outcome] : outcomes) {
    if (!outcome.skipped_reason.empty()) {
      s.skipped.push_back({partitions[index].relative_path, outcome.skipped_reason});
      continue;
    }
    s.num_dropped_rows += outcome.nonfinite.num_rows;
    std::string keys;
    for (const auto& [key, value] : partitions[index].keys) {
      keys += fmt::format("{}{}={}", keys.empty() ? "" : "/", key, value);
    }
    s.partitions.push_back(
        {partitions[index].relative_path, outcome.rows, checksum_hex(outcome.checksum), keys});
  }
  s.statistics = total;
  return s;
}

} // namespace

int threads_per_rank(const job::JobSpec& job, const RunOptions& options) {
  if (options.threads > 0) return options.threads;
  if (job.run.threads > 0) return job.run.threads;
  if (const char* text = std::getenv("OMP_NUM_THREADS")) {
    int value = std::atoi(text);
    if (value > 0) return value;
  }
  return 1;
}

RunResult run_job(const mpi::Communicator& parent, const job::JobSpec& job,
                  const RunOptions& options) {
  mpi::Communicator comm = parent.dup();
  install_stop_handlers();
  StageTimer timer(comm);
  const int threads = threads_per_rank(job, options);

  std::vector<lake::PartitionInfo> partitions = discover(comm, job);
  timer.end_stage("discover");
  Plan plan = make_plan(comm, job, partitions);
  timer.end_stage("inspect_plan");
  spdlog::info("{} partitions, {} rows, {} ranks x {} threads, load imbalance {:.3f}",
               partitions.size(), std::reduce(plan.rows.begin(), plan.rows.end(), std::int64_t{0}),
               comm.size(), threads, plan.imbalance);

  Progress progress(comm, plan.owner, plan.rows);
  LocalWork work = read_and_accumulate(comm, job, partitions, plan, options, progress);
  timer.end_stage("read_fit");
  auto outcomes = gather_outcomes(comm, work, plan);
  check_nonfinite(comm, job, partitions, outcomes);
  if (comm.any_of(work.is_stopped)) save_stopped_run(comm, job, partitions, work, plan, outcomes);

  auto reduced = ordered_reduce(comm, job, work, plan, outcomes, false);
  timer.end_stage("reduce");
  nlohmann::json rank_stages = timer.gather(comm);

  RunResult result;
  std::string summary;
  on_root(comm, [&] {
    const model::SufficientStats& total = reduced.at(0);
    model::RidgeFit fit = model::RidgeTrainer({.alpha = job.model.alpha,
                                               .fit_intercept = job.model.fit_intercept})
                              .fit(total);
    if (fit.status == model::FitStatus::no_data) {
      throw DataError("the selected partitions hold no usable rows");
    }
    if (fit.status == model::FitStatus::singular) {
      throw NumericalError(fmt::format(
          "the normal equations are singular (reciprocal condition {:.1e}): a feature is constant "
          "or a linear combination of others; set model.alpha > 0 or drop the feature",
          fit.rcond));
    }
    timer.end_stage("solve");
    result.fit = fit;
    if (options.is_publishing) {
      snapshot::Snapshot s = build_snapshot(comm, job, partitions, plan, outcomes, total, fit, threads);
      snapshot::SnapshotRegistry registry(job.publish.registry);
      result.version = registry.publish(
          job.publish.name,
          [&](const std::filesystem::path& temporary, std::int64_t version) {
            s.version = version;
            snapshot::write_snapshot(temporary, s);
          },
          [&](std::int64_t version) {
            timer.end_stage("publish");
            return make_run_report(job, comm.size(), threads, partitions, outcomes, plan.skipped,
                                   rank_stages, timer, version, fit)
                .dump(2);
          });
      result.snapshot_path = registry.snapshot_path(job.publish.name, result.version);
      remove_checkpoint(job);
    }
    Json broadcastable = {{"version", result.version},
                          {"path", result.snapshot_path.string()},
                          {"coefficients", std::vector<double>(fit.coefficients.data(),
                                                               fit.coefficients.data() + fit.coefficients.size())},
                          {"intercept", fit.intercept},
                          {"rmse", fit.rmse},
                          {"r2", fit.r2},
                          {"rcond", fit.rcond},
                          {"rows", fit.num_rows}};
    summary = broadcastable.dump();
  });
  comm.broadcast(summary);
  Json parsed = Json::parse(summary);
  auto coefficients = parsed["coefficients"].get<std::vector<double>>();
  result.fit.status = model::FitStatus::success;
  result.fit.coefficients = Eigen::Map<Eigen::VectorXd>(coefficients.data(),
                                                        static_cast<Eigen::Index>(coefficients.size()));
  result.fit.intercept = parsed["intercept"].get<double>();
  result.fit.rmse = parsed["rmse"].get<double>();
  result.fit.r2 = parsed["r2"].get<double>();
  result.fit.rcond = parsed["rcond"].get<double>();
  result.fit.num_rows = parsed["rows"].get<std::int64_t>();
  result.version = parsed["version"].get<std::int64_t>();
  result.snapshot_path = parsed["path"].get<std::string>();
  result.num_rows = result.fit.num_rows;
  result.num_partitions = static_cast<std::int64_t>(partitions.size());
  result.num_resumed_partitions = static_cast<std::int64_t>(
      std::count(plan.owner.begin(), plan.owner.end(), owner_resumed));
  result.seconds = timer.total_seconds();
  return result;
}

} // namespace sluice::coordinator
