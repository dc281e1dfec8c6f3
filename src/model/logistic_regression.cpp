// Logistic regression on the engine: Newton passes of loss, gradient and Hessian at one point,
// then one root-only pass of sorted margins for the exact AUC.
#include "logistic_regression.hpp"

#include "sluice/model/parameter_map.hpp"

#include "tiled_accumulator.hpp"

#include "sluice/error.hpp"
#include "sluice/model/gram.hpp"

#include <Eigen/Cholesky>
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <utility>

namespace sluice::model {
namespace {

constexpr double armijo = 1e-4;    // sufficient-decrease constant of the line search
constexpr double min_step = 1e-10; // ~33 halvings: past this the objective is flat to rounding
constexpr double singular_rcond = 1e-13;

// Stable forms: no overflow and no log(0) for any finite margin (|m| ~ 1e4 included).
double sigmoid(double m) {
  if (m >= 0) return 1.0 / (1.0 + std::exp(-m));
  const double e = std::exp(m);
  return e / (1.0 + e);
}

// log(1 + e^{−z}), z the margin signed towards the true class.
// Σ term(a_i, b_i) in 16 interleaved lanes (lane = i mod 16) combined pairwise in a fixed order:
// independent sums the compiler keeps in vector registers, where one running sum would wait on
// every add. The order depends only on n, never on addresses, so the bits are reproducible.
template <typename Term>
double lane_sum(const double* a, const double* b, Eigen::Index n, Term term) {
  constexpr Eigen::Index lanes = 16;
  double lane[lanes] = {};
  Eigen::Index i = 0;
  for (; i + lanes <= n; i += lanes) {
    for (Eigen::Index l = 0; l < lanes; ++l) lane[l] += term(a[i + l], b[i + l]);
  }
  for (Eigen::Index l = 0; i < n; ++i, ++l) lane[l] += term(a[i], b[i]);
  for (Eigen::Index width = lanes / 2; width > 0; width /= 2) {
    for (Eigen::Index l = 0; l < width; ++l) lane[l] = lane[l] + lane[l + width];
  }
  return lane[0];
}


// m_i = b + Σ_j x_ij w_j with rows innermost: it vectorises across rows, and each row's sum runs
// in j order whatever the addresses (Eigen's GEMV may block differently with alignment).
void margins(const double* x, std::int64_t ld, std::int64_t rows, const double* w, Eigen::Index d,
             double b, double* out) {
  std::fill(out, out + rows, b);
  // Four columns per sweep over the rows: each row still adds its terms in feature order, but its
  // running sum is loaded and stored once per four features instead of once per feature.
  Eigen::Index j = 0;
  for (; j + 4 <= d; j += 4) {
    const double* c0 = x + j * ld;
    const double* c1 = c0 + ld;
    const double* c2 = c1 + ld;
    const double* c3 = c2 + ld;
    for (std::int64_t i = 0; i < rows; ++i) {
      double sum = out[i];
      sum += c0[i] * w[j];
      sum += c1[i] * w[j + 1];
      sum += c2[i] * w[j + 2];
      sum += c3[i] * w[j + 3];
      out[i] = sum;
    }
  }
  for (; j < d; ++j) {
    const double* column = x + j * ld;
    for (std::int64_t i = 0; i < rows; ++i) out[i] += column[i] * w[j];
  }
}

std::size_t newton_size(Eigen::Index d) {
  const auto k = static_cast<std::size_t>(d + 1);
  return 3 + k + k * (k + 1) / 2;
}

// The first label that is neither 0 nor 1. compute_tile runs on OpenMP threads, where a throw
// would terminate the process, so it is recorded there and thrown from finish().
struct BadLabel {
  std::int64_t row = -1;
  double value = 0.0;
};

void check_labels(const FiniteRows& rows, const double* y, BadLabel& bad) {
  bad = {};
  for (Eigen::Index i = 0; i < rows.rows.rows(); ++i) {
    if (y[i] != 0.0 && y[i] != 1.0) {
      bad = {rows.row_number(i), y[i]};
      return;
    }
  }
}

void throw_if_bad(const std::string& label, const BadLabel& bad) {
  if (bad.row < 0) return;
  throw DataError(fmt::format("label column '{}' holds {} at row {}; kind 'logistic' needs 0 or 1",
                              label, bad.value, bad.row));
}

// Loss, correct count, gradient and Hessian at one point [w; b].
class NewtonKernel {
public:
  struct State {
    double num_rows = 0.0;
    double loss = 0.0;
    double num_correct = 0.0;
    Eigen::VectorXd gradient; // d + 1
    Eigen::MatrixXd hessian;  // (d + 1)², lower triangle
    BadLabel bad;
    // Scratch, reused from block to block.
    Eigen::VectorXd margin;
    Eigen::VectorXd residual;
    Eigen::VectorXd column_sums;
    Eigen::MatrixXd scaled; // √(p(1−p))·[x 1]
  };

