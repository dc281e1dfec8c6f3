// The engine's training loop: plan once, then passes of read -> accumulate -> tree merge ->
// update until the model kind is done, then publish. No model-specific code lives here.
#include "sluice/coordinator/run_job.hpp"

#include "lake_plan.hpp"
#include "pass_executor.hpp"
#include "progress.hpp"
#include "publish_run.hpp"
#include "run_report.hpp"
#include "unit_reduce.hpp"
#include "transform/profile_accumulator.hpp"

#include "sluice/lake/hive.hpp"
#include "sluice/model/model_kinds.hpp"
#include "sluice/mpi/error.hpp"
#include "sluice/schedule/collective.hpp"
#include "sluice/schedule/tree_reduce.hpp"
#include "sluice/snapshot/registry.hpp"
#include "sluice/transform/pipeline_trainer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>

namespace sluice::coordinator {
namespace {

using Json = nlohmann::json;

// Every rank validates the model keys itself (the same job text gives the same verdict), so a
// bad key is reported before any file is opened.
std::unique_ptr<model::Trainer> make_trainer_everywhere(const mpi::Communicator& comm,
                                                        const job::JobSpec& job) {
  std::optional<schedule::LocalFailure> failure;
  std::unique_ptr<model::Trainer> trainer;
  try {
    trainer = model::make_trainer(job.model);
  } catch (const std::exception& error) {
    failure = schedule::LocalFailure::of(0, error);
  }
  schedule::raise_if_any_failed(comm, failure);
  return trainer;
}

// The job's pipeline, compiled against the Hive keys of the selected partitions (no file is
// read): every rank compiles the same text, so every rank reaches the same verdict.
transform::Pipeline compile_pipeline_everywhere(const mpi::Communicator& comm, const job::JobSpec& job,
                                                const std::vector<lake::PartitionInfo>& partitions) {
  std::optional<schedule::LocalFailure> failure;
  transform::Pipeline pipeline;
  try {
    std::vector<std::map<std::string, std::string>> keys;
    for (const lake::PartitionInfo& partition : partitions) keys.push_back(partition.keys);
    pipeline = transform::Pipeline::compile(job.transforms, job.split, lake::key_values(keys),
                                            job.columns());
  } catch (const std::exception& error) {
    failure = schedule::LocalFailure::of(0, error);
  }
  schedule::raise_if_any_failed(comm, failure);
  return pipeline;
}

// A job with a pipeline trains through it; without one the model reads the raw columns itself.
std::unique_ptr<model::Trainer> make_job_trainer(const mpi::Communicator& comm, const job::JobSpec& job,
                                                 const transform::Pipeline& pipeline,
                                                 std::unique_ptr<model::Trainer> plain) {
  if (pipeline.is_empty()) return plain;
  std::optional<schedule::LocalFailure> failure;
  std::unique_ptr<model::Trainer> trainer;
  try {
    trainer = std::make_unique<transform::PipelineTrainer>(pipeline, job.model);
  } catch (const std::exception& error) {
    failure = schedule::LocalFailure::of(0, error);
  }
  schedule::raise_if_any_failed(comm, failure);
  return trainer;
}

// An iterative kind under the partial cache starts from the model's CURRENT version, if it is
// compatible: rank 0 finds it, every rank reads it (verified) and hands it to its trainer.
// Returns the version started from, 0 for a cold start. An unreadable version is a cold start.
std::int64_t warm_start(const mpi::Communicator& comm, const job::JobSpec& job,
                        const RunOptions& options, model::Trainer& trainer) {
  if (!options.use_partial_cache || !job.cache.is_enabled || !job.cache.warm_start ||
      !trainer.is_iterative()) {
    return 0;
  }
  std::vector<std::int64_t> current{0};
  on_root(comm, [&] {
    snapshot::SnapshotRegistry registry(job.publish.registry);
    current[0] = registry.current_version(job.publish.name).value_or(0);
  });
  comm.broadcast(current);
  if (current[0] == 0) return 0;
  bool is_started = false;
  const std::filesystem::path path =
      snapshot::SnapshotRegistry(job.publish.registry).snapshot_path(job.publish.name, current[0]);
  try {
    is_started = trainer.warm_start(*snapshot::read_snapshot(path).model);
  } catch (const Error& error) {
    spdlog::warn("no warm start from {}: {}", path.string(), error.what());
  }
  // Every rank read the same file and reaches the same verdict; a rank that could not read it
  // while others started warm would fit another model, so that ends the job on every rank.
  const bool is_any = comm.any_of(is_started), is_all = comm.all_of(is_started);
  if (is_any && !is_all) {
    throw schedule::AgreedError(fmt::format("not every rank could read {} for the warm start",
                                            path.string()), ErrorKind::io);
  }
  if (!is_all) return 0;
  spdlog::info("warm start from {} v{} ({})", job.publish.name, current[0], path.string());
  return current[0];
}

// Iterative kinds keep a rank's partitions in memory, as many as fit the budget.
void plan_cache(const mpi::Communicator& comm, const job::JobSpec& job,
                const model::Trainer& trainer, RankCache& cache) {
  MPI_Comm node = MPI_COMM_NULL;
  SLUICE_MPI_CHECK(MPI_Comm_split_type(comm.native(), MPI_COMM_TYPE_SHARED, comm.rank(),
                                       MPI_INFO_NULL, &node));
  int ranks_on_node = 1;
  MPI_Comm_size(node, &ranks_on_node);
  MPI_Comm_free(&node);
  cache.budget_bytes = job.run.memory_budget > 0 ? job.run.memory_budget
                                                 : default_memory_budget(ranks_on_node);
  cache.is_enabled = trainer.is_iterative();
}

// Root: every outcome of the first pass (metadata only), by work unit, with cached ones.
std::map<std::size_t, PartitionOutcome> gather_outcomes(const mpi::Communicator& comm,
                                                        const PassWork& work, const Plan& plan) {
  std::string mine; // binary records, one message per rank
  for (const PartitionOutcome& outcome : work.outcomes) append_record(mine, outcome);
  std::map<std::size_t, PartitionOutcome> all;
  for (const std::string& records : comm.gather(mine)) {
    for (PartitionOutcome& outcome : read_records(records)) {
      all[outcome.index] = std::move(outcome);
    }
  }
  if (comm.is_root()) {
    for (const auto& [index, outcome] : plan.cached) {
      all[index] = outcome;
      all[index].partials.clear();
      all[index].profiles.clear();
    }
  }
  return all;
}

void check_nonfinite(const mpi::Communicator& comm, const job::JobSpec& job,
                     const model::Trainer& trainer,
                     const std::vector<lake::PartitionInfo>& partitions, const Plan& plan,
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
        "found {} NaN/Inf values (or beyond ±1e100) in the job's columns; the first in partition "
        "{}, column {}, row {} (set lake.on_nonfinite = \"drop_rows\" to drop such rows)",
        total, partitions[plan.units[first->index].partition].path.string(),
        trainer.report_column(first->nonfinite.first_column),
        first->nonfinite.first_row));
  });
}

