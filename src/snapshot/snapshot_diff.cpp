// Comparing two snapshots section by section; the /pipeline group generically, object by object.
#include "sluice/snapshot/snapshot_diff.hpp"

#include "sluice/error.hpp"
#include "sluice/hdf5/error.hpp"
#include "sluice/hdf5/file.hpp"
#include "sluice/hdf5/handle.hpp"
#include "sluice/model/parameter_map.hpp"
#include "sluice/snapshot/snapshot.hpp"

#include <fmt/format.h>
#include <fmt/std.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

namespace sluice::snapshot {
namespace {

using Values = std::map<std::string, nlohmann::json>;
using ObjectHandle = hdf5::Handle<H5Oclose>;

// ---- equality and changes -------------------------------------------------------------------

bool same_value(const nlohmann::json& x, const nlohmann::json& y) {
  if (x.is_number() && y.is_number()) {
    const double a = x.get<double>();
    const double b = y.get<double>();
    return a == b || (std::isnan(a) && std::isnan(b));
  }
  if (x.is_array() && y.is_array()) {
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!same_value(x[i], y[i])) return false;
    }
    return true;
  }
  if (x.is_object() && y.is_object()) {
    if (x.size() != y.size()) return false;
    for (const auto& [key, value] : x.items()) {
      if (!y.contains(key) || !same_value(value, y.at(key))) return false;
    }
    return true;
  }
  return x == y;
}

// Largest |b - a| over two numeric arrays (nested alike), or -1 when their shapes differ.
double max_abs_difference(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) return std::abs(b.get<double>() - a.get<double>());
  if (!a.is_array() || !b.is_array() || a.size() != b.size() || a.empty()) return -1;
  double largest = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = max_abs_difference(a[i], b[i]);
    if (d < 0) return -1;
    largest = std::max(largest, d);
  }
  return largest;
}

std::vector<ValueChange> compare(const Values& before, const Values& after) {
  std::set<std::string> keys;
  for (const auto& [key, value] : before) keys.insert(key);
  for (const auto& [key, value] : after) keys.insert(key);
  std::vector<ValueChange> changes;
  for (const std::string& key : keys) {
    const auto a = before.find(key);
    const auto b = after.find(key);
    const nlohmann::json x = a == before.end() ? nlohmann::json(nullptr) : a->second;
    const nlohmann::json y = b == after.end() ? nlohmann::json(nullptr) : b->second;
    if (a != before.end() && b != after.end() && same_value(x, y)) continue;
    ValueChange change{key, x, y, -1};
    if (x.is_array() && y.is_array()) change.max_abs_difference = max_abs_difference(x, y);
    changes.push_back(std::move(change));
  }
  return changes;
}

// ---- sections ---------------------------------------------------------------------------------

nlohmann::json matrix_json(const Eigen::MatrixXd& m) {
  nlohmann::json rows = nlohmann::json::array();
  if (m.cols() == 1) {
    for (Eigen::Index i = 0; i < m.rows(); ++i) rows.push_back(m(i, 0));
    return rows;
  }
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (Eigen::Index j = 0; j < m.cols(); ++j) row.push_back(m(i, j));
    rows.push_back(std::move(row));
  }
  return rows;
}

Values parameters_of(const Snapshot& s) {
  model::ParameterMap map;
  s.model->save(map);
  Values values;
  for (const auto& [name, value] : map.values()) {
    // `key`, not the binding itself: lambdas capture structured bindings only from C++20 on,
    // which clang 14 (the sanitizer and fuzzing builds) does not implement yet.
    std::visit(
        [&values, &key = name](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, Eigen::MatrixXd>) {
            values[key] = matrix_json(v);
          } else {
            values[key] = v;
          }
        },
        value);
  }
  values["feature_names"] = s.feature_names;
  values["label"] = s.label;
  values["kind"] = s.model_kind;
  return values;
}

nlohmann::json toml_json(const toml::node& node) {
  if (const auto* table = node.as_table()) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& [key, value] : *table) object[std::string(key.str())] = toml_json(value);
    return object;
  }
  if (const auto* array = node.as_array()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& element : *array) list.push_back(toml_json(element));
    return list;
  }
  if (auto v = node.value_exact<std::string>()) return *v;
  if (auto v = node.value_exact<std::int64_t>()) return *v;
  if (auto v = node.value_exact<double>()) return *v;
  if (auto v = node.value_exact<bool>()) return *v;
  return node.visit([](const auto& value) { // dates and times, as TOML writes them
    std::ostringstream text;
    text << value;
    return text.str();
  });
}

