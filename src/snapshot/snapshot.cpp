// HDF5 layout of a snapshot (docs/snapshot-format.md): /model, /pipeline, /metrics, /lineage.
#include "sluice/snapshot/snapshot.hpp"

#include "hdf5_parameters.hpp"

#include "sluice/error.hpp"
#include "sluice/hdf5/attributes.hpp"
#include "sluice/hdf5/dataset.hpp"
#include "sluice/hdf5/error.hpp"
#include "sluice/hdf5/file.hpp"
#include "sluice/model/model_kinds.hpp"
#include "sluice/snapshot/snapshot_checksum.hpp"
#include "sluice/transform/pipeline_runner.hpp"

#include <fmt/format.h>
#include <fmt/std.h>

#include <algorithm>
#include <limits>

namespace sluice::snapshot {
namespace {

template <typename T, typename Field>
std::vector<T> column_of(const std::vector<PartitionLineage>& rows, Field field) {
  std::vector<T> values;
  for (const auto& row : rows) values.push_back(row.*field);
  return values;
}

void write_model(hid_t file, const Snapshot& s) {
  hdf5::GroupHandle group = hdf5::create_group(file, "model");
  hdf5::write_attribute(group.get(), "kind", s.model_kind);
  hdf5::write_attribute(group.get(), "label", s.label);
  hdf5::write_strings(group.get(), "feature_names", s.feature_names);
  hdf5::write_strings(group.get(), "outputs", s.model->outputs());
  Hdf5ParameterWriter writer(group.get());
  s.model->save(writer);
}

void write_metrics(hid_t file, const Snapshot& s) {
  hdf5::GroupHandle metrics = hdf5::create_group(file, "metrics");
  for (const auto& [name, value] : s.metrics) hdf5::write_attribute(metrics.get(), name, value);
  std::vector<std::string> names;
  for (const auto& [name, value] : s.metrics) names.push_back(name);
  hdf5::write_strings(metrics.get(), "names", names); // the kind's order, which attributes lose
  // Counts every kind has, unless the kind reports them among its own metrics.
  const std::pair<const char*, std::int64_t> counts[] = {
      {"num_rows", s.num_rows},
      {"num_dropped_rows", s.num_dropped_rows},
      {"num_partitions", static_cast<std::int64_t>(s.partitions.size())},
      {"num_skipped_partitions", static_cast<std::int64_t>(s.skipped.size())}};
  for (const auto& [name, value] : counts) {
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      hdf5::write_attribute(metrics.get(), name, value);
    }
  }
}

// One float64 dataset per history column, one value per iteration.
void write_history(hid_t file, const model::History& history) {
  hdf5::GroupHandle group = hdf5::create_group(file, "history");
  hdf5::write_strings(group.get(), "columns", history.columns);
  for (std::size_t c = 0; c < history.columns.size(); ++c) {
    std::vector<double> values;
    for (const auto& row : history.rows) values.push_back(c < row.size() ? row[c] : 0.0);
    hdf5::write_doubles(group.get(), history.columns[c], values);
  }
}

model::History read_history(hid_t file) {
  model::History history;
  if (H5Lexists(file, "history", H5P_DEFAULT) <= 0) return history;
  hdf5::GroupHandle group = hdf5::open_group(file, "history");
  history.columns = hdf5::read_strings(group.get(), "columns");
  std::vector<std::vector<double>> columns;
  for (const std::string& name : history.columns) columns.push_back(hdf5::read_doubles(group.get(), name));
  const std::size_t rows = columns.empty() ? 0 : columns.front().size();
  for (std::size_t i = 0; i < rows; ++i) {
    std::vector<double> row;
    for (const auto& column : columns) row.push_back(i < column.size() ? column[i] : 0.0);
    history.rows.push_back(std::move(row));
  }
  return history;
}

void write_lineage(hid_t file, const Snapshot& s) {
  hdf5::GroupHandle group = hdf5::create_group(file, "lineage");
  hdf5::write_attribute(group.get(), "job_toml", s.job_text);
  hdf5::write_attribute(group.get(), "sluice_version", s.sluice_version);
  hdf5::write_attribute(group.get(), "xtx_kernel", s.xtx_kernel);
  hdf5::write_attribute(group.get(), "num_ranks", s.num_ranks);
  hdf5::write_attribute(group.get(), "threads_per_rank", s.threads_per_rank);
  hdf5::write_attribute(group.get(), "warm_start_version", s.warm_start_version);
  hdf5::write_attribute(group.get(), "created_utc", s.created_utc);
  hdf5::write_attribute(group.get(), "lake", s.lake_root);
  hdf5::GroupHandle partitions = hdf5::create_group(group.get(), "partitions");
  hdf5::write_strings(partitions.get(), "path",
                      column_of<std::string>(s.partitions, &PartitionLineage::path));
  hdf5::write_int64s(partitions.get(), "rows",
                     column_of<std::int64_t>(s.partitions, &PartitionLineage::rows));
  hdf5::write_strings(partitions.get(), "checksum",
                      column_of<std::string>(s.partitions, &PartitionLineage::checksum));
  hdf5::write_strings(partitions.get(), "keys",
                      column_of<std::string>(s.partitions, &PartitionLineage::keys));
  hdf5::GroupHandle skipped = hdf5::create_group(group.get(), "skipped");
  std::vector<std::string> paths;
  std::vector<std::string> reasons;
  for (const SkippedPartition& entry : s.skipped) {
    paths.push_back(entry.path);
    reasons.push_back(entry.reason);
  }
  hdf5::write_strings(skipped.get(), "path", paths);
  hdf5::write_strings(skipped.get(), "reason", reasons);
}

void write_statistics(hid_t file, const model::SufficientStats& stats) {
  hdf5::GroupHandle group = hdf5::create_group(file, "statistics");
  hdf5::write_attribute(group.get(), "count", stats.count);
  hdf5::write_doubles(group.get(), "mean",
                      std::span<const double>(stats.mean.data(), stats.mean.size()));
  Eigen::MatrixXd full = stats.comoment.selfadjointView<Eigen::Lower>();
  hdf5::write_doubles(group.get(), "comoment", std::span<const double>(full.data(), full.size()));
}

} // namespace

