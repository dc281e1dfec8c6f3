// Snapshot assembly (model, pipeline, metrics, history, lineage) and the atomic publish.
#include "publish_run.hpp"

#include "lake/column_checksum.hpp"

#include "sluice/error.hpp"

#include "sluice/model/gram.hpp"
#include "sluice/model/parameter_map.hpp"
#include "sluice/snapshot/registry.hpp"
#include "sluice/snapshot/snapshot.hpp"
#include "sluice/version.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>

namespace sluice::coordinator {
namespace {

using Json = nlohmann::json;

std::string utc_now() {
  auto now = std::chrono::system_clock::now();
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                     std::chrono::time_point_cast<std::chrono::seconds>(now));
}

// Nothing that is not finite may be published: every parameter and metric is checked.
void check_finite(const model::Trainer& trainer, const model::FittedModel& fitted) {
  model::ParameterMap parameters;
  fitted.save(parameters);
  for (const auto& [name, value] : parameters.values()) {
    const bool is_finite = std::visit(
        [](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, double>) return std::isfinite(v);
          else if constexpr (std::is_same_v<T, Eigen::MatrixXd>) return v.allFinite();
          else return true;
        },
        value);
    if (!is_finite) {
      throw NumericalError(fmt::format(
          "the fitted {} model's '{}' is not finite; nothing was published", fitted.kind(), name));
    }
  }
  for (const auto& [name, value] : trainer.metrics()) {
    if (!std::isfinite(value)) {
      throw NumericalError(fmt::format(
          "the fitted {} model's metric '{}' is not finite; nothing was published", fitted.kind(),
          name));
    }
  }
}

snapshot::Snapshot build_snapshot(const PublishInput& in) {
  const job::JobSpec& job = in.job;
  snapshot::Snapshot s;
  s.model_name = job.publish.name;
  s.model = in.trainer.model();
  s.model_kind = std::string(s.model->kind());
  s.feature_names = s.model->features();
  s.label = job.model.label;
  s.pipeline = std::make_shared<const transform::Pipeline>(in.pipeline);
  Json steps = Json::array();
  for (const transform::Step& step : in.pipeline.steps()) steps.push_back(step.label());
  Json pipeline = {{"version", 2},
                   {"group", job.lake.group},
                   {"raw_columns", in.pipeline.raw_inputs()},
                   {"steps", steps},
                   {"on_nonfinite", job.lake.on_nonfinite == job::NonFiniteAction::error
                                        ? "error"
                                        : "drop_rows"}};
  s.pipeline_json = pipeline.dump();
  s.metrics = in.trainer.metrics();
  s.history = in.trainer.history();
  s.job_text = job.text;
  s.sluice_version = std::string(version());
  s.xtx_kernel = std::string(model::gram_kernel_name());
  s.num_ranks = in.comm.size();
  s.threads_per_rank = in.threads;
  s.created_utc = utc_now();
  s.lake_root = job.lake.root.string();
  // The lineage lists partitions: a partition read in several units (splits) is one entry.
  for (std::size_t u = 0; u < in.plan.units.size();) {
    const std::size_t index = in.plan.units[u].partition;
    const auto [first, end] = in.plan.units_of(index);
    u = end;
    std::int64_t rows = 0, dropped = 0;
    std::vector<std::uint64_t> checksums;
    std::string skipped_reason;
    for (std::size_t v = first; v < end; ++v) {
      const auto found = in.outcomes.find(v);
      if (found == in.outcomes.end()) continue;
      const PartitionOutcome& outcome = found->second;
      if (!outcome.skipped_reason.empty()) {
        if (skipped_reason.empty()) skipped_reason = outcome.skipped_reason;
        continue;
      }
      rows += outcome.rows;
      dropped += outcome.nonfinite.num_rows;
      checksums.insert(checksums.end(), outcome.checksums.begin(), outcome.checksums.end());
    }
    if (!skipped_reason.empty()) {
      s.skipped.push_back({in.partitions[index].relative_path, skipped_reason});
      continue;
    }
    s.num_rows += rows - dropped;
    s.num_dropped_rows += dropped;
    std::string keys;
    for (const auto& [key, value] : in.partitions[index].keys) {
      keys += fmt::format("{}{}={}", keys.empty() ? "" : "/", key, value);
    }
    s.partitions.push_back({in.partitions[index].relative_path, rows,
                            checksum_hex(lake::combine_segment_checksums(checksums)), keys});
  }
  if (const model::SufficientStats* statistics = in.trainer.statistics()) s.statistics = *statistics;
  s.profile = in.profile;
  s.warm_start_version = in.warm_start_version;
  return s;
}

