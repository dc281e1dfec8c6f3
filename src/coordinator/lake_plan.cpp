// Discovery on rank 0, inspection spread over the ranks, LPT planning on rank 0.
#include "lake_plan.hpp"

#include "isolated_check.hpp"

#include "sluice/lake/partition_reader.hpp"
#include "sluice/lake/catalog.hpp"
#include "sluice/lake/hive.hpp"
#include "sluice/schedule/collective.hpp"
#include "sluice/schedule/partition_planner.hpp"

#include <fmt/format.h>
#include <algorithm>
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

ProbedPartitions probe_large_partitions(const mpi::Communicator& comm, const job::JobSpec& job,
                                        const std::vector<lake::PartitionInfo>& partitions,
                                        const std::vector<std::string>& columns) {
  ProbedPartitions probed{.rows = std::vector<std::int64_t>(partitions.size(), -1),
                          .home = std::vector<int>(partitions.size(), -1)};
  // Under isolation no file is opened here before its isolated check, which reads it whole: such
  // runs read every partition whole (and still accumulate it on the split grid).
  if (!job.run.split || job.lake.isolate) return probed;
  // A file smaller than split_rows bytes holds at most split_rows rows unless it is compressed:
  // only larger files are opened here, a few in a lake of many small files.
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    if (partitions[i].file_bytes >= job.lake.split_rows) candidates.push_back(i);
  }
  if (candidates.empty()) return probed;
  // Who opens each: balanced by file size as the plan balances whole files, since a file kept
  // open here is then read by the rank that opened it.
  std::vector<std::int64_t> candidate_bytes;
  for (std::size_t i : candidates) candidate_bytes.push_back(partitions[i].file_bytes);
  const schedule::Assignment openers = schedule::plan_partitions(candidate_bytes, comm.size());
  Json mine = Json::array();
  for (std::size_t k : openers.partitions[static_cast<std::size_t>(comm.rank())]) {
    const lake::PartitionInfo& partition = partitions[candidates[k]];
    try {
      auto reader = std::make_shared<lake::PartitionReader>(
          partition.path, job.lake.group, columns,
          lake::ReadLimits{.max_column_bytes = job.lake.max_column_bytes,
                           .max_chunk_bytes = job.lake.max_chunk_bytes});
      const std::int64_t rows = reader->num_rows();
      // Kept for the first pass, which reads the file (whole, or its first split) through this
      // handle; past the cap a file is closed and opened again by its reader.
      const bool is_kept = probed.kept.size() < max_kept_readers;
      if (is_kept) probed.kept.emplace(candidates[k], std::move(reader));
      mine.push_back({candidates[k], rows, is_kept ? 1 : 0});
    } catch (const std::exception&) {
      // Left whole: the rank that reads it reports it, under the bad-partition policy.
    }
  }
  // [partition, rows, home] triples from every rank, then rows and homes for everyone.
  std::vector<std::int64_t> packed(2 * partitions.size(), -1);
  const std::vector<std::string> all = comm.gather(mine.dump());
  if (comm.is_root()) {
    for (std::size_t rank = 0; rank < all.size(); ++rank) {
      for (const Json& entry : Json::parse(all[rank])) {
        const auto index = entry[0].get<std::size_t>();
        packed[2 * index] = entry[1].get<std::int64_t>();
        if (entry[2].get<int>() != 0) packed[2 * index + 1] = static_cast<std::int64_t>(rank);
      }
    }
  }
  comm.broadcast(packed);
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    probed.rows[i] = packed[2 * i];
    probed.home[i] = static_cast<int>(packed[2 * i + 1]);
  }
  return probed;
}

std::vector<WorkUnit> make_units(const std::vector<std::int64_t>& probed_rows,
                                 std::int64_t split_rows) {
  std::vector<WorkUnit> units;
  for (std::size_t i = 0; i < probed_rows.size(); ++i) {
    const std::int64_t rows = probed_rows[i];
    if (rows <= split_rows) {
      units.push_back({i, 0, -1});
      continue;
    }
    for (std::int64_t first = 0; first < rows; first += split_rows) {
      units.push_back({i, first, std::min(rows, first + split_rows)});
    }
  }
  return units;
}

std::pair<std::size_t, std::size_t> Plan::units_of(std::size_t partition) const {
  const auto by_partition = [](const WorkUnit& unit, std::size_t p) { return unit.partition < p; };
  const auto first = std::lower_bound(units.begin(), units.end(), partition, by_partition);
  auto end = first;
  while (end != units.end() && end->partition == partition) ++end;
  return {static_cast<std::size_t>(first - units.begin()),
          static_cast<std::size_t>(end - units.begin())};
}

