// predict_lake: apply a published snapshot to every partition of a lake, writing predictions.
#pragma once

#include "sluice/lake/catalog.hpp"
#include "sluice/mpi/communicator.hpp"
#include "sluice/snapshot/snapshot.hpp"

#include <cstdint>
#include <filesystem>

namespace sluice::coordinator {

struct PredictOptions {
  lake::LakeQuery lake;
  std::string group = "/";        ///< the group holding the columns (the model's own by default)
  std::filesystem::path output;   ///< predictions mirror the lake's relative paths under here
  std::int64_t block_rows = 16384;
};

struct PredictResult {
  std::int64_t num_rows = 0;
  std::int64_t num_partitions = 0;
};

/// Collective. Each rank takes a strided share of the partitions, reads the snapshot's feature
/// columns block by block through the same reader as training (select + cast to float64), scores
/// them with the snapshot's model and writes OUTPUT/<relative path> holding one float64 dataset
/// per model output (ridge: `prediction`; logistic: `probability`, `class`; k-means: `cluster`,
/// `distance`; PCA: `pc0`…). Each output file is written under a temporary name and renamed when
/// complete. Failures are agreed on by all ranks.
PredictResult predict_lake(const mpi::Communicator& comm, const snapshot::Snapshot& model,
                           const PredictOptions& options);

} // namespace sluice::coordinator
