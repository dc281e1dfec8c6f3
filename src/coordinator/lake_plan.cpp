// Discovery on rank 0, inspection spread over the ranks, LPT planning on rank 0.
#include "lake_plan.hpp"

#include "isolated_check.hpp"

#include "sluice/lake/partition_reader.hpp"
#include "sluice/lake/catalog.hpp"
#include "sluice/lake/hive.hpp"
#include "sluice/schedule/collective.hpp"
#include "sluice/schedule/partition_planner.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace sluice::coordinator {
namespace {

using Json = nlohmann::json;

} // namespace

void on_root(const mpi::Communicator& comm, const std::function<void()>& fn) {
  std::optional<schedule::LocalFailure> failure;
  if (comm.is_root()) {
    try {
      fn();
    } catch (const std::exception& error) {
      failure = schedule::LocalFailure::of(0, error);
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
                          .file_bytes = entry[1].get<std::int64_t>(),
                          .path_hash = lake::path_hash(relative)});
  }
  return partitions;
}

Plan make_plan(const mpi::Communicator& comm, const std::vector<lake::PartitionInfo>& partitions,
               const PartialCache* cache) {
  Plan plan;
  std::vector<std::int64_t> packed;
  on_root(comm, [&] {
    if (cache != nullptr) {
      for (std::size_t i = 0; i < partitions.size(); ++i) {
        if (auto outcome = cache->load(cache->entry_key(partitions[i]))) {
          outcome->index = i;
          outcome->is_cached = true;
          outcome->rank = -1; // read by no rank in this run
          plan.cached.emplace(i, std::move(*outcome));
        }
      }
      if (!plan.cached.empty()) {
        spdlog::info("partial cache: {} of {} partitions unchanged since they were read, in {}",
                     plan.cached.size(), partitions.size(), cache->root().string());
      }
    }
    // Cached partitions skip the first pass only; later passes read them like any other, so
    // they are planned too. File sizes stand for rows: with one schema they are proportional.
    std::vector<std::int64_t> sizes;
    for (const lake::PartitionInfo& partition : partitions) sizes.push_back(partition.file_bytes);
    schedule::Assignment assignment = schedule::plan_partitions(sizes, comm.size());
    packed.assign(assignment.owner.begin(), assignment.owner.end());
    for (std::size_t i = 0; i < partitions.size(); ++i) {
      auto cached = plan.cached.find(i);
      packed.push_back(cached == plan.cached.end() ? 0 : cached->second.rows);
    }
    for (std::size_t i = 0; i < partitions.size(); ++i) packed.push_back(plan.cached.contains(i));
    packed.push_back(static_cast<std::int64_t>(assignment.imbalance() * 1e6));
  });
  comm.broadcast(packed);
  const std::size_t n = partitions.size();
  plan.owner.assign(packed.begin(), packed.begin() + static_cast<std::ptrdiff_t>(n));
  plan.rows.assign(packed.begin() + static_cast<std::ptrdiff_t>(n),
                   packed.begin() + static_cast<std::ptrdiff_t>(2 * n));
  plan.is_cached.assign(packed.begin() + static_cast<std::ptrdiff_t>(2 * n),
                         packed.begin() + static_cast<std::ptrdiff_t>(3 * n));
  plan.imbalance = static_cast<double>(packed.back()) / 1e6;
  return plan;
}

void check_pipeline_columns(const mpi::Communicator& comm, const job::JobSpec& job,
                            const std::vector<lake::PartitionInfo>& partitions,
                            const transform::Pipeline& pipeline,
                            const PartitionChecker& checker) {
  on_root(comm, [&] {
    if (partitions.empty()) return;
    if (job.lake.isolate) { // without a checker, the first pass reports that
      if (!checker) return;
      const PartitionCheckRequest request = make_check_request(job, partitions.front().path, {});
      if (checker(request).status != PartitionCheckResult::Status::passed) return; // as below
    }
    std::vector<std::string> columns;
    try {
      columns = lake::column_names(partitions.front().path, job.lake.group,
                                   {.max_column_bytes = job.lake.max_column_bytes,
                                    .max_chunk_bytes = job.lake.max_chunk_bytes});
    } catch (const std::exception&) {
      return; // the reader reports this file, under the job's bad-partition policy
    }
    pipeline.check_columns(columns, partitions.front().path.string(),
                           job.lake.on_bad_partition == job::BadPartitionPolicy::error);
  });
}

PassPlan plan_pass(const Plan& plan, const std::vector<lake::PartitionInfo>& partitions,
                   bool is_first_pass) {
  PassPlan pass{plan.owner, plan.rows, is_first_pass};
  if (!is_first_pass) return pass;
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    if (plan.is_cached[i]) pass.reader[i] = -1;
    pass.weight[i] = partitions[i].file_bytes;
  }
  return pass;
}

void complete_plan(const mpi::Communicator& comm,
                   const std::map<std::size_t, PartitionOutcome>& outcomes, Plan& plan) {
  std::vector<std::int64_t> packed; // rows per partition, then -1 for each skipped one
  on_root(comm, [&] {
    packed.assign(plan.rows.size(), 0);
    std::size_t num_skipped = 0;
    for (const auto& [index, outcome] : outcomes) {
      packed[index] = outcome.skipped_reason.empty() ? outcome.rows : -1;
      num_skipped += outcome.skipped_reason.empty() ? 0 : 1;
    }
    if (num_skipped == plan.rows.size()) {
      throw DataError(fmt::format("all {} partitions were skipped as bad", num_skipped));
    }
  });
  comm.broadcast(packed);
  for (std::size_t i = 0; i < packed.size(); ++i) {
    if (packed[i] < 0) {
      plan.owner[i] = -1;
      plan.rows[i] = 0;
    } else {
      plan.rows[i] = packed[i];
    }
  }
}

} // namespace sluice::coordinator