Plan make_plan(const mpi::Communicator& comm, const std::vector<lake::PartitionInfo>& partitions,
               const ProbedPartitions& probed, std::int64_t split_rows,
               const PartialCache* cache) {
  Plan plan;
  std::vector<std::int64_t> packed;
  const std::vector<std::int64_t>& probed_rows = probed.rows;
  on_root(comm, [&] {
    const std::vector<WorkUnit> units = make_units(probed_rows, split_rows);
    std::vector<std::int64_t> bytes;
    for (const WorkUnit& unit : units) {
      const lake::PartitionInfo& partition = partitions[unit.partition];
      // A split's share of the file: file sizes stand for rows, with one schema they are
      // proportional.
      bytes.push_back(unit.is_whole() ? partition.file_bytes
                                      : std::max<std::int64_t>(
                                            1, static_cast<std::int64_t>(
                                                   static_cast<double>(partition.file_bytes) *
                                                   static_cast<double>(unit.end_row - unit.first_row) /
                                                   static_cast<double>(probed_rows[unit.partition]))));
    }
    if (cache != nullptr) {
      for (std::size_t u = 0; u < units.size(); ++u) {
        const WorkUnit& unit = units[u];
        if (auto outcome = cache->load(cache->entry_key(partitions[unit.partition], unit.first_row,
                                                        unit.end_row))) {
          outcome->index = u;
          outcome->is_cached = true;
          outcome->rank = -1; // read by no rank in this run
          plan.cached.emplace(u, std::move(*outcome));
        }
      }
      if (!plan.cached.empty()) {
        spdlog::info("partial cache: {} of {} partitions and splits unchanged since they were "
                     "read, in {}",
                     plan.cached.size(), units.size(), cache->root().string());
      }
    }
    // A file its home rank keeps open from the row count is read there: whole, or its first
    // split (unless the unit's partial is cached and nobody reads it in the first pass).
    std::vector<int> pinned(units.size(), -1);
    for (std::size_t u = 0; u < units.size(); ++u) {
      const WorkUnit& unit = units[u];
      if (unit.first_row == 0 && unit.partition < probed.home.size() && !plan.cached.contains(u)) {
        pinned[u] = probed.home[unit.partition];
      }
    }
    // Cached units skip the first pass only; later passes read them like any other, so they
    // are planned too.
    schedule::Assignment assignment = schedule::plan_partitions(bytes, comm.size(), pinned);
    packed.push_back(static_cast<std::int64_t>(units.size()));
    for (std::size_t u = 0; u < units.size(); ++u) {
      auto cached = plan.cached.find(u);
      packed.insert(packed.end(),
                    {static_cast<std::int64_t>(units[u].partition), units[u].first_row,
                     units[u].end_row, assignment.owner[u],
                     cached == plan.cached.end() ? 0 : cached->second.rows, bytes[u],
                     cached != plan.cached.end() ? 1 : 0, pinned[u] >= 0 ? 1 : 0});
    }
    packed.push_back(static_cast<std::int64_t>(assignment.imbalance() * 1e6));
  });
  comm.broadcast(packed);
  const auto n = static_cast<std::size_t>(packed.front());
  for (std::size_t u = 0; u < n; ++u) {
    const std::int64_t* at = packed.data() + 1 + 8 * u;
    plan.units.push_back({static_cast<std::size_t>(at[0]), at[1], at[2]});
    plan.owner.push_back(static_cast<int>(at[3]));
    plan.rows.push_back(at[4]);
    plan.bytes.push_back(at[5]);
    plan.is_cached.push_back(static_cast<char>(at[6]));
    plan.is_pinned.push_back(static_cast<char>(at[7]));
  }
  plan.imbalance = static_cast<double>(packed.back()) / 1e6;
  for (std::size_t p = 0; p < partitions.size(); ++p) {
    const auto [first, end] = plan.units_of(p);
    plan.num_split += end - first > 1 ? 1 : 0;
  }
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

PassPlan plan_pass(const Plan& plan, bool is_first_pass) {
  PassPlan pass{plan.owner, plan.rows, is_first_pass,
                std::vector<char>(plan.units.size(), 0)};
  if (!is_first_pass) return pass;
  pass.is_pinned = plan.is_pinned;
  for (std::size_t u = 0; u < plan.units.size(); ++u) {
    if (plan.is_cached[u]) pass.reader[u] = -1;
    pass.weight[u] = plan.bytes[u];
  }
  return pass;
}

void complete_plan(const mpi::Communicator& comm,
                   const std::map<std::size_t, PartitionOutcome>& outcomes, Plan& plan) {
  std::vector<std::int64_t> packed; // rows per unit, -1 for each unit of a skipped partition
  on_root(comm, [&] {
    packed.assign(plan.rows.size(), 0);
    for (const auto& [index, outcome] : outcomes) {
      packed[index] = outcome.skipped_reason.empty() ? outcome.rows : -1;
    }
    std::size_t num_partitions = 0, num_skipped = 0;
    for (std::size_t u = 0; u < plan.units.size();) {
      const auto [first, end] = plan.units_of(plan.units[u].partition);
      const bool is_skipped = std::any_of(packed.begin() + static_cast<std::ptrdiff_t>(first),
                                          packed.begin() + static_cast<std::ptrdiff_t>(end),
                                          [](std::int64_t rows) { return rows < 0; });
      if (is_skipped) std::fill(packed.begin() + static_cast<std::ptrdiff_t>(first),
                                packed.begin() + static_cast<std::ptrdiff_t>(end), -1);
      ++num_partitions;
      num_skipped += is_skipped ? 1 : 0;
      u = end;
    }
    if (num_skipped == num_partitions) {
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
