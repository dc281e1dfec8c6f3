// Discovery on rank 0, inspection spread over the ranks, LPT planning on rank 0.
#include "lake_plan.hpp"

#include "checkpoint.hpp"

#include "sluice/lake/catalog.hpp"
#include "sluice/lake/hive.hpp"
#include "sluice/lake/partition_reader.hpp"
#include "sluice/schedule/collective.hpp"
#include "sluice/schedule/partition_planner.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace sluice::coordinator {
namespace {

using Json = nlohmann::json;

// Every rank opens a strided share of the partitions to check the schema and count rows, so the
// metadata pass over thousands of files is spread over the ranks. Returns, on root, per
// partition: rows, or the reason it is unusable.
std::vector<std::pair<std::int64_t, std::string>> inspect(const mpi::Communicator& comm,
                                                          const job::JobSpec& job,
                                                          const std::vector<std::string>& columns,
                                                          const std::vector<lake::PartitionInfo>& partitions) {
  Json mine = Json::array();
  for (std::size_t i = static_cast<std::size_t>(comm.rank()); i < partitions.size();
       i += static_cast<std::size_t>(comm.size())) {
    try {
      lake::PartitionReader reader(partitions[i].path, job.lake.group, columns);
      mine.push_back({i, reader.num_rows(), ""});
    } catch (const std::exception& error) {
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

Plan make_plan(const mpi::Communicator& comm, const job::JobSpec& job,
               const std::vector<std::string>& columns,
               const std::vector<lake::PartitionInfo>& partitions) {
  auto inspection = inspect(comm, job, columns, partitions);
  Plan plan;
  std::vector<std::int64_t> packed;
  on_root(comm, [&] {
    plan.resumed = load_checkpoint(job, partitions);
    if (!plan.resumed.empty()) {
      spdlog::info("resuming: {} of {} partitions already done in {}", plan.resumed.size(),
                   partitions.size(), checkpoint_path(job).string());
    }
    std::vector<std::int64_t> rows(partitions.size(), 0);
    std::vector<std::size_t> usable;
    for (std::size_t i = 0; i < partitions.size(); ++i) {
      const auto& [num_rows, problem] = inspection[i];
      if (!problem.empty()) {
        if (job.lake.on_bad_partition == job::BadPartitionPolicy::error) throw DataError(problem);
        spdlog::warn("skipping partition: {}", problem);
        plan.skipped.push_back({partitions[i].relative_path, problem});
        plan.resumed.erase(i);
        continue;
      }
      rows[i] = num_rows;
      usable.push_back(i);
    }
    if (plan.skipped.size() == partitions.size()) {
      throw DataError(fmt::format("all {} partitions were skipped as bad", partitions.size()));
    }
    // Resumed partitions skip the first pass only; later passes read them like any other, so
    // they are planned too.
    std::vector<std::int64_t> planned_rows;
    for (std::size_t i : usable) planned_rows.push_back(rows[i]);
    schedule::Assignment assignment = schedule::plan_partitions(planned_rows, comm.size());
    packed.assign(partitions.size(), -1);
    for (std::size_t j = 0; j < usable.size(); ++j) packed[usable[j]] = assignment.owner[j];
    packed.insert(packed.end(), rows.begin(), rows.end());
    for (std::size_t i = 0; i < partitions.size(); ++i) packed.push_back(plan.resumed.contains(i));
    packed.push_back(static_cast<std::int64_t>(assignment.imbalance() * 1e6));
  });
  comm.broadcast(packed);
  const std::size_t n = partitions.size();
  plan.owner.assign(packed.begin(), packed.begin() + static_cast<std::ptrdiff_t>(n));
  plan.rows.assign(packed.begin() + static_cast<std::ptrdiff_t>(n),
                   packed.begin() + static_cast<std::ptrdiff_t>(2 * n));
  plan.is_resumed.assign(packed.begin() + static_cast<std::ptrdiff_t>(2 * n),
                         packed.begin() + static_cast<std::ptrdiff_t>(3 * n));
  plan.imbalance = static_cast<double>(packed.back()) / 1e6;
  return plan;
}

} // namespace sluice::coordinator
