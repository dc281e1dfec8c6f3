// The curated zone: fit the pipeline in passes of the engine (or take a snapshot's), then each
// rank writes its partitions' transformed rows; rank 0 writes the manifest last.
#include "sluice/coordinator/curate_lake.hpp"

#include "lake/column_checksum.hpp"
#include "lake_plan.hpp"
#include "partition_cache.hpp"
#include "pass_executor.hpp"
#include "isolated_check.hpp"
#include "pipeline_stream.hpp"
#include "progress.hpp"
#include "unit_reduce.hpp"

#include "sluice/error.hpp"
#include "sluice/hdf5/appendable_column.hpp"
#include "sluice/hdf5/attributes.hpp"
#include "sluice/hdf5/file.hpp"
#include "sluice/lake/hive.hpp"
#include "sluice/schedule/collective.hpp"
#include "sluice/schedule/transport.hpp"
#include "sluice/schedule/tree_reduce.hpp"
#include "sluice/snapshot/atomic_file.hpp"
#include "sluice/snapshot/snapshot.hpp"
#include "sluice/transform/pipeline_trainer.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/std.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>

namespace sluice::coordinator {
namespace {

using Json = nlohmann::json;

// The source file's identity: a partition rewritten in place gets another size or mtime.
struct SourceStamp {
  std::int64_t bytes = 0;
  std::int64_t mtime_ns = 0;
};

SourceStamp stamp_of(const std::filesystem::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) throw IoError(fmt::format("cannot stat {}", path));
  return {static_cast<std::int64_t>(info.st_size),
          static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec};
}

void check_output_root(const job::JobSpec& job) {
  const std::filesystem::path lake = std::filesystem::weakly_canonical(job.lake.root);
  const std::filesystem::path out = std::filesystem::weakly_canonical(job.curate->root);
  const auto [lake_end, out_end] = std::mismatch(lake.begin(), lake.end(), out.begin(), out.end());
  if (lake_end == lake.end()) {
    throw ConfigError(fmt::format("{}: 'curate.path' {} lies inside the lake {}: its files would "
                                  "become partitions of the lake", job.source, out, lake));
  }
  if (out_end == out.end()) {
    throw ConfigError(fmt::format("{}: 'curate.path' {} holds the lake {}", job.source, out, lake));
  }
  std::error_code error;
  std::filesystem::create_directories(out, error);
  if (error || !std::filesystem::is_directory(out)) {
    throw IoError(fmt::format("cannot create the curated zone's directory {}: {}", out, error.message()));
  }
}

// Fits the pipeline's stateful steps in passes over the lake: the same executor, merge tree and
// update as a training run, without a model.
int fit_pipeline(const mpi::Communicator& comm, const job::JobSpec& job,
                 const std::vector<lake::PartitionInfo>& partitions, const Plan& plan,
                 transform::PipelineTrainer& trainer, const RunOptions& options) {
  schedule::MpiTransport transport(comm);
  RankCache cache;
  const int threads = threads_per_rank(job, options);
  int passes = 0;
  for (bool is_more = trainer.pipeline().num_fit_passes() > 0; is_more; ++passes) {
    const PassPlan pass = plan_pass(plan, true);
    Progress progress(comm, pass.reader, pass.weight, job.run.peer_timeout_s);
    PassWork work = run_pass(comm, job, trainer, partitions, plan.units, pass, options, threads,
                             cache, nullptr, progress);
    if (comm.any_of(work.is_stopped)) {
      throw StoppedError("stopped on request while fitting the pipeline; run the same job again");
    }
    std::map<std::size_t, std::vector<model::Partial>> local;
    for (PartitionOutcome& outcome : work.outcomes) {
      if (outcome.skipped_reason.empty()) local[outcome.index] = std::move(outcome.partials);
    }
    model::Partial merged = reduce_units(
        transport, plan.units, plan.owner, partitions.size(), std::move(local),
        [&](std::vector<double>& into, const std::vector<double>& from) { trainer.merge(into, from); },
        {.is_result_on_all_ranks = true});
    try {
      is_more = trainer.update(merged); // the same merged partial on every rank: the same verdict
    } catch (const Error& error) {
      throw schedule::AgreedError(error.what(), kind_of(error));
    }
  }
  return passes;
}

struct WrittenPartition {
  std::vector<std::int64_t> kept_counts; ///< per row-dropping step (not for reused partitions)
  std::int64_t rows_in = 0;
  std::int64_t rows_out = 0;
  std::uint64_t checksum = 0;
  std::uint64_t source_checksum = 0;
  bool is_reused = false;
};

// A partition written earlier by the same pipeline from the same source file, or nothing.
std::optional<WrittenPartition> find_written(const std::filesystem::path& target,
                                             const std::string& pipeline_hash, const SourceStamp& stamp) {
  if (!std::filesystem::exists(target)) return std::nullopt;
  try {
    hdf5::File file = hdf5::File::open_read(target);
    if (hdf5::read_string_attribute(file.id(), "sluice_pipeline_hash") != pipeline_hash ||
        hdf5::read_int64_attribute(file.id(), "sluice_source_bytes") != stamp.bytes ||
        hdf5::read_int64_attribute(file.id(), "sluice_source_mtime_ns") != stamp.mtime_ns) {
      return std::nullopt;
    }
    WrittenPartition written;
    written.rows_in = hdf5::read_int64_attribute(file.id(), "sluice_source_rows");
    written.rows_out = hdf5::read_int64_attribute(file.id(), "sluice_rows");
    written.checksum = std::stoull(hdf5::read_string_attribute(file.id(), "sluice_checksum"), nullptr, 16);
    written.source_checksum =
        std::stoull(hdf5::read_string_attribute(file.id(), "sluice_source_checksum"), nullptr, 16);
    written.is_reused = true;
    return written;
  } catch (const std::exception&) {
    return std::nullopt; // unreadable or from another writer: written again
  }
}

WrittenPartition write_partition(const job::JobSpec& job, const transform::Pipeline& pipeline,
                                 const lake::PartitionInfo& partition,
                                 const std::vector<int>& slots, const std::vector<std::string>& names,
                                 const std::string& pipeline_hash) {
  const job::CurateSpec& curate = *job.curate;
  const std::filesystem::path target = curate.root / partition.relative_path;
  const SourceStamp stamp = stamp_of(partition.path);
  if (auto written = find_written(target, pipeline_hash, stamp)) return *written;

  WrittenPartition written;
  write_file_durably(target, [&](hdf5::File& file) {
    std::vector<hdf5::AppendableColumn> columns;
    std::vector<lake::ColumnChecksum> checksums(names.size());
    for (const std::string& name : names) {
      columns.push_back(hdf5::AppendableColumn::create_float64(file.id(), name, curate.chunk_rows, curate.deflate));
    }
    hdf5::AppendableColumn row_column =
        hdf5::AppendableColumn::create_int64(file.id(), "_row", curate.chunk_rows, curate.deflate);
    const StreamResult streamed = stream_partition(
        partition, job.lake.group, pipeline, job.lake.block_rows, "",
        [&](const transform::PipelineRunner& runner) {
          const auto rows = static_cast<std::size_t>(runner.rows());
          for (std::size_t c = 0; c < slots.size(); ++c) {
            const std::span<const double> column(runner.column(slots[c]), rows);
            columns[c].append(column);
            checksums[c].update(column);
          }
          row_column.append(std::span<const std::int64_t>(runner.row_index(), rows));
        },
        {.max_column_bytes = job.lake.max_column_bytes, .max_chunk_bytes = job.lake.max_chunk_bytes});
    std::vector<std::uint64_t> digests;
    for (const lake::ColumnChecksum& checksum : checksums) digests.push_back(checksum.digest());
    written.rows_in = streamed.rows_in;
    written.rows_out = streamed.rows_out;
    written.checksum = lake::combine_checksums(names, digests);
    written.source_checksum = streamed.source_checksum;
    written.kept_counts = streamed.kept_counts;
    hdf5::write_attribute(file.id(), "sluice_pipeline_hash", pipeline_hash);
    hdf5::write_attribute(file.id(), "sluice_source_bytes", stamp.bytes);
    hdf5::write_attribute(file.id(), "sluice_source_mtime_ns", stamp.mtime_ns);
    hdf5::write_attribute(file.id(), "sluice_source_rows", written.rows_in);
    hdf5::write_attribute(file.id(), "sluice_rows", written.rows_out);
    hdf5::write_attribute(file.id(), "sluice_checksum", checksum_hex(written.checksum));
    hdf5::write_attribute(file.id(), "sluice_source_checksum", checksum_hex(written.source_checksum));
  });
  return written;
}

// Temporaries of killed writers; one curate job per output directory at a time is assumed.
void remove_stale_temporaries(const std::filesystem::path& root) {
  std::error_code error;
  for (auto it = std::filesystem::recursive_directory_iterator(root, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_regular_file() && it->path().filename().string().find(".h5.tmp-") != std::string::npos) {
      std::filesystem::remove(it->path(), error);
    }
  }
}

// A pipeline that keeps no row at all is a mistake in the job (a filter inverted, a unit wrong):
// the step that left none is named, and the empty files this run wrote are removed.
void refuse_empty_output(const mpi::Communicator& comm, const transform::Pipeline& pipeline,
                         std::vector<std::int64_t> kept, const std::vector<std::filesystem::path>& fresh) {
  for (std::int64_t& count : kept) count = comm.sum(count);
  if (kept.empty() || kept[0] == 0 || kept.back() > 0) return;
  for (const std::filesystem::path& path : fresh) {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
  }
  try {
    pipeline.check_rows_kept(transform::fully_fitted, std::vector<double>(kept.begin(), kept.end()),
                             "; nothing was written");
  } catch (const Error& error) {
    throw schedule::AgreedError(error.what(), kind_of(error)); // every rank holds the same sums
  }
}

std::string utc_now() {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::chrono::system_clock::to_time_t(
                                                   std::chrono::system_clock::now())));
}

} // namespace

