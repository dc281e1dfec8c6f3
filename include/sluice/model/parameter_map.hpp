// ParameterMap: a model's saved parameters held in memory, to compare, print or test them.
#pragma once

#include "sluice/model/parameters.hpp"

#include <map>
#include <variant>

namespace sluice::model {

/// Both sides of the parameter interface over a map: FittedModel::save into it, then read back.
class ParameterMap final : public ParameterWriter, public ParameterReader {
public:
  using Value = std::variant<double, std::int64_t, std::string, Eigen::MatrixXd,
                             std::vector<std::string>>;

  void scalar(const std::string& name, double value) override { values_[name] = value; }
  void integer(const std::string& name, std::int64_t value) override { values_[name] = value; }
  void text(const std::string& name, const std::string& value) override { values_[name] = value; }
  void vector(const std::string& name, const Eigen::VectorXd& values) override {
    values_[name] = Eigen::MatrixXd(values);
  }
  void matrix(const std::string& name, const Eigen::MatrixXd& values) override {
    values_[name] = values;
  }
  void strings(const std::string& name, const std::vector<std::string>& values) override {
    values_[name] = values;
  }

  double scalar(const std::string& name) const override;
  std::int64_t integer(const std::string& name) const override;
  std::string text(const std::string& name) const override;
  bool has(const std::string& name) const override { return values_.contains(name); }
  Eigen::VectorXd vector(const std::string& name, Eigen::Index size = -1) const override;
  Eigen::MatrixXd matrix(const std::string& name, Eigen::Index rows = -1,
                         Eigen::Index cols = -1) const override;
  std::vector<std::string> strings(const std::string& name) const override;
  std::string where() const override { return "parameters"; }

  const std::map<std::string, Value>& values() const noexcept { return values_; }

private:
  template <typename T>
  const T& get(const std::string& name) const;

  std::map<std::string, Value> values_;
};

} // namespace sluice::model
