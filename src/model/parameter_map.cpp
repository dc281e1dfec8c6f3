// In-memory parameters: typed lookups that fail with the name of what is missing.
#include "sluice/model/parameter_map.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>

namespace sluice::model {

template <typename T>
const T& ParameterMap::get(const std::string& name) const {
  auto found = values_.find(name);
  if (found == values_.end() || !std::holds_alternative<T>(found->second)) {
    throw DataError(fmt::format("{}: missing or mistyped '{}'", where(), name));
  }
  return std::get<T>(found->second);
}

double ParameterMap::scalar(const std::string& name) const { return get<double>(name); }
std::int64_t ParameterMap::integer(const std::string& name) const { return get<std::int64_t>(name); }
std::string ParameterMap::text(const std::string& name) const { return get<std::string>(name); }
std::vector<std::string> ParameterMap::strings(const std::string& name) const {
  return get<std::vector<std::string>>(name);
}

Eigen::VectorXd ParameterMap::vector(const std::string& name, Eigen::Index size) const {
  const Eigen::MatrixXd& values = get<Eigen::MatrixXd>(name);
  if (values.cols() != 1 || (size >= 0 && values.rows() != size)) {
    throw DataError(fmt::format("{}: '{}' has shape {}×{}, expected {} values", where(), name,
                                values.rows(), values.cols(), size));
  }
  return values.col(0);
}

Eigen::MatrixXd ParameterMap::matrix(const std::string& name, Eigen::Index rows,
                                     Eigen::Index cols) const {
  const Eigen::MatrixXd& values = get<Eigen::MatrixXd>(name);
  if ((rows >= 0 && values.rows() != rows) || (cols >= 0 && values.cols() != cols)) {
    throw DataError(fmt::format("{}: '{}' has shape {}×{}, expected {}×{}", where(), name,
                                values.rows(), values.cols(), rows, cols));
  }
  return values;
}

} // namespace sluice::model
