// Checkpoint of finished partitions, so a stopped job resumes where it stopped.
#pragma once

#include "partition_worker.hpp"

#include "sluice/job/job_spec.hpp"
#include "sluice/lake/partition_info.hpp"

#include <filesystem>
#include <map>
#include <vector>

namespace sluice::coordinator {

/// REGISTRY/NAME/.checkpoint.json: the job text and, per finished partition, its identity
/// (relative path, size, modification time) and its outcome with its first-pass partial. Values round-trip
/// exactly through JSON, so a resumed run publishes the same bits as an uninterrupted one.
std::filesystem::path checkpoint_path(const job::JobSpec& job);

/// Outcomes from the checkpoint that still match this job and these partitions, by index.
/// A missing, unreadable or foreign checkpoint yields nothing (the run starts from scratch).
std::map<std::size_t, PartitionOutcome> load_checkpoint(
    const job::JobSpec& job, const std::vector<lake::PartitionInfo>& partitions);

/// Atomically writes the finished outcomes (with stats) for this job.
void save_checkpoint(const job::JobSpec& job, const std::vector<lake::PartitionInfo>& partitions,
                     const std::vector<PartitionOutcome>& finished);

void remove_checkpoint(const job::JobSpec& job);

} // namespace sluice::coordinator
