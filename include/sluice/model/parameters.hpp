// Where a fitted model writes and reads its parameters: a storage-neutral interface that the
// snapshot layer implements over an HDF5 group, so model code never touches the file format.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::model {

/// Named values under the model's group: scalars become attributes, arrays datasets.
class ParameterWriter {
public:
  virtual ~ParameterWriter() = default;
  virtual void scalar(const std::string& name, double value) = 0;
  virtual void integer(const std::string& name, std::int64_t value) = 0;
  virtual void text(const std::string& name, const std::string& value) = 0;
  virtual void vector(const std::string& name, const Eigen::VectorXd& values) = 0;
  /// Stored row-major with shape rows × cols, as numpy reads it.
  virtual void matrix(const std::string& name, const Eigen::MatrixXd& values) = 0;
  virtual void strings(const std::string& name, const std::vector<std::string>& values) = 0;
};

/// The reading side; every getter throws DataError naming the snapshot and the missing or
/// misshapen entry.
class ParameterReader {
public:
  virtual ~ParameterReader() = default;
  virtual double scalar(const std::string& name) const = 0;
  virtual std::int64_t integer(const std::string& name) const = 0;
  virtual std::string text(const std::string& name) const = 0;
  virtual bool has(const std::string& name) const = 0;
  /// Throws unless the stored vector has `size` values (size < 0: any).
  virtual Eigen::VectorXd vector(const std::string& name, Eigen::Index size = -1) const = 0;
  /// Throws unless the stored matrix is rows × cols (a negative dimension: any).
  virtual Eigen::MatrixXd matrix(const std::string& name, Eigen::Index rows = -1,
                                 Eigen::Index cols = -1) const = 0;
  virtual std::vector<std::string> strings(const std::string& name) const = 0;
  /// Names the source in messages ("snapshot FILE").
  virtual std::string where() const = 0;
};

} // namespace sluice::model