  NewtonKernel(Eigen::VectorXd point, std::string label)
      : point_(std::move(point)), label_(std::move(label)),
        total_(newton_size(point_.size() - 1), 0.0) {}

  State make_state() const {
    const Eigen::Index k = point_.size();
    State state;
    state.gradient = Eigen::VectorXd::Zero(k);
    state.hessian = Eigen::MatrixXd::Zero(k, k);
    state.column_sums.resize(k);
    return state;
  }

  void compute(const FiniteRows& rows, State& state) const {
    const Eigen::Index n = rows.rows.rows();
    const Eigen::Index k = point_.size();
    const Eigen::Index d = k - 1;
    const double* x = rows.rows.data();
    const std::int64_t ld = rows.rows.outerStride();
    const double* y = x + d * ld;
    check_labels(rows, y, state.bad);
    state.margin.resize(n);
    state.residual.resize(n);
    state.scaled.resize(n, k);
    margins(x, ld, n, point_.data(), d, point_(d), state.margin.data());
    state.num_rows = static_cast<double>(n);
    state.loss = 0.0;
    state.num_correct = 0.0;
    for (Eigen::Index i = 0; i < n; ++i) {
      const double m = state.margin(i);
      const bool is_positive = y[i] == 1.0;
      // One exponential serves the probability, the loss and the weight: e = e^{−|m|} ∈ (0, 1],
      // so nothing overflows and 1 − p never cancels.
      const double e = std::exp(-std::abs(m));
      const double p = m >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
      const double z = is_positive ? m : -m; // log(1 + e^{−z}) = max(−z, 0) + log1p(e^{−|z|})
      state.loss += std::max(-z, 0.0) + std::log1p(e);
      state.num_correct += (p >= 0.5) == is_positive ? 1.0 : 0.0;
      state.residual(i) = p - y[i];
      state.scaled(i, d) = std::sqrt(e) / (1.0 + e); // √(p(1−p))
    }
    const double* residual = state.residual.data();
    const double* weight = state.scaled.col(d).data();
    state.gradient(d) = lane_sum(residual, residual, n, [](double a, double) { return a; });
    for (Eigen::Index j = 0; j < d; ++j) {
      const double* column = x + j * ld;
      state.gradient(j) = lane_sum(residual, column, n, [](double a, double b) { return a * b; });
      double* scaled = state.scaled.col(j).data();
      for (Eigen::Index i = 0; i < n; ++i) scaled[i] = column[i] * weight[i];
    }
    if (n == 0) {
      state.hessian.setZero();
    } else {
      gram_lower(state.scaled.data(), n, n, k, state.hessian.data(), k, state.column_sums.data());
    }
  }

  void clear(State& state) const {
    state.num_rows = state.loss = state.num_correct = 0.0;
    state.gradient.setZero();
    state.hessian.setZero();
    state.bad = {};
  }