// Root: every unit of a partition skipped while reading is listed as skipped, with the reason
// its bad unit gave (the other splits of it were read, but take no part).
void mark_skipped_splits(const Plan& plan, std::map<std::size_t, PartitionOutcome>& outcomes) {
  for (std::size_t u = 0; u < plan.units.size(); ++u) {
    auto found = outcomes.find(u);
    if (plan.owner[u] >= 0 || found == outcomes.end() || !found->second.skipped_reason.empty()) {
      continue;
    }
    const auto [first, end] = plan.units_of(plan.units[u].partition);
    for (std::size_t v = first; v < end; ++v) {
      auto bad = outcomes.find(v);
      if (bad != outcomes.end() && !bad->second.skipped_reason.empty()) {
        found->second.skipped_reason = bad->second.skipped_reason;
        break;
      }
    }
  }
}

// Stops every rank. The partitions finished in the first pass are in the partial cache already
// (each was stored as it finished), so the next run of the same job reads only the others.
[[noreturn]] void stop_run(const mpi::Communicator& comm, const std::vector<lake::PartitionInfo>& partitions,
                           const std::map<std::size_t, PartitionOutcome>& outcomes,
                           const PartialCache* cache) {
  std::size_t num_done = 0;
  for (const auto& [index, outcome] : outcomes) num_done += outcome.skipped_reason.empty() ? 1 : 0;
  throw StoppedError(
      cache != nullptr
          ? fmt::format("stopped on request after {} of {} partitions; they are kept in the "
                        "partial cache {}; run the same job again to continue",
                        comm.is_root() ? num_done : 0, partitions.size(), cache->root().string())
          : fmt::format("stopped on request after {} of {} partitions; the partial cache is off "
                        "([cache] enabled = false), so a rerun reads every partition again",
                        comm.is_root() ? num_done : 0, partitions.size()));
}