// The job file's [model] table by "model.KEY"; a job text that does not parse is one value.
Values hyper_parameters_of(const Snapshot& s) {
  Values values;
  try {
    const toml::table job = toml::parse(s.job_text);
    if (const toml::table* model = job["model"].as_table()) {
      for (const auto& [key, value] : *model) values["model." + std::string(key.str())] = toml_json(value);
    }
  } catch (const toml::parse_error&) {
    values["job_toml"] = s.job_text;
  }
  return values;
}

Values metrics_of(const Snapshot& s) {
  Values values;
  for (const auto& [name, value] : s.metrics) values[name] = value;
  values["num_rows"] = s.num_rows;
  values["num_dropped_rows"] = s.num_dropped_rows;
  values["num_partitions"] = s.partitions.size();
  values["num_skipped_partitions"] = s.skipped.size();
  return values;
}

// ---- the /pipeline group, read generically ------------------------------------------------

// The values of an attribute or dataset of any numeric or string type: a scalar, a 1-D array,
// or {"shape", "values"} for more dimensions.
template <typename Read>
nlohmann::json read_values(hid_t file_type, hid_t space, const Read& read) {
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  const auto count = static_cast<std::size_t>(H5Sget_simple_extent_npoints(space));
  nlohmann::json flat = nlohmann::json::array();
  const H5T_class_t type_class = H5Tget_class(file_type);
  if (type_class == H5T_STRING) {
    hdf5::DatatypeHandle memory(hdf5::check_id(H5Tcopy(H5T_C_S1), "H5Tcopy"));
    if (H5Tis_variable_str(file_type) > 0) {
      hdf5::check_status(H5Tset_size(memory.get(), H5T_VARIABLE), "H5Tset_size");
      std::vector<char*> strings(count, nullptr);
      read(memory.get(), strings.data());
      for (char* text : strings) flat.push_back(text == nullptr ? "" : text);
      H5Dvlen_reclaim(memory.get(), space, H5P_DEFAULT, strings.data());
    } else {
      const std::size_t size = H5Tget_size(file_type);
      hdf5::check_status(H5Tset_size(memory.get(), size), "H5Tset_size");
      std::vector<char> buffer(count * size);
      read(memory.get(), buffer.data());
      for (std::size_t i = 0; i < count; ++i) {
        std::string text(buffer.data() + i * size, size);
        flat.push_back(text.substr(0, text.find('\0')));
      }
    }
  } else if (type_class == H5T_INTEGER) {
    std::vector<std::int64_t> numbers(count);
    read(H5T_NATIVE_INT64, numbers.data());
    for (std::int64_t n : numbers) flat.push_back(n);
  } else if (type_class == H5T_FLOAT) {
    std::vector<double> numbers(count);
    read(H5T_NATIVE_DOUBLE, numbers.data());
    for (double n : numbers) flat.push_back(n);
  } else {
    return fmt::format("<HDF5 type class {}, {} bytes, {} values>", static_cast<int>(type_class),
                       H5Tget_size(file_type), count);
  }
  if (rank == 0) return flat.empty() ? nlohmann::json(nullptr) : flat[0];
  if (rank == 1) return flat;
  return nlohmann::json{{"shape", dims}, {"values", flat}};
}

void read_attributes(hid_t object, const std::string& path, Values& values) {
  std::vector<std::string> names;
  auto collect = [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->push_back(name);
    return 0;
  };
  hdf5::check_status(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect, &names),
                     fmt::format("cannot list the attributes of {}", path));
  for (const std::string& name : names) {
    hdf5::AttributeHandle attribute(hdf5::check_id(H5Aopen(object, name.c_str(), H5P_DEFAULT),
                                                   fmt::format("cannot open {}@{}", path, name)));
    hdf5::DatatypeHandle type(hdf5::check_id(H5Aget_type(attribute.get()), "H5Aget_type"));
    hdf5::DataspaceHandle space(hdf5::check_id(H5Aget_space(attribute.get()), "H5Aget_space"));
    values[path + "@" + name] = read_values(type.get(), space.get(), [&](hid_t memory, void* buffer) {
      hdf5::check_status(H5Aread(attribute.get(), memory, buffer), fmt::format("cannot read {}@{}", path, name));
    });
  }
}

void read_group(hid_t group, const std::string& path, Values& values) {
  read_attributes(group, path, values);
  for (const std::string& name : hdf5::member_names(group)) {
    const std::string child_path = path + "/" + name;
    ObjectHandle child(hdf5::check_id(H5Oopen(group, name.c_str(), H5P_DEFAULT),
                                      fmt::format("cannot open {}", child_path)));
    const H5I_type_t type = H5Iget_type(child.get());
    if (type == H5I_GROUP) {
      read_group(child.get(), child_path, values);
    } else if (type == H5I_DATASET) {
      read_attributes(child.get(), child_path, values);
      hdf5::DatatypeHandle file_type(hdf5::check_id(H5Dget_type(child.get()), "H5Dget_type"));
      hdf5::DataspaceHandle space(hdf5::check_id(H5Dget_space(child.get()), "H5Dget_space"));
      values[child_path] = read_values(file_type.get(), space.get(), [&](hid_t memory, void* buffer) {
        hdf5::check_status(H5Dread(child.get(), memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer),
                           fmt::format("cannot read {}", child_path));
      });
    }
  }
}

