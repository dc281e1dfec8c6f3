// Model parameters in a snapshot's /model group: scalars as attributes, arrays as datasets.
#pragma once

#include "sluice/model/parameters.hpp"

#include <hdf5.h>

namespace sluice::snapshot {

class Hdf5ParameterWriter final : public model::ParameterWriter {
public:
  explicit Hdf5ParameterWriter(hid_t group) : group_(group) {}
  void scalar(const std::string& name, double value) override;
  void integer(const std::string& name, std::int64_t value) override;
  void text(const std::string& name, const std::string& value) override;
  void vector(const std::string& name, const Eigen::VectorXd& values) override;
  void matrix(const std::string& name, const Eigen::MatrixXd& values) override;
  void strings(const std::string& name, const std::vector<std::string>& values) override;

private:
  hid_t group_;
};

class Hdf5ParameterReader final : public model::ParameterReader {
public:
  Hdf5ParameterReader(hid_t group, std::string file) : group_(group), file_(std::move(file)) {}
  double scalar(const std::string& name) const override;
  std::int64_t integer(const std::string& name) const override;
  std::string text(const std::string& name) const override;
  bool has(const std::string& name) const override;
  Eigen::VectorXd vector(const std::string& name, Eigen::Index size = -1) const override;
  Eigen::MatrixXd matrix(const std::string& name, Eigen::Index rows = -1,
                         Eigen::Index cols = -1) const override;
  std::vector<std::string> strings(const std::string& name) const override;
  std::string where() const override { return "snapshot " + file_; }

private:
  template <typename Fn>
  auto guarded(const std::string& name, Fn&& fn) const;

  hid_t group_;
  std::string file_;
};

} // namespace sluice::snapshot