void write_snapshot(const std::filesystem::path& file_path, const Snapshot& s) {
  hdf5::File file = create_snapshot_file(file_path); // checksum header reserved, sealed below
  hdf5::write_attribute(file.id(), "format_version", format_version);
  hdf5::write_attribute(file.id(), "producer", "sluice");
  hdf5::write_attribute(file.id(), "model_name", s.model_name);
  hdf5::write_attribute(file.id(), "version", s.version);
  write_model(file.id(), s);
  {
    hdf5::GroupHandle pipeline = hdf5::create_group(file.id(), "pipeline");
    hdf5::write_attribute(pipeline.get(), "spec", s.pipeline_json);
    // Without a pipeline the model reads its raw columns: stored as the empty pipeline of them.
    Hdf5ParameterWriter writer(pipeline.get());
    if (s.pipeline) {
      s.pipeline->save(writer);
    } else {
      std::vector<std::string> columns = s.feature_names;
      if (!s.label.empty()) columns.push_back(s.label);
      transform::Pipeline::compile({}, std::nullopt, {}, columns).save(writer);
    }
  }
  write_metrics(file.id(), s);
  write_history(file.id(), s.history);
  write_lineage(file.id(), s);
  if (s.statistics.num_columns() > 0) write_statistics(file.id(), s.statistics);
  if (!s.profile.empty()) {
    hdf5::GroupHandle profile = hdf5::create_group(file.id(), "profile");
    Hdf5ParameterWriter writer(profile.get());
    transform::save_profile(s.profile, writer);
  }
  file.flush();
  file.close();
  seal_snapshot_file(file_path);
}

