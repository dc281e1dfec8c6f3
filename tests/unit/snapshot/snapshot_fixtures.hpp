// Test fixtures for registry tests: sealed stand-in files and small real snapshots.
#pragma once

#include "sluice/model/model_kinds.hpp"
#include "sluice/model/parameter_map.hpp"
#include "sluice/snapshot/snapshot.hpp"
#include "sluice/snapshot/snapshot_checksum.hpp"
#include "sluice/transform/pipeline.hpp"

#include <filesystem>
#include <fstream>
#include <string>

namespace sluice::testing_support {

/// A stand-in snapshot: a reserved (zero) checksum block, the text, then the seal. Verifies like
/// a real snapshot without the cost of HDF5, for tests of the registry protocol.
inline void write_sealed(const std::filesystem::path& path, const std::string& text) {
  {
    std::ofstream stream(path, std::ios::binary | std::ios::trunc);
    const std::string reserved(snapshot::checksum_header_bytes, '\0');
    stream << reserved << text;
  }
  snapshot::seal_snapshot_file(path);
}

/// The text after the header of a file written by write_sealed.
inline std::string read_sealed(const std::filesystem::path& path) {
  std::ifstream stream(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  return text.substr(snapshot::checksum_header_bytes);
}

/// A small ridge snapshot with known values; `shift` changes its coefficients, metrics and lineage.
inline snapshot::Snapshot ridge_snapshot(const std::string& name, std::int64_t version, double shift = 0) {
  snapshot::Snapshot s;
  s.model_name = name;
  s.version = version;
  s.model_kind = "ridge";
  s.feature_names = {"a", "b"};
  s.label = "y";
  s.model = model::load_fitted_model("ridge", s.feature_names, [shift] {
    model::ParameterMap p;
    p.vector("coefficients", Eigen::Vector2d(0.5 + shift, -2.0));
    p.scalar("intercept", 1.0);
    p.scalar("alpha", 1.0 + shift);
    p.integer("fit_intercept", 1);
    return p;
  }());
  s.pipeline_json = R"({"stages":[]})";
  s.pipeline = std::make_shared<const transform::Pipeline>(
      transform::Pipeline::compile({}, std::nullopt, {}, {"a", "b", "y"}));
  s.metrics = {{"rmse", 0.25 + shift}, {"r2", 0.9}};
  s.num_rows = 30;
  s.job_text = "[model]\nkind = \"ridge\"\nfeatures = [\"a\", \"b\"]\nlabel = \"y\"\nalpha = " +
               std::to_string(1.0 + shift) + "\n";
  s.sluice_version = "0.1.0";
  s.num_ranks = 1;
  s.threads_per_rank = 1;
  s.created_utc = "2026-11-25T00:00:00Z";
  s.lake_root = "/lake";
  s.partitions = {{"day=1/p.h5", 10, "00000000000000aa", "day=1"},
                  {"day=1/q.h5", 20, shift == 0 ? "00000000000000bb" : "00000000000000cc", "day=1"}};
  if (shift != 0) s.partitions.push_back({"day=2/r.h5", 5, "00000000000000dd", "day=2"});
  if (shift != 0) s.partitions.erase(s.partitions.begin());
  return s;
}

} // namespace sluice::testing_support
