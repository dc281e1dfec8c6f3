// Hdf5ParameterWriter/Reader: the snapshot side of the model parameter interface.
#include "hdf5_parameters.hpp"

#include "sluice/error.hpp"
#include "sluice/hdf5/attributes.hpp"
#include "sluice/hdf5/dataset.hpp"
#include "sluice/hdf5/error.hpp"

#include <fmt/format.h>

namespace sluice::snapshot {

void Hdf5ParameterWriter::scalar(const std::string& name, double value) {
  hdf5::write_attribute(group_, name, value);
}
void Hdf5ParameterWriter::integer(const std::string& name, std::int64_t value) {
  hdf5::write_attribute(group_, name, value);
}
void Hdf5ParameterWriter::text(const std::string& name, const std::string& value) {
  hdf5::write_attribute(group_, name, value);
}
void Hdf5ParameterWriter::vector(const std::string& name, const Eigen::VectorXd& values) {
  hdf5::write_doubles(group_, name, std::span<const double>(values.data(), values.size()));
}
void Hdf5ParameterWriter::matrix(const std::string& name, const Eigen::MatrixXd& values) {
  const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major = values;
  hdf5::write_matrix(group_, name, values.rows(), values.cols(),
                     std::span<const double>(row_major.data(), row_major.size()));
}
void Hdf5ParameterWriter::strings(const std::string& name, const std::vector<std::string>& values) {
  hdf5::write_strings(group_, name, values);
}

template <typename Fn>
auto Hdf5ParameterReader::guarded(const std::string& name, Fn&& fn) const {
  try {
    return fn();
  } catch (const hdf5::Error& error) {
    throw DataError(fmt::format("{}: cannot read model entry '{}': {}", where(), name, error.what()));
  }
}

double Hdf5ParameterReader::scalar(const std::string& name) const {
  return guarded(name, [&] { return hdf5::read_double_attribute(group_, name); });
}
std::int64_t Hdf5ParameterReader::integer(const std::string& name) const {
  return guarded(name, [&] { return hdf5::read_int64_attribute(group_, name); });
}
std::string Hdf5ParameterReader::text(const std::string& name) const {
  return guarded(name, [&] { return hdf5::read_string_attribute(group_, name); });
}
bool Hdf5ParameterReader::has(const std::string& name) const {
  return hdf5::has_attribute(group_, name) || H5Lexists(group_, name.c_str(), H5P_DEFAULT) > 0;
}
std::vector<std::string> Hdf5ParameterReader::strings(const std::string& name) const {
  return guarded(name, [&] { return hdf5::read_strings(group_, name); });
}

Eigen::VectorXd Hdf5ParameterReader::vector(const std::string& name, Eigen::Index size) const {
  std::vector<double> values = guarded(name, [&] { return hdf5::read_doubles(group_, name); });
  if (size >= 0 && static_cast<Eigen::Index>(values.size()) != size) {
    throw DataError(fmt::format("{}: model entry '{}' has {} values, expected {}", where(), name,
                                values.size(), size));
  }
  return Eigen::Map<Eigen::VectorXd>(values.data(), static_cast<Eigen::Index>(values.size()));
}

Eigen::MatrixXd Hdf5ParameterReader::matrix(const std::string& name, Eigen::Index rows,
                                            Eigen::Index cols) const {
  hdf5::MatrixValues values = guarded(name, [&] { return hdf5::read_matrix(group_, name); });
  if ((rows >= 0 && values.rows != rows) || (cols >= 0 && values.cols != cols)) {
    throw DataError(fmt::format("{}: model entry '{}' is {}×{}, expected {}×{}", where(), name,
                                values.rows, values.cols, rows, cols));
  }
  return Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      values.row_major.data(), values.rows, values.cols);
}

} // namespace sluice::snapshot