Snapshot read_snapshot(const std::filesystem::path& file_path) {
  verify_snapshot_for_reading(file_path); // a torn, truncated or modified file never reaches HDF5
  try {
    hdf5::File file = hdf5::File::open_read(file_path);
    Snapshot s;
    std::int64_t version = hdf5::read_int64_attribute(file.id(), "format_version");
    if (version < oldest_format_version || version > format_version) {
      throw DataError(fmt::format("snapshot {} has format_version {}, this Sluice reads {}..{}",
                                  file_path, version, oldest_format_version, format_version));
    }
    s.model_name = hdf5::read_string_attribute(file.id(), "model_name");
    s.version = hdf5::read_int64_attribute(file.id(), "version");
    hdf5::GroupHandle model = hdf5::open_group(file.id(), "model");
    s.model_kind = hdf5::read_string_attribute(model.get(), "kind");
    s.label = hdf5::read_string_attribute(model.get(), "label");
    s.feature_names = hdf5::read_strings(model.get(), "feature_names");
    s.model = model::load_fitted_model(s.model_kind, s.feature_names,
                                       Hdf5ParameterReader(model.get(), file_path.string()));
    hdf5::GroupHandle pipeline = hdf5::open_group(file.id(), "pipeline");
    s.pipeline_json = hdf5::read_string_attribute(pipeline.get(), "spec");
    if (version >= 3) {
      s.pipeline = std::make_shared<const transform::Pipeline>(
          transform::Pipeline::load(Hdf5ParameterReader(pipeline.get(), file_path.string())));
    } else {
      std::vector<std::string> columns = s.feature_names;
      if (!s.label.empty()) columns.push_back(s.label);
      s.pipeline = std::make_shared<const transform::Pipeline>(
          transform::Pipeline::compile({}, std::nullopt, {}, columns));
    }
    hdf5::GroupHandle metrics = hdf5::open_group(file.id(), "metrics");
    for (const std::string& name : hdf5::read_strings(metrics.get(), "names")) {
      s.metrics.emplace_back(name, hdf5::read_double_attribute(metrics.get(), name));
    }
    s.num_rows = hdf5::read_int64_attribute(metrics.get(), "num_rows");
    s.num_dropped_rows = hdf5::read_int64_attribute(metrics.get(), "num_dropped_rows");
    s.history = read_history(file.id());
    hdf5::GroupHandle lineage = hdf5::open_group(file.id(), "lineage");
    s.job_text = hdf5::read_string_attribute(lineage.get(), "job_toml");
    s.sluice_version = hdf5::read_string_attribute(lineage.get(), "sluice_version");
    s.xtx_kernel = hdf5::read_string_attribute(lineage.get(), "xtx_kernel");
    s.num_ranks = hdf5::read_int64_attribute(lineage.get(), "num_ranks");
    s.threads_per_rank = hdf5::read_int64_attribute(lineage.get(), "threads_per_rank");
    if (H5Aexists(lineage.get(), "warm_start_version") > 0) {
      s.warm_start_version = hdf5::read_int64_attribute(lineage.get(), "warm_start_version");
    }
    s.created_utc = hdf5::read_string_attribute(lineage.get(), "created_utc");
    s.lake_root = hdf5::read_string_attribute(lineage.get(), "lake");
    hdf5::GroupHandle partitions = hdf5::open_group(lineage.get(), "partitions");
    auto paths = hdf5::read_strings(partitions.get(), "path");
    auto rows = hdf5::read_int64s(partitions.get(), "rows");
    auto checksums = hdf5::read_strings(partitions.get(), "checksum");
    auto keys = hdf5::read_strings(partitions.get(), "keys");
    for (std::size_t i = 0; i < paths.size(); ++i) {
      s.partitions.push_back({paths[i], rows.at(i), checksums.at(i), keys.at(i)});
    }
    hdf5::GroupHandle skipped = hdf5::open_group(lineage.get(), "skipped");
    auto skipped_paths = hdf5::read_strings(skipped.get(), "path");
    auto reasons = hdf5::read_strings(skipped.get(), "reason");
    for (std::size_t i = 0; i < skipped_paths.size(); ++i) {
      s.skipped.push_back({skipped_paths[i], reasons.at(i)});
    }
    if (H5Lexists(file.id(), "statistics", H5P_DEFAULT) > 0) {
      hdf5::GroupHandle statistics = hdf5::open_group(file.id(), "statistics");
      auto mean = hdf5::read_doubles(statistics.get(), "mean");
      auto comoment = hdf5::read_doubles(statistics.get(), "comoment");
      const auto k = static_cast<Eigen::Index>(mean.size());
      if (static_cast<Eigen::Index>(comoment.size()) != k * k) {
        throw DataError(fmt::format("snapshot {}: inconsistent statistics sizes", file_path));
      }
      s.statistics = model::SufficientStats::empty(k);
      s.statistics.count = hdf5::read_int64_attribute(statistics.get(), "count");
      s.statistics.mean = Eigen::Map<Eigen::VectorXd>(mean.data(), k);
      s.statistics.comoment = Eigen::Map<Eigen::MatrixXd>(comoment.data(), k, k);
    }
    if (H5Lexists(file.id(), "profile", H5P_DEFAULT) > 0) {
      hdf5::GroupHandle profile = hdf5::open_group(file.id(), "profile");
      s.profile = transform::load_profile(Hdf5ParameterReader(profile.get(), file_path.string()));
    }
    return s;
  } catch (const hdf5::Error& error) {
    throw DataError(fmt::format("{} is not a readable Sluice snapshot: {}", file_path, error.what()));
  }
}