double metric_value(const model::Metrics& metrics, const std::string& metric, const std::string& whose) {
  std::string available;
  for (const auto& [name, value] : metrics) {
    if (name == metric) return value;
    available += (available.empty() ? "" : ", ") + name;
  }
  throw ConfigError(fmt::format("publish.gate.metric: {} has no metric '{}' (it has: {}); nothing "
                                "was published",
                                whose, metric, available));
}

// The champion is the version the alias names; no champion means the challenger wins.
GateResult judge(const snapshot::SnapshotRegistry& registry, const job::JobSpec& job,
                 const model::Metrics& metrics) {
  const job::GateSpec& gate = *job.publish.gate;
  GateResult result;
  result.challenger_value = metric_value(metrics, gate.metric, "the new model");
  result.champion_version = registry.alias_version(job.publish.name, gate.alias);
  if (!result.champion_version) {
    result.summary = fmt::format("accepted: no champion ({}@{} does not exist); {} = {:.10g}",
                                 job.publish.name, gate.alias, gate.metric, result.challenger_value);
    return result;
  }
  const std::filesystem::path champion_path =
      registry.snapshot_path(job.publish.name, *result.champion_version);
  const snapshot::Snapshot champion = snapshot::read_snapshot(champion_path); // verified
  result.champion_value = metric_value(champion.metrics, gate.metric,
                                       fmt::format("the champion {}", champion_path.string()));
  const double improvement = gate.is_larger_better ? result.challenger_value - *result.champion_value
                                                   : *result.champion_value - result.challenger_value;
  result.is_accepted = improvement > gate.margin;
  result.summary = fmt::format(
      "{}: {} = {:.10g} against {:.10g} for the champion {}@{} (v{}), {} is better, margin {:g}",
      result.is_accepted ? "accepted" : "rejected", gate.metric, result.challenger_value,
      *result.champion_value, job.publish.name, gate.alias, *result.champion_version,
      gate.is_larger_better ? "larger" : "smaller", gate.margin);
  return result;
}

void record(snapshot::SnapshotRegistry& registry, const job::JobSpec& job, const GateResult& gate,
            std::optional<std::int64_t> challenger) {
  std::map<std::string, double> values = {{"challenger", gate.challenger_value},
                                          {"margin", job.publish.gate->margin}};
  if (gate.champion_value) values["champion"] = *gate.champion_value;
  registry.record_gate(job.publish.name, job.publish.gate->alias, gate.champion_version, challenger,
                       std::move(values), job.publish.gate->metric + " " + gate.summary);
}

} // namespace

PublishOutput publish_run(const PublishInput& in, bool is_publishing) {
  snapshot::Snapshot s = build_snapshot(in);
  check_finite(in.trainer, *s.model);
  PublishOutput output{.num_rows = s.num_rows};
  if (!is_publishing) return output;
  snapshot::SnapshotRegistry registry(in.job.publish.registry, {.fault_point = in.fault_point});
  if (in.job.publish.gate) {
    output.gate = judge(registry, in.job, s.metrics);
    if (!output.gate->is_accepted) {
      record(registry, in.job, *output.gate, std::nullopt);
      return output; // nothing published: the champion stays
    }
  }
  output.version = registry.publish(
      in.job.publish.name,
      [&](const std::filesystem::path& temporary, std::int64_t version) {
        s.version = version;
        snapshot::write_snapshot(temporary, s);
      },
      [&](std::int64_t version) {
        in.timer.end_stage("publish");
        return make_run_report({.job = in.job,
                                .num_ranks = in.comm.size(),
                                .threads = in.threads,
                                .partitions = in.partitions,
                                .units = in.plan.units,
                                .outcomes = in.outcomes,
                                .skipped = s.skipped,
                                .rank_stages = in.rank_stages,
                                .rank_cache = in.rank_cache,
                                .passes = in.passes,
                                .root_timer = in.timer,
                                .version = version,
                                .metrics = s.metrics})
            .dump(2);
      });
  output.path = registry.snapshot_path(in.job.publish.name, output.version);
  if (output.gate) {
    record(registry, in.job, *output.gate, output.version);
    registry.set_alias(in.job.publish.name, in.job.publish.gate->alias, output.version,
                       "gate " + output.gate->summary);
  }
  return output;
}

} // namespace sluice::coordinator
