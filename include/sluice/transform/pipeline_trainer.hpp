// PipelineTrainer: a job's pipeline and model as one engine plug-in. Its passes fit the
// pipeline's stateful steps, then train the model on the pipeline's output, then (with a split)
// score the validation rows; every pass reads raw columns and applies the fitted part.
#pragma once

#include "sluice/job/job_spec.hpp"
#include "sluice/model/trainer.hpp"
#include "sluice/transform/pipeline.hpp"

#include <memory>
#include <string>
#include <vector>

namespace sluice::transform {

class PipelineTrainer final : public model::Trainer {
public:
  /// `model` as the job gave it; its features may name one_hot-encoded columns, which expand to
  /// their indicators once the categories are fitted. The model's keys are validated here.
  PipelineTrainer(Pipeline pipeline, job::ModelSpec model);
  ~PipelineTrainer() override;

  std::string_view kind() const override;
  const std::vector<std::string>& columns() const override { return raw_inputs_; }
  std::string report_column(std::int64_t index) const override;
  bool is_iterative() const override;
  std::string pass_name() const override;
  bool is_root_only_pass() const override;
  std::unique_ptr<model::PartialAccumulator> make_accumulator(
      const model::PartitionKey& partition, const model::AccumulatorOptions& options) const override;
  void merge(model::Partial& into, const model::Partial& from) const override;
  bool update(const model::Partial& merged) override;
  std::shared_ptr<const model::FittedModel> model() const override;
  model::Metrics metrics() const override;
  model::History history() const override;
  const model::SufficientStats* statistics() const override;

  const Pipeline& pipeline() const noexcept { return pipeline_; }
  /// What each pass fitted or trained, for the run report (one entry per finished pass).
  const std::vector<std::string>& pass_notes() const noexcept { return pass_notes_; }

private:
  enum class Phase { fit, model, validate, done };
  void start_model();
  int find_mergeable_scalers() const;
  bool is_scaler_pending() const;
  void fit_scalers_from_statistics(model::Partial& statistics);

  Pipeline pipeline_;
  job::ModelSpec spec_;
  std::vector<std::string> raw_inputs_;
  Phase phase_ = Phase::fit;
  int fit_pass_ = 0;
  /// The last fit pass when it holds only standard scalers of model features that a ridge, OLS
  /// or PCA model reads: they are fitted from the model's own statistics (means and co-moments)
  /// in the model's first pass instead of a pass of their own; -1 otherwise.
  int merged_scaler_pass_ = -1;
  int fit_passes_to_run_ = 0;
  std::unique_ptr<model::Trainer> inner_;
  std::vector<int> model_slots_;      // pipeline columns in the inner trainer's column order
  std::size_t num_counts_ = 0;        // row counters leading a model pass's partial
  model::Metrics validation_metrics_;
  std::vector<std::string> pass_notes_;
};

} // namespace sluice::transform