  void fold(const State& state) {
    if (first_bad_.row < 0) first_bad_ = state.bad;
    total_[0] += state.num_rows;
    total_[1] += state.loss;
    total_[2] += state.num_correct;
    const Eigen::Index k = point_.size();
    std::size_t at = 3;
    for (Eigen::Index j = 0; j < k; ++j) total_[at++] += state.gradient(j);
    for (Eigen::Index c = 0; c < k; ++c) {
      for (Eigen::Index r = c; r < k; ++r) total_[at++] += state.hessian(r, c);
    }
  }

  Partial finish() {
    throw_if_bad(label_, first_bad_);
    return std::move(total_);
  }

private:
  Eigen::VectorXd point_;
  std::string label_;
  Partial total_;
  BadLabel first_bad_;
};

// Every row's (margin, is positive) at the final point, sorted and counted per distinct margin.
class EvaluateKernel {
public:
  struct State {
    std::vector<std::pair<double, bool>> rows;
    BadLabel bad;
    Eigen::VectorXd margin; // scratch
  };

  EvaluateKernel(Eigen::VectorXd point, std::string label)
      : point_(std::move(point)), label_(std::move(label)) {}

  State make_state() const { return {}; }

  void compute(const FiniteRows& rows, State& state) const {
    const Eigen::Index n = rows.rows.rows();
    const Eigen::Index d = point_.size() - 1;
    const double* x = rows.rows.data();
    const std::int64_t ld = rows.rows.outerStride();
    const double* y = x + d * ld;
    check_labels(rows, y, state.bad);
    state.margin.resize(n);
    margins(x, ld, n, point_.data(), d, point_(d), state.margin.data());
    state.rows.clear();
    for (Eigen::Index i = 0; i < n; ++i) state.rows.emplace_back(state.margin(i), y[i] == 1.0);
  }

  void clear(State& state) const {
    state.rows.clear();
    state.bad = {};
  }

  void fold(const State& state) {
    if (first_bad_.row < 0) first_bad_ = state.bad;
    rows_.insert(rows_.end(), state.rows.begin(), state.rows.end());
  }

