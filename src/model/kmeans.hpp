// k-means: k-means‖ initialisation in passes, then Lloyd passes; scoring gives the nearest centre.
#pragma once

#include "sluice/job/job_spec.hpp"
#include "sluice/model/trainer.hpp"

#include <Eigen/Core>

#include <chrono>
#include <optional>

namespace sluice::model {

/// The hyper-parameters, as the job gave them (oversampling already defaulted to 2·k).
struct KMeansOptions {
  std::int64_t k = 1;
  double tol = 1e-4;
  std::int64_t max_iter = 300;
  std::int64_t seed = 0;
  std::int64_t init_rounds = 5;
  std::int64_t oversampling = 2;
};

/// k centres; a row's cluster is its nearest centre (ties: the lowest index).
class KMeansModel final : public FittedModel {
public:
  KMeansModel(std::vector<std::string> features, Eigen::MatrixXd centers,
              Eigen::MatrixXd initial_centers, Eigen::VectorXd cluster_sizes,
              KMeansOptions options);
  static std::shared_ptr<const KMeansModel> load(const std::vector<std::string>& features,
                                                 const ParameterReader& reader);

  std::string_view kind() const override { return "kmeans"; }
  const std::vector<std::string>& features() const override { return features_; }
  std::vector<std::string> outputs() const override { return {"cluster", "distance"}; }
  /// Writes the cluster index (as a double) and the Euclidean distance to its centre; a row
  /// with a non-finite value gets NaN in both.
  void score(const double* in, std::int64_t in_ld, std::int64_t rows, double* out,
             std::int64_t out_ld) const override;
  void save(ParameterWriter& writer) const override;
  std::string describe() const override;

  const Eigen::MatrixXd& centers() const noexcept { return centers_; }                 ///< k × d
  const Eigen::MatrixXd& initial_centers() const noexcept { return initial_centers_; } ///< k × d
  const Eigen::VectorXd& cluster_sizes() const noexcept { return cluster_sizes_; }
  const KMeansOptions& options() const noexcept { return options_; }

private:
  std::vector<std::string> features_;
  Eigen::MatrixXd centers_;
  Eigen::MatrixXd initial_centers_;
  Eigen::VectorXd cluster_sizes_;
  KMeansOptions options_;
};

/// Passes: "init sample" (moments, first candidate), "init round 1..R" (k-means‖ sampling),
/// "init weights", then (in update) weighted k-means++ and Lloyd on the candidates, "lloyd 1..",
/// and "evaluate" (inertia and sizes at the final centres). Partial layouts are in kmeans.cpp.
class KMeansTrainer final : public Trainer {
public:
  /// Reads model.k (required), tol, max_iter, seed, init_rounds and oversampling.
  explicit KMeansTrainer(const job::ModelSpec& spec);

  std::string_view kind() const override { return "kmeans"; }
  const std::vector<std::string>& columns() const override { return features_; }
  bool is_iterative() const override { return true; }
  std::string pass_name() const override;
  std::unique_ptr<PartialAccumulator>
  make_accumulator(const PartitionKey& partition, const AccumulatorOptions& options) const override;
  void merge(Partial& into, const Partial& from) const override;
  bool update(const Partial& merged) override;
  std::shared_ptr<const FittedModel> model() const override { return model_; }
  Metrics metrics() const override;
  History history() const override { return history_; }
  /// The previous centres replace the k-means‖ initialisation: after the sample pass (which
  /// also sets the tolerance) Lloyd's iterations start from them. The first pass is unchanged.
  bool warm_start(const FittedModel& previous) override;

private:
  enum class Phase { sample, round, weights, lloyd, evaluate, done };

  std::size_t partial_size() const;
  /// Throws std::logic_error unless the partial has the current pass's size.
  void check_size(const Partial& partial) const;
  void update_sample(const Partial& merged);
  void update_round(const Partial& merged);
  void update_weights(const Partial& merged);
  void update_lloyd(const Partial& merged, double seconds);
  void update_evaluate(const Partial& merged);

  std::vector<std::string> features_;
  Eigen::Index num_features_;
  KMeansOptions options_;
  Phase phase_ = Phase::sample;
  std::uint64_t pass_ = 0;
  std::int64_t round_ = 0;     ///< current k-means‖ round, 1-based
  std::int64_t iteration_ = 0; ///< current Lloyd pass, 1-based
  std::int64_t num_rows_ = 0;
  double tolerance_ = 0.0; ///< tol × the mean per-feature variance
  /// What the current pass measures against: candidates while initialising, then centres.
  std::shared_ptr<const Eigen::MatrixXd> reference_;
  Eigen::MatrixXd initial_centers_;
  std::optional<Eigen::MatrixXd> warm_centers_; ///< the previous model's centres, if warm
  double inertia_ = 0.0;
  bool is_converged_ = false;
  History history_{{"iteration", "inertia", "shift", "seconds"}, {}};
  std::chrono::steady_clock::time_point pass_start_;
  std::shared_ptr<const KMeansModel> model_;
};

} // namespace sluice::model
