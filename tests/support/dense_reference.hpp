// Independent reference: load a whole (small) lake into memory and solve ridge densely by QR.
#pragma once

#include "sluice/lake/catalog.hpp"
#include "sluice/lake/partition_reader.hpp"

#include <Eigen/Dense>

#include <string>
#include <vector>

namespace sluice::testing_support {

struct DenseData {
  Eigen::MatrixXd features;
  Eigen::VectorXd label;
};

/// Every partition's columns as one column-major matrix each, in partition order.
inline std::vector<Eigen::MatrixXd> load_partitions(const std::vector<lake::PartitionInfo>& partitions,
                                                    const std::vector<std::string>& columns) {
  std::vector<Eigen::MatrixXd> parts;
  for (const auto& partition : partitions) {
    lake::PartitionReader reader(partition.path, "/", columns);
    Eigen::MatrixXd block(reader.num_rows(), static_cast<Eigen::Index>(columns.size()));
    reader.read_block(0, reader.num_rows(), block.data(), reader.num_rows());
    parts.push_back(std::move(block));
  }
  return parts;
}

/// Reads every row of the partitions in order, each partition in one read.
inline DenseData load_dense(const std::vector<lake::PartitionInfo>& partitions,
                            const std::vector<std::string>& columns) {
  std::vector<Eigen::MatrixXd> parts = load_partitions(partitions, columns);
  Eigen::Index total = 0;
  for (const auto& block : parts) total += block.rows();
  const auto d = static_cast<Eigen::Index>(columns.size()) - 1;
  DenseData data{Eigen::MatrixXd(total, d), Eigen::VectorXd(total)};
  Eigen::Index row = 0;
  for (const auto& block : parts) {
    data.features.middleRows(row, block.rows()) = block.leftCols(d);
    data.label.segment(row, block.rows()) = block.col(d);
    row += block.rows();
  }
  return data;
}

/// Minimises ‖y − Xw − b‖² + alpha‖w‖² by Householder QR of the augmented system
/// [X 1; √alpha·I 0] [w; b] ≈ [y; 0] — no normal equations, so it checks them independently.
inline Eigen::VectorXd dense_ridge(const DenseData& data, double alpha) {
  const Eigen::Index n = data.features.rows();
  const Eigen::Index d = data.features.cols();
  Eigen::MatrixXd system = Eigen::MatrixXd::Zero(n + d, d + 1);
  system.topLeftCorner(n, d) = data.features;
  system.topRightCorner(n, 1).setOnes();
  system.bottomLeftCorner(d, d) = std::sqrt(alpha) * Eigen::MatrixXd::Identity(d, d);
  Eigen::VectorXd rhs = Eigen::VectorXd::Zero(n + d);
  rhs.head(n) = data.label;
  return system.colPivHouseholderQr().solve(rhs); // [w; b]
}

} // namespace sluice::testing_support