double Snapshot::metric(const std::string& name) const {
  for (const auto& [key, value] : metrics) {
    if (key == name) return value;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

Eigen::MatrixXd score(const Snapshot& snapshot, const Eigen::Ref<const Eigen::MatrixXd>& rows) {
  Eigen::MatrixXd out(rows.rows(), static_cast<Eigen::Index>(snapshot.model->outputs().size()));
  snapshot.model->score(rows.data(), rows.outerStride(), rows.rows(), out.data(), out.rows());
  return out;
}

namespace {

// The pipeline's raw inputs a caller must supply: the label only when a step reads it.
std::vector<std::string> supplied_raw_inputs(const Snapshot& snapshot) {
  std::vector<std::string> names;
  for (const std::string& name : snapshot.pipeline->raw_inputs()) {
    if (name == snapshot.label && !snapshot.pipeline->is_read_by_steps(name)) continue;
    names.push_back(name);
  }
  return names;
}

} // namespace

std::vector<std::string> raw_columns(const Snapshot& snapshot) {
  if (!snapshot.pipeline) return snapshot.feature_names;
  std::vector<std::string> names = supplied_raw_inputs(snapshot);
  for (const std::string& key : snapshot.pipeline->hive_key_columns()) names.push_back(key);
  return names;
}

RawScores score_raw(const Snapshot& snapshot, const Eigen::Ref<const Eigen::MatrixXd>& raw) {
  RawScores scores;
  const Eigen::Index rows = raw.rows();
  const auto num_outputs = static_cast<Eigen::Index>(snapshot.model->outputs().size());
  if (!snapshot.pipeline || snapshot.pipeline->is_empty()) {
    scores.outputs = score(snapshot, raw);
    scores.kept.assign(static_cast<std::size_t>(rows), 1);
    return scores;
  }
  const transform::Pipeline& pipeline = *snapshot.pipeline;
  // The runner's block: every raw input (an unsupplied label as NaN), then the Hive keys.
  const std::vector<std::string> inputs = pipeline.raw_inputs();
  const std::vector<std::string> keys = pipeline.hive_key_columns();
  Eigen::MatrixXd block(rows, static_cast<Eigen::Index>(inputs.size() + keys.size()));
  Eigen::Index supplied = 0;
  for (std::size_t c = 0; c < inputs.size(); ++c) {
    if (inputs[c] == snapshot.label && !pipeline.is_read_by_steps(inputs[c])) {
      block.col(static_cast<Eigen::Index>(c)).setConstant(std::numeric_limits<double>::quiet_NaN());
    } else {
      block.col(static_cast<Eigen::Index>(c)) = raw.col(supplied++);
    }
  }
  for (std::size_t k = 0; k < keys.size(); ++k) {
    block.col(static_cast<Eigen::Index>(inputs.size() + k)) = raw.col(supplied++);
  }
  transform::PipelineRunner runner(pipeline, transform::fully_fitted, transform::RowSet::all);
  const std::int64_t kept = runner.apply(block.data(), rows, rows, {});
  std::vector<int> slots;
  for (const std::string& name : snapshot.feature_names) slots.push_back(pipeline.find_column(name));
  Eigen::MatrixXd features(kept, static_cast<Eigen::Index>(slots.size()));
  runner.gather(slots, features.data(), kept);
  Eigen::MatrixXd scored(kept, num_outputs);
  snapshot.model->score(features.data(), kept, kept, scored.data(), kept);
  scores.outputs.setConstant(rows, num_outputs, std::numeric_limits<double>::quiet_NaN());
  scores.kept.assign(static_cast<std::size_t>(rows), 0);
  for (std::int64_t i = 0; i < kept; ++i) {
    const std::int64_t row = runner.row_index()[i];
    scores.outputs.row(row) = scored.row(i);
    scores.kept[static_cast<std::size_t>(row)] = 1;
  }
  return scores;
}

} // namespace sluice::snapshot