// A merged partial holding NaN or Inf would give a model that is not finite: refuse it before
// it reaches the update (every rank holding it decides alike).
void check_merged(const model::Partial& merged, const model::Trainer& trainer) {
  for (double value : merged) {
    if (!std::isfinite(value)) {
      throw NumericalError(fmt::format(
          "the merged {} statistics are not finite: the values in the columns are too large for "
          "double precision sums; rescale the data",
          trainer.pass_name()));
    }
  }
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
  StageTimer timer(comm);
  const int threads = threads_per_rank(job, options);
  if (!job.has_model) throw ConfigError(fmt::format("{}: the job has no [model] table to train", job.source));
  std::unique_ptr<model::Trainer> trainer = make_trainer_everywhere(comm, job);
  if (options.is_publishing) {
    // A registry that cannot take the snapshot is found now, not after the whole fit.
    on_root(comm, [&] {
      snapshot::SnapshotRegistry(job.publish.registry).check_publishable(job.publish.name);
    });
  }

  std::vector<lake::PartitionInfo> partitions = discover(comm, job);
  const transform::Pipeline pipeline = compile_pipeline_everywhere(comm, job, partitions);
  if (!pipeline.is_empty()) {
    check_pipeline_columns(comm, job, partitions, pipeline, options.check_partition);
  }
  trainer = make_job_trainer(comm, job, pipeline, std::move(trainer));
  const std::vector<std::string> columns = trainer->columns();
  const std::int64_t warm_start_version = warm_start(comm, job, options, *trainer);
  const std::optional<PartialCache> partial_cache =
      open_partial_cache(job, options.use_partial_cache, *trainer, pipeline);
  const PartialCache* cache_used = partial_cache ? &*partial_cache : nullptr;
  timer.end_stage("discover");
  ProbedPartitions probed = probe_large_partitions(comm, job, partitions, columns);
  Plan plan = make_plan(comm, partitions, probed, job.lake.split_rows, cache_used);
  timer.end_stage("plan");
  if (plan.num_split == 0 && job.lake.is_split_rows_given && job.run.split) {
    spdlog::info("no partition found to hold more than lake.split_rows = {} rows: each is read "
                 "whole by one rank",
                 job.lake.split_rows);
  }
  spdlog::info("{} partitions{}, {} ranks x {} threads, planned imbalance {:.3f} (by file size), "
               "model '{}'",
               partitions.size(),
               plan.num_split > 0 ? fmt::format(" ({} split into {} units of up to {} rows)",
                                                plan.num_split,
                                                plan.units.size() - partitions.size() + plan.num_split,
                                                job.lake.split_rows)
                                  : std::string(),
               comm.size(), threads, plan.imbalance, trainer->kind());
  RankCache cache;
  plan_cache(comm, job, *trainer, cache);

  schedule::MpiTransport transport(comm);
  std::map<std::size_t, PartitionOutcome> outcomes; // root: the first pass's metadata
  std::vector<PassRecord> passes;
  transform::FeatureProfile profile; // root: the columns read, as the first pass saw them
  bool is_more = true;
  for (int pass = 0; is_more; ++pass) {
    const bool is_first = pass == 0;
    const std::string pass_name = trainer->pass_name();
    const double pass_start = comm.wall_time();
    const PassPlan pass_plan = plan_pass(plan, is_first);
    Progress progress(comm, pass_plan.reader, pass_plan.weight, job.run.peer_timeout_s);
    PassWork work = run_pass(comm, job, *trainer, partitions, plan.units, pass_plan, options,
                             threads, cache, cache_used, progress, is_first ? &probed.kept : nullptr);
    probed.kept.clear(); // files kept open from the row count and not read: closed now
    timer.end_stage(is_first ? "read_fit" : fmt::format("pass_{}", pass));
    // Dynamic assignment decided in the first pass who reads which unit; later passes keep that
    // (and with it the units a rank holds in memory).
    for (std::size_t u = 0; u < work.readers.size(); ++u) {
      if (work.readers[u] >= 0) plan.owner[u] = work.readers[u];
    }
    if (is_first) {
      outcomes = gather_outcomes(comm, work, plan);
      check_nonfinite(comm, job, *trainer, partitions, plan, outcomes);
      complete_plan(comm, outcomes, plan);
      mark_skipped_splits(plan, outcomes);
    }
    if (comm.any_of(work.is_stopped)) stop_run(comm, partitions, outcomes, cache_used);

    // Each unit's segment partials on the rank that read it; cached units' first-pass partials
    // come from the partial cache on rank 0. A unit of a skipped partition takes no part.
    std::vector<int> unit_owner(plan.owner);
    std::map<std::size_t, std::vector<model::Partial>> local, local_profiles;
    for (PartitionOutcome& outcome : work.outcomes) {
      if (!outcome.skipped_reason.empty() || plan.owner[outcome.index] < 0) continue;
      local[outcome.index] = std::move(outcome.partials);
      local_profiles[outcome.index] = std::move(outcome.profiles);
    }
    if (is_first) {
      for (std::size_t i = 0; i < unit_owner.size(); ++i) {
        if (plan.is_cached[i] && unit_owner[i] >= 0) unit_owner[i] = 0;
      }
      for (const auto& [index, outcome] : plan.cached) {
        if (plan.owner[index] < 0) continue;
        local[index] = outcome.partials;
        local_profiles[index] = outcome.profiles;
      }
      // The training profile rides along the first pass: merged on the coordinator only.
      const model::Partial merged_profile = reduce_units(
          transport, plan.units, unit_owner, partitions.size(), std::move(local_profiles),
          [](std::vector<double>& into, const std::vector<double>& from) {
            transform::merge_profile(into, from);
          },
          {.is_result_on_all_ranks = false});
      on_root(comm, [&] { profile = transform::finish_profile(merged_profile, trainer->columns()); });
    }
    const bool is_root_only = trainer->is_root_only_pass();
    if (options.fault_point) options.fault_point("reduce");
    model::Partial merged = reduce_units(
        transport, plan.units, unit_owner, partitions.size(), std::move(local),
        [&](std::vector<double>& into, const std::vector<double>& from) { trainer->merge(into, from); },
        {.is_result_on_all_ranks = !is_root_only});
    timer.end_stage(is_first ? "reduce" : fmt::format("reduce_{}", pass));
    if (is_root_only) {
      on_root(comm, [&] {
        check_merged(merged, *trainer);
        is_more = trainer->update(merged);
      });
      if (!comm.is_root()) is_more = trainer->update({});
    } else {
      // Every rank holds the same merged partial and the same state, so every rank reaches the
      // same verdict: the failure is already agreed on without a message.
      try {
        check_merged(merged, *trainer);
        is_more = trainer->update(merged);
      } catch (const Error& error) {
        throw schedule::AgreedError(error.what(), kind_of(error));
      }
    }
    passes.push_back({pass_name, comm.wall_time() - pass_start,
                      !is_first && comm.all_of(cache.is_holding_all())});
  }
  timer.end_stage("solve");
  nlohmann::json rank_stages = timer.gather(comm);
  nlohmann::json rank_cache = nlohmann::json::array();
  for (const std::string& text : comm.gather(describe_rank(cache, threads).dump())) {
    rank_cache.push_back(nlohmann::json::parse(text));
  }
  cache.columns.clear();

  const auto* pipeline_trainer = dynamic_cast<const transform::PipelineTrainer*>(trainer.get());
  const transform::Pipeline& fitted_pipeline =
      pipeline_trainer != nullptr ? pipeline_trainer->pipeline() : pipeline;
  RunResult result;
  result.model = trainer->model();
  result.num_passes = static_cast<int>(passes.size());
  std::string summary;
  on_root(comm, [&] {
    PublishInput input{.job = job,
                       .comm = comm,
                       .threads = threads,
                       .partitions = partitions,
                       .plan = plan,
                       .outcomes = outcomes,
                       .trainer = *trainer,
                       .pipeline = fitted_pipeline,
                       .profile = profile,
                       .warm_start_version = warm_start_version,
                       .passes = passes,
                       .rank_stages = rank_stages,
                       .rank_cache = rank_cache,
                       .timer = timer,
                       .fault_point = options.fault_point};
    PublishOutput published = publish_run(input, options.is_publishing);
    if (partial_cache) partial_cache->trim();
    result.version = published.version;
    result.snapshot_path = published.path;
    Json metrics = Json::array();
    for (const auto& [name, value] : trainer->metrics()) metrics.push_back({name, value});
    Json gate = nullptr;
    if (published.gate) {
      gate = {{"accepted", published.gate->is_accepted},
              {"champion_version", published.gate->champion_version
                                       ? Json(*published.gate->champion_version) : Json()},
              {"champion_value", published.gate->champion_value
                                     ? Json(*published.gate->champion_value) : Json()},
              {"challenger_value", published.gate->challenger_value},
              {"summary", published.gate->summary}};
    }
    summary = Json{{"version", result.version},
                   {"path", result.snapshot_path.string()},
                   {"metrics", metrics},
                   {"rows", published.num_rows},
                   {"gate", gate}}
                  .dump();
  });
  comm.broadcast(summary);
  Json parsed = Json::parse(summary);
  for (const Json& metric : parsed["metrics"]) {
    result.metrics.emplace_back(metric[0].get<std::string>(), metric[1].get<double>());
  }
  result.version = parsed["version"].get<std::int64_t>();
  result.snapshot_path = parsed["path"].get<std::string>();
  result.num_rows = parsed["rows"].get<std::int64_t>();
  if (const Json& gate = parsed["gate"]; !gate.is_null()) {
    result.gate = GateResult{
        .is_accepted = gate["accepted"].get<bool>(),
        .champion_version = gate["champion_version"].is_null()
                                ? std::nullopt
                                : std::optional(gate["champion_version"].get<std::int64_t>()),
        .champion_value = gate["champion_value"].is_null()
                              ? std::nullopt
                              : std::optional(gate["champion_value"].get<double>()),
        .challenger_value = gate["challenger_value"].get<double>(),
        .summary = gate["summary"].get<std::string>()};
  }
  result.num_partitions = static_cast<std::int64_t>(partitions.size());
  result.num_cached_partitions = static_cast<std::int64_t>(
      std::count(plan.is_cached.begin(), plan.is_cached.end(), char{1}));
  result.num_read_partitions = result.num_partitions - result.num_cached_partitions;
  result.warm_start_version = warm_start_version;
  result.seconds = timer.total_seconds();
  return result;
}

} // namespace sluice::coordinator
