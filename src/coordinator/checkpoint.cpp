// JSON checkpoints of per-partition statistics, matched to files by path, size and mtime.
#include "checkpoint.hpp"

#include "sluice/model/gram.hpp"
#include "sluice/snapshot/atomic_file.hpp"
#include "sluice/version.hpp"

#include <spdlog/spdlog.h>

#include <fstream>

namespace sluice::coordinator {
namespace {

std::int64_t modification_ns(const std::filesystem::path& path) {
  std::error_code error;
  auto time = std::filesystem::last_write_time(path, error);
  return error ? -1 : static_cast<std::int64_t>(time.time_since_epoch().count());
}

nlohmann::json identity(const lake::PartitionInfo& partition) {
  return {{"path", partition.relative_path},
          {"file_bytes", partition.file_bytes},
          {"mtime_ns", modification_ns(partition.path)}};
}

} // namespace

std::filesystem::path checkpoint_path(const job::JobSpec& job) {
  return job.publish.registry / job.publish.name / ".checkpoint.json";
}

std::map<std::size_t, PartitionOutcome> load_checkpoint(
    const job::JobSpec& job, const std::vector<lake::PartitionInfo>& partitions) {
  std::map<std::size_t, PartitionOutcome> resumed;
  std::ifstream stream(checkpoint_path(job));
  if (!stream) return resumed;
  nlohmann::json document = nlohmann::json::parse(stream, nullptr, false);
  if (document.is_discarded() || !document.is_object() ||
      document.value("job_toml", "") != job.text ||
      document.value("sluice_version", "") != std::string(version()) ||
      document.value("xtx_kernel", "") != std::string(model::gram_kernel_name())) {
    spdlog::warn("ignoring checkpoint {}: unreadable, or from another job or version",
                 checkpoint_path(job).string());
    return resumed;
  }
  std::map<std::string, std::size_t> index_of;
  for (std::size_t i = 0; i < partitions.size(); ++i) index_of[partitions[i].relative_path] = i;
  try {
    for (const nlohmann::json& entry : document.at("partitions")) {
      auto found = index_of.find(entry.at("identity").at("path").get<std::string>());
      if (found == index_of.end() || entry.at("identity") != identity(partitions[found->second])) {
        continue; // changed since the checkpoint: read it again
      }
      PartitionOutcome outcome = outcome_from_json(entry.at("outcome"));
      outcome.index = found->second;
      outcome.partial = entry.at("partial").get<std::vector<double>>();
      resumed.emplace(found->second, std::move(outcome));
    }
  } catch (const std::exception& error) {
    // A damaged checkpoint costs a re-read, never a wrong model or a failed job.
    spdlog::warn("ignoring damaged checkpoint {}: {}", checkpoint_path(job).string(), error.what());
    resumed.clear();
  }
  return resumed;
}

void save_checkpoint(const job::JobSpec& job, const std::vector<lake::PartitionInfo>& partitions,
                     const std::vector<PartitionOutcome>& finished) {
  nlohmann::json entries = nlohmann::json::array();
  for (const PartitionOutcome& outcome : finished) {
    entries.push_back({{"identity", identity(partitions[outcome.index])},
                       {"outcome", to_json(outcome)},
                       {"partial", outcome.partial}});
  }
  nlohmann::json document = {{"job_toml", job.text},
                             {"sluice_version", std::string(version())},
                             {"xtx_kernel", std::string(model::gram_kernel_name())},
                             {"partitions", entries}};
  std::filesystem::create_directories(checkpoint_path(job).parent_path());
  snapshot::write_file_atomically(checkpoint_path(job), document.dump());
}

void remove_checkpoint(const job::JobSpec& job) {
  std::error_code error;
  std::filesystem::remove(checkpoint_path(job), error);
}

} // namespace sluice::coordinator