CurateResult curate_lake(const mpi::Communicator& parent, const job::JobSpec& job,
                         const CurateOptions& options) {
  mpi::Communicator comm = parent.dup();
  if (!job.curate) throw ConfigError(fmt::format("{}: the job has no [curate] table (path = ...)", job.source));
  on_root(comm, [&] { check_output_root(job); });

  std::vector<lake::PartitionInfo> partitions = discover(comm, job);
  std::vector<std::map<std::string, std::string>> keys;
  for (const lake::PartitionInfo& partition : partitions) keys.push_back(partition.keys);

  // The pipeline: a snapshot's, fitted already, or the job's, compiled now (before any data is
  // read) and fitted in passes.
  std::optional<schedule::LocalFailure> failure;
  std::optional<transform::Pipeline> compiled;
  std::shared_ptr<const transform::Pipeline> fitted;
  try {
    if (options.snapshot) {
      fitted = snapshot::read_snapshot(*options.snapshot).pipeline;
    } else {
      compiled = transform::Pipeline::compile(job.transforms, job.split, lake::key_values(keys),
                                              job.columns());
    }
  } catch (const std::exception& error) {
    failure = schedule::LocalFailure::of(0, error);
  }
  schedule::raise_if_any_failed(comm, failure);

  if (compiled) {
    check_pipeline_columns(comm, job, partitions, *compiled, options.run.check_partition);
  }
  // A transform job keeps no partials, and reads each partition whole (its fit passes still
  // accumulate on the split grid, like a training run's).
  const ProbedPartitions unsplit{.rows = std::vector<std::int64_t>(partitions.size(), -1),
                                 .home = std::vector<int>(partitions.size(), -1)};
  Plan plan = make_plan(comm, partitions, unsplit, job.lake.split_rows, nullptr);
  CurateResult result;
  if (compiled) {
    job::ModelSpec no_model; // only the pipeline's passes run here: the model is not trained
    no_model.kind.clear();
    transform::PipelineTrainer fitter(*compiled, no_model);
    result.num_fit_passes = fit_pipeline(comm, job, partitions, plan, fitter, options.run);
    fitted = std::make_shared<const transform::Pipeline>(fitter.pipeline());
  }
  const transform::Pipeline& pipeline = *fitted;
  result.pipeline_hash = pipeline.hash();
  const std::string pipeline_hash = checksum_hex(result.pipeline_hash);

  // Output columns: [curate] columns (a one_hot-encoded name stands for its indicators), else
  // every column the pipeline ends with.
  std::vector<int> slots;
  try {
    if (job.curate->columns.empty()) {
      slots = pipeline.output_columns();
    } else {
      for (const std::string& name : job.curate->columns) {
        for (int slot : pipeline.resolve(name, "'curate.columns' names column")) slots.push_back(slot);
      }
    }
  } catch (const std::exception& error) {
    failure = schedule::LocalFailure::of(0, error);
  }
  schedule::raise_if_any_failed(comm, failure);
  std::vector<std::string> names;
  for (int slot : slots) names.push_back(pipeline.columns()[static_cast<std::size_t>(slot)].name);

  if (comm.is_root()) remove_stale_temporaries(job.curate->root);
  comm.barrier();
  Json mine = Json::array();
  std::vector<std::filesystem::path> fresh; // written by this run
  std::vector<std::int64_t> kept(2 + pipeline.row_steps(transform::fully_fitted).size(), 0);
  for (std::size_t i = 0; i < partitions.size() && !failure; ++i) {
    if (plan.owner[i] != comm.rank()) continue;
    if (options.run.stop_requested != nullptr && options.run.stop_requested->load()) break;
    try {
      require_isolated_check(job, options.run, partitions[i].path, pipeline.raw_inputs());
      const WrittenPartition w = write_partition(job, pipeline, partitions[i], slots, names, pipeline_hash);
      if (!w.is_reused) fresh.push_back(job.curate->root / partitions[i].relative_path);
      for (std::size_t k = 0; k < w.kept_counts.size() && k < kept.size(); ++k) kept[k] += w.kept_counts[k];
      Json entry = Json::object();
      entry["index"] = i;
      entry["rows"] = w.rows_out;
      entry["source_rows"] = w.rows_in;
      entry["checksum"] = checksum_hex(w.checksum);
      entry["source_checksum"] = checksum_hex(w.source_checksum);
      entry["reused"] = w.is_reused;
      mine.push_back(std::move(entry));
    } catch (const std::exception& error) {
      if (job.lake.on_bad_partition == job::BadPartitionPolicy::skip) {
        spdlog::warn("skipping partition: {}", error.what());
        Json entry = Json::object();
        entry["index"] = i;
        entry["skipped"] = error.what();
        mine.push_back(std::move(entry));
        continue;
      }
      failure = schedule::LocalFailure{static_cast<std::int64_t>(i),
                                       fmt::format("{} [rank {}]", error.what(), comm.rank()),
                                       kind_of(error)};
    }
  }
  schedule::raise_if_any_failed(comm, failure);
  refuse_empty_output(comm, pipeline, kept, fresh);
  const bool is_stopped = comm.any_of(options.run.stop_requested != nullptr && options.run.stop_requested->load());

  std::vector<std::string> gathered = comm.gather(mine.dump());
  std::string summary;
  on_root(comm, [&] {
    std::map<std::size_t, Json> entries;
    for (const std::string& text : gathered) {
      for (Json& entry : Json::parse(text)) {
        const auto index = entry.at("index").get<std::size_t>(); // before the entry is moved from
        entries[index] = std::move(entry);
      }
    }
    Json listed = Json::array();
    Json skipped = Json::array();
    for (auto& [index, entry] : entries) {
      const std::string& path = partitions[index].relative_path;
      if (entry.contains("skipped")) {
        skipped.push_back({{"path", path}, {"reason", entry["skipped"]}});
        ++result.num_skipped;
        continue;
      }
      result.rows_in += entry["source_rows"].get<std::int64_t>();
      result.rows_out += entry["rows"].get<std::int64_t>();
      result.num_reused += entry["reused"].get<bool>() ? 1 : 0;
      listed.push_back({{"path", path}, {"rows", entry["rows"]}, {"source_rows", entry["source_rows"]},
                        {"checksum", entry["checksum"]}, {"source_checksum", entry["source_checksum"]}});
    }
    result.num_partitions = static_cast<std::int64_t>(listed.size());
    if (is_stopped) return; // the manifest is written by the run that finishes
    Json steps = Json::array();
    for (const transform::Step& step : pipeline.steps()) steps.push_back(step.label());
    const Json manifest = {{"format_version", 1},
                           {"pipeline_hash", pipeline_hash},
                           {"pipeline_steps", steps},
                           {"snapshot", options.snapshot ? options.snapshot->string() : ""},
                           {"source_lake", job.lake.root.string()},
                           {"group", job.lake.group},
                           {"columns", names},
                           {"partitions", listed},
                           {"skipped", skipped},
                           {"rows", result.rows_out},
                           {"source_rows", result.rows_in},
                           {"created_utc", utc_now()}};
    result.manifest = job.curate->root / "_manifest.json";
    snapshot::write_file_atomically(result.manifest, manifest.dump(2) + "\n");
    summary = Json{{"partitions", result.num_partitions}, {"reused", result.num_reused},
                   {"skipped", result.num_skipped}, {"rows_in", result.rows_in},
                   {"rows_out", result.rows_out}, {"manifest", result.manifest.string()}}
                  .dump();
  });
  if (is_stopped) {
    throw StoppedError("stopped on request; the partitions written are kept and reused by the next "
                       "run of the same job");
  }
  comm.broadcast(summary);
  const Json parsed = Json::parse(summary);
  result.num_partitions = parsed["partitions"].get<std::int64_t>();
  result.num_reused = parsed["reused"].get<std::int64_t>();
  result.num_skipped = parsed["skipped"].get<std::int64_t>();
  result.rows_in = parsed["rows_in"].get<std::int64_t>();
  result.rows_out = parsed["rows_out"].get<std::int64_t>();
  result.manifest = parsed["manifest"].get<std::string>();
  return result;
}

} // namespace sluice::coordinator