Values pipeline_of(const std::filesystem::path& path) {
  Values values;
  try {
    hdf5::File file = hdf5::File::open_read(path);
    if (!hdf5::has_link(file.id(), "pipeline")) return values;
    hdf5::GroupHandle pipeline = hdf5::open_group(file.id(), "pipeline");
    read_group(pipeline.get(), "/pipeline", values);
  } catch (const hdf5::Error& error) {
    throw DataError(fmt::format("{}: cannot read /pipeline: {}", path, error.what()));
  }
  return values;
}

// ---- lineage ------------------------------------------------------------------------------

void compare_partitions(const Snapshot& a, const Snapshot& b, SnapshotDiff& diff) {
  std::map<std::string, const PartitionLineage*> before;
  for (const auto& p : a.partitions) before[p.path] = &p;
  std::map<std::string, const PartitionLineage*> after;
  for (const auto& p : b.partitions) after[p.path] = &p;
  for (const auto& [path, p] : before) {
    if (!after.contains(path)) {
      diff.partitions.push_back({path, "removed", p->rows, 0, p->checksum, ""});
    }
  }
  for (const auto& [path, p] : after) {
    const auto old = before.find(path);
    if (old == before.end()) {
      diff.partitions.push_back({path, "added", 0, p->rows, "", p->checksum});
    } else if (old->second->rows != p->rows || old->second->checksum != p->checksum) {
      diff.partitions.push_back({path, "changed", old->second->rows, p->rows, old->second->checksum, p->checksum});
    } else {
      ++diff.num_partitions_unchanged;
    }
  }
  std::stable_sort(diff.partitions.begin(), diff.partitions.end(),
                   [](const PartitionChange& x, const PartitionChange& y) { return x.path < y.path; });
}

nlohmann::json changes_json(const std::vector<ValueChange>& changes) {
  nlohmann::json list = nlohmann::json::array();
  for (const ValueChange& c : changes) {
    nlohmann::json entry = {{"key", c.key}, {"before", c.before}, {"after", c.after}};
    if (c.max_abs_difference >= 0) entry["max_abs_difference"] = c.max_abs_difference;
    list.push_back(std::move(entry));
  }
  return list;
}

} // namespace

bool SnapshotDiff::is_empty() const {
  return parameters.empty() && hyper_parameters.empty() && metrics.empty() && pipeline.empty() &&
         partitions.empty();
}

SnapshotDiff diff_snapshots(const std::filesystem::path& a, const std::filesystem::path& b) {
  const Snapshot before = read_snapshot(a);
  const Snapshot after = read_snapshot(b);
  SnapshotDiff diff;
  diff.a = a;
  diff.b = b;
  diff.parameters = compare(parameters_of(before), parameters_of(after));
  diff.hyper_parameters = compare(hyper_parameters_of(before), hyper_parameters_of(after));
  diff.metrics = compare(metrics_of(before), metrics_of(after));
  diff.pipeline = compare(pipeline_of(a), pipeline_of(b));
  compare_partitions(before, after, diff);
  return diff;
}

nlohmann::json to_json(const SnapshotDiff& diff) {
  nlohmann::json partitions = {{"added", nlohmann::json::array()},
                               {"removed", nlohmann::json::array()},
                               {"changed", nlohmann::json::array()},
                               {"unchanged", diff.num_partitions_unchanged}};
  for (const PartitionChange& p : diff.partitions) {
    nlohmann::json entry = {{"path", p.path}};
    if (p.change != "added") {
      entry["rows_before"] = p.rows_before;
      entry["checksum_before"] = p.checksum_before;
    }
    if (p.change != "removed") {
      entry["rows_after"] = p.rows_after;
      entry["checksum_after"] = p.checksum_after;
    }
    partitions[p.change].push_back(std::move(entry));
  }
  return {{"a", diff.a.string()},
          {"b", diff.b.string()},
          {"parameters", changes_json(diff.parameters)},
          {"hyper_parameters", changes_json(diff.hyper_parameters)},
          {"metrics", changes_json(diff.metrics)},
          {"pipeline", changes_json(diff.pipeline)},
          {"partitions", partitions}};
}

} // namespace sluice::snapshot