  Partial finish() {
    throw_if_bad(label_, first_bad_);
    std::sort(rows_.begin(), rows_.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    Partial partial{static_cast<double>(rows_.size()), 0.0, 0.0};
    for (const auto& [margin, is_positive] : rows_) {
      if (partial.size() == 3 || partial[partial.size() - 3] != margin) {
        partial.insert(partial.end(), {margin, 0.0, 0.0});
      }
      partial[is_positive ? 1 : 2] += 1.0;
      partial[partial.size() - (is_positive ? 2 : 1)] += 1.0;
    }
    return partial;
  }

private:
  Eigen::VectorXd point_;
  std::string label_;
  std::vector<std::pair<double, bool>> rows_;
  BadLabel first_bad_;
};

// Sums the heads and merges the margin-sorted triples, combining equal margins.
void merge_margins(Partial& into, const Partial& from) {
  Partial out{into[0] + from[0], into[1] + from[1], into[2] + from[2]};
  out.reserve(into.size() + from.size() - 3);
  std::size_t a = 3;
  std::size_t b = 3;
  while (a < into.size() || b < from.size()) {
    if (b == from.size() || (a < into.size() && into[a] < from[b])) {
      out.insert(out.end(), into.begin() + static_cast<std::ptrdiff_t>(a),
                 into.begin() + static_cast<std::ptrdiff_t>(a + 3));
      a += 3;
    } else if (a == into.size() || from[b] < into[a]) {
      out.insert(out.end(), from.begin() + static_cast<std::ptrdiff_t>(b),
                 from.begin() + static_cast<std::ptrdiff_t>(b + 3));
      b += 3;
    } else {
      out.insert(out.end(), {into[a], into[a + 1] + from[b + 1], into[a + 2] + from[b + 2]});
      a += 3;
      b += 3;
    }
  }
  into = std::move(out);
}

} // namespace

void LogisticModel::score(const double* in, std::int64_t in_ld, std::int64_t rows, double* out,
                          std::int64_t out_ld) const {
  double* probability = out;
  double* predicted = out + out_ld;
  margins(in, in_ld, rows, coefficients_.data(), coefficients_.size(), intercept_, probability);
  for (std::int64_t i = 0; i < rows; ++i) {
    probability[i] = sigmoid(probability[i]);
    predicted[i] = probability[i] >= 0.5 ? 1.0 : 0.0;
  }
}

void LogisticModel::save(ParameterWriter& writer) const {
  writer.vector("coefficients", coefficients_);
  writer.scalar("intercept", intercept_);
  writer.scalar("C", options_.C);
  writer.integer("fit_intercept", options_.fit_intercept ? 1 : 0);
  writer.scalar("tol", options_.tol);
  writer.integer("max_iter", options_.max_iter);
}

std::shared_ptr<const LogisticModel> LogisticModel::load(const std::vector<std::string>& features,
                                                         const ParameterReader& reader) {
  const auto d = static_cast<Eigen::Index>(features.size());
  return std::make_shared<LogisticModel>(
      features, reader.vector("coefficients", d), reader.scalar("intercept"),
      Options{.C = reader.scalar("C"),
              .tol = reader.scalar("tol"),
              .max_iter = reader.integer("max_iter"),
              .fit_intercept = reader.integer("fit_intercept") != 0});
}

std::string LogisticModel::describe() const {
  return fmt::format("C={}, fit_intercept={}", options_.C, options_.fit_intercept);
}

LogisticRegressionTrainer::LogisticRegressionTrainer(const job::ModelSpec& spec)
    : features_(spec.features), columns_(spec.features) {
  job::ModelParams params = spec.params;
  if (spec.label.empty()) params.fail("label", "is missing (kind = 'logistic' needs one)");
  columns_.push_back(spec.label);
  options_.C = params.number("C").value_or(1.0);
  if (!std::isfinite(options_.C) || options_.C <= 0) params.fail("C", "must be a finite number > 0");
  options_.tol = params.number("tol").value_or(1e-8);
  if (!std::isfinite(options_.tol) || options_.tol <= 0) {
    params.fail("tol", "must be a finite number > 0");
  }
  options_.max_iter = params.integer("max_iter").value_or(100);
  if (options_.max_iter < 1) {
    params.fail("max_iter", fmt::format("must be an integer >= 1, got {}", options_.max_iter));
  }
  options_.fit_intercept = params.boolean("fit_intercept").value_or(true);
  is_no_convergence_allowed_ = params.boolean("allow_no_convergence").value_or(false);
  params.refuse_unknown_keys();

  const auto k = static_cast<Eigen::Index>(features_.size()) + 1;
  point_ = base_ = direction_ = base_gradient_ = Eigen::VectorXd::Zero(k);
  history_.columns = {"iteration", "objective", "gradient_norm", "step", "seconds"};
  last_update_ = std::chrono::steady_clock::now();
}

bool LogisticRegressionTrainer::warm_start(const FittedModel& previous) {
  if (previous.kind() != kind() || previous.features() != features_ || iterations_ > 0) return false;
  ParameterMap parameters;
  previous.save(parameters);
  const Eigen::VectorXd coefficients = parameters.vector("coefficients");
  const auto d = static_cast<Eigen::Index>(features_.size());
  if (coefficients.size() != d || !coefficients.allFinite()) return false;
  point_.head(d) = coefficients;
  point_(d) = options_.fit_intercept ? parameters.scalar("intercept") : 0.0;
  if (!std::isfinite(point_(d))) return false;
  warm_signature_.clear();
  for (Eigen::Index i = 0; i <= d; ++i) {
    warm_signature_ += fmt::format("{:016x}", std::bit_cast<std::uint64_t>(point_(i)));
  }
  return true;
}

std::string LogisticRegressionTrainer::pass_name() const {
  return phase_ == Phase::newton ? fmt::format("newton {}", iterations_) : "evaluate";
}

std::unique_ptr<PartialAccumulator> LogisticRegressionTrainer::make_accumulator(
    const PartitionKey&, const AccumulatorOptions& options) const {
  const auto num_columns = static_cast<Eigen::Index>(columns_.size());
  if (phase_ == Phase::newton) {
    return std::make_unique<TiledAccumulator<NewtonKernel>>(NewtonKernel(point_, columns_.back()),
                                                            num_columns, options);
  }
  return std::make_unique<TiledAccumulator<EvaluateKernel>>(EvaluateKernel(point_, columns_.back()),
                                                            num_columns, options);
}

void LogisticRegressionTrainer::merge(Partial& into, const Partial& from) const {
  if (phase_ != Phase::newton) return merge_margins(into, from);
  for (std::size_t i = 0; i < into.size(); ++i) into[i] += from[i];
}

bool LogisticRegressionTrainer::update(const Partial& merged) {
  switch (phase_) {
  case Phase::newton: return update_newton(merged);
  case Phase::evaluate:
    // Only the root gets the merged margins; the other ranks see an empty partial.
    if (!merged.empty()) update_auc(merged);
    phase_ = Phase::done;
    return false;
  case Phase::done: break;
  }
  return false;
}

void LogisticRegressionTrainer::set_point() { point_ = base_ + step_ * direction_; }

bool LogisticRegressionTrainer::update_newton(const Partial& merged) {
  if (merged.empty() || merged[0] == 0.0) throw DataError("the selected partitions hold no usable rows");
  const auto d = static_cast<Eigen::Index>(features_.size());
  const Eigen::Index k = d + 1;
  const double n = merged[0];
  const double C = options_.C;
  const Eigen::VectorXd w = point_.head(d);
  if (!has_base_) {
    // At the start (w = 0, b = 0) every p is exactly ½, so the intercept's gradient Σ(½ − y) is
    // exact and tells how many rows are positive. One class alone has no finite optimum.
    const double num_positive = 0.5 * n - merged[3 + static_cast<std::size_t>(d)];
    if (num_positive == 0.0 || num_positive == n) {
      throw DataError(fmt::format(
          "label column '{}' holds only {}s in the {} usable rows: logistic regression needs rows "
          "of both classes",
          columns_.back(), num_positive == 0.0 ? 0 : 1, n));
    }
  }

  // The full objective loss + ‖w‖²/(2C): scikit-learn's divided by C.
  const double objective = merged[1] + w.squaredNorm() / (2.0 * C);
  Eigen::VectorXd gradient = Eigen::Map<const Eigen::VectorXd>(merged.data() + 3, k);
  gradient.head(d) += w / C;
  if (!options_.fit_intercept) gradient(d) = 0.0; // b is held at 0, not a free variable
  const double gradient_norm = gradient.cwiseAbs().maxCoeff() / n;

  const auto now = std::chrono::steady_clock::now();
  history_.rows.push_back({static_cast<double>(iterations_), objective, gradient_norm, step_,
                           std::chrono::duration<double>(now - last_update_).count()});
  last_update_ = now;

  if (has_base_) {
    // Armijo, or (as scikit-learn's Newton solvers) a change below rounding of the objective with
    // a smaller gradient: near the optimum the decrease is lost in the sum's rounding. A NaN
    // objective fails both tests and halves the step.
    const bool is_sufficient = objective <= base_objective_ + armijo * step_ * slope_;
    const bool is_flat_but_better =
        std::abs(objective - base_objective_) <=
            16 * std::numeric_limits<double>::epsilon() * std::abs(base_objective_) &&
        gradient.lpNorm<1>() < base_gradient_.lpNorm<1>();
    if (!is_sufficient && !is_flat_but_better) {
      step_ /= 2;
      if (step_ < min_step) {
        throw NumericalError(fmt::format(
            "logistic regression: the line search of iteration {} found no decrease (gradient "
            "norm {:.3e}); rounding limits the fit, raise model.tol",
            iterations_, base_gradient_.cwiseAbs().maxCoeff() / num_rows_));
      }
      set_point();
      return true;
    }
  }
  has_base_ = true;
  base_ = point_;
  base_objective_ = objective;
  base_gradient_ = gradient;
  num_rows_ = n;
  loss_sum_ = merged[1];
  num_correct_ = merged[2];

  if (gradient_norm <= options_.tol) {
    phase_ = Phase::evaluate;
    return true;
  }
  if (iterations_ >= options_.max_iter) {
    if (!is_no_convergence_allowed_) {
      throw NumericalError(fmt::format(
          "logistic regression did not converge in {} iterations (gradient norm {:.3e} > tol "
          "{:.3e}); raise model.max_iter or set model.allow_no_convergence = true",
          iterations_, gradient_norm, options_.tol));
    }
    phase_ = Phase::evaluate;
    return true;
  }

  // The Hessian, from its packed lower triangle, plus the penalty; without an intercept only the
  // feature block is solved.
  Eigen::MatrixXd hessian = Eigen::MatrixXd::Zero(k, k);
  std::size_t at = 3 + static_cast<std::size_t>(k);
  for (Eigen::Index c = 0; c < k; ++c) {
    for (Eigen::Index r = c; r < k; ++r) hessian(r, c) = merged[at++];
  }
  hessian.diagonal().head(d).array() += 1.0 / C;
  const Eigen::Index m = options_.fit_intercept ? k : d;
  const Eigen::MatrixXd system = hessian.topLeftCorner(m, m).selfadjointView<Eigen::Lower>();
  // Jacobi scaling makes the solve and the singularity test independent of the features' units.
  const Eigen::VectorXd scale = system.diagonal().array().sqrt().inverse();
  Eigen::LDLT<Eigen::MatrixXd> ldlt;
  bool is_regular = scale.allFinite();
  if (is_regular) {
    ldlt.compute(scale.asDiagonal() * system * scale.asDiagonal());
    const Eigen::VectorXd pivots = ldlt.vectorD();
    // Written so that a NaN counts as singular.
    is_regular = ldlt.info() == Eigen::Success && ldlt.isPositive() &&
                 ldlt.rcond() >= singular_rcond &&
                 pivots.minCoeff() / pivots.maxCoeff() >= singular_rcond;
  }
  ++iterations_;
  if (!is_regular) {
    throw NumericalError(fmt::format(
        "logistic regression: the Hessian is singular or indefinite at Newton iteration {} "
        "(every row may be classified with near certainty); lower model.C",
        iterations_));
  }
  direction_.setZero();
  direction_.head(m) = -(scale.asDiagonal() * ldlt.solve(scale.asDiagonal() * gradient.head(m)));
  slope_ = gradient.dot(direction_);
  step_ = 1.0;
  set_point();
  return true;
}

void LogisticRegressionTrainer::update_auc(const Partial& merged) {
  // Ascending margins: each positive outranks the negatives below it and ties with those at its
  // margin, which count ½.
  double negatives_below = 0.0;
  double pairs = 0.0;
  for (std::size_t t = 3; t + 2 < merged.size(); t += 3) {
    pairs += merged[t + 1] * (negatives_below + 0.5 * merged[t + 2]);
    negatives_below += merged[t + 2];
  }
  const double positives = merged[1];
  const double negatives = merged[2];
  auc_ = positives > 0 && negatives > 0 ? pairs / (positives * negatives)
                                        : std::numeric_limits<double>::quiet_NaN();
}

std::shared_ptr<const FittedModel> LogisticRegressionTrainer::model() const {
  const auto d = static_cast<Eigen::Index>(features_.size());
  return std::make_shared<LogisticModel>(features_, base_.head(d), base_(d), options_);
}

Metrics LogisticRegressionTrainer::metrics() const {
  return {{"log_loss", loss_sum_ / num_rows_},
          {"accuracy", num_correct_ / num_rows_},
          {"auc", auc_},
          {"iterations", static_cast<double>(iterations_)},
          {"num_rows", num_rows_}};
}

} // namespace sluice::model
