// k-means as engine passes: random choices keyed by (seed, pass, partition, row) and sums in tile
// order, so the centres have the same bits for any rank or thread count and any block size that is
// a multiple of the tile rows (other block sizes move tile edges, and sums by an ulp or so).
#include "kmeans.hpp"

#include "sluice/model/parameter_map.hpp"

#include "counter_random.hpp"
#include "tiled_accumulator.hpp"

#include "sluice/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <type_traits>
#include <cfloat>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <stdexcept>

namespace sluice::model {
namespace {

// Partial layouts, d features, L = oversampling, C candidates, k centres. A top list of capacity
// M is [count, M records] (zero padded), a record [key, hash_hi, hash_lo, row, label, point(d)]:
//   init sample   [n, mean(d), M2(d), top list(1)]                        key u
//   init round r  [top list(L)]                                           key log(u) / D²
//   init weights  [count(C)]
//   lloyd N       [count(k), sum(k × d, row-major), inertia, top list(k)]  key D², label = cluster
//   evaluate      [count(k), inertia]

constexpr std::int64_t max_clusters = 1'000'000;
constexpr std::size_t record_header = 5;
// Marks a row that must not enter a top list. Only ever in scratch, never in a partial.
constexpr double not_eligible = -std::numeric_limits<double>::infinity();

using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

ConstTile tile_of(const Eigen::MatrixXd& points) {
  return ConstTile(points.data(), points.rows(), points.cols(),
                   Eigen::OuterStride<>(points.rows()));
}

struct Nearest {
  std::vector<double> distance; // squared, to the nearest centre
  std::vector<Eigen::Index> label;
  std::vector<double> scratch;
};

// Each row's squared distance is summed over the features in index order, so its bits depend on
// neither address nor alignment (a GEMM would block and reorder the sums). Rows go in groups of
// `lanes` held in registers while every centre and feature streams past them: the group's
// values stay in L1 and are reused by all centres. Strict < sends ties to the lowest centre.
void find_nearest(const ConstTile& x, const Eigen::MatrixXd& centers, Nearest& out) {
  constexpr std::size_t lanes = 8;
  const auto n = static_cast<std::size_t>(x.rows());
  const Eigen::Index d = x.cols();
  const Eigen::Index k = centers.rows();
  out.distance.assign(n, std::numeric_limits<double>::infinity());
  out.label.assign(n, 0);
  // Centres row-major, so the inner loops read them contiguously.
  out.scratch.resize(static_cast<std::size_t>(k * d));
  for (Eigen::Index c = 0; c < k; ++c) {
    for (Eigen::Index j = 0; j < d; ++j) out.scratch[static_cast<std::size_t>(c * d + j)] = centers(c, j);
  }
  const double* center_values = out.scratch.data();
  const auto ld = static_cast<std::size_t>(x.outerStride());
  // Centres go `block` at a time: independent sums let the FMAs overlap instead of waiting on
  // one another, and each loaded group of rows serves every centre of the block.
  const auto nearest_of = [&](std::size_t first, auto width) {
    constexpr std::size_t w = decltype(width)::value;
    constexpr Eigen::Index block = 4;
    double best[w];
    Eigen::Index best_label[w];
    for (std::size_t l = 0; l < w; ++l) {
      best[l] = std::numeric_limits<double>::infinity();
      best_label[l] = 0;
    }
    const auto keep_nearer = [&](const double* sum, Eigen::Index c) {
      for (std::size_t l = 0; l < w; ++l) {
        if (sum[l] < best[l]) {
          best[l] = sum[l];
          best_label[l] = c;
        }
      }
    };
    Eigen::Index c = 0;
    for (; c + block <= k; c += block) {
      double sum[block][w] = {};
      const double* center = center_values + c * d;
      for (Eigen::Index j = 0; j < d; ++j) {
        const double* __restrict column = x.data() + static_cast<std::size_t>(j) * ld + first;
        for (Eigen::Index b = 0; b < block; ++b) {
          const double value = center[b * d + j];
#pragma omp simd
          for (std::size_t l = 0; l < w; ++l) {
            const double diff = column[l] - value;
            sum[b][l] += diff * diff;
          }
        }
      }
      for (Eigen::Index b = 0; b < block; ++b) keep_nearer(sum[b], c + b); // in centre order
    }
    for (; c < k; ++c) {
      double sum[w] = {};
      const double* center = center_values + c * d;
      for (Eigen::Index j = 0; j < d; ++j) {
        const double* __restrict column = x.data() + static_cast<std::size_t>(j) * ld + first;
        const double value = center[j];
#pragma omp simd
        for (std::size_t l = 0; l < w; ++l) {
          const double diff = column[l] - value;
          sum[l] += diff * diff;
        }
      }
      keep_nearer(sum, c);
    }
    for (std::size_t l = 0; l < w; ++l) {
      out.distance[first + l] = best[l];
      out.label[first + l] = best_label[l];
    }
  };
  std::size_t first = 0;
  for (; first + lanes <= n; first += lanes) nearest_of(first, std::integral_constant<std::size_t, lanes>{});
  for (; first < n; ++first) nearest_of(first, std::integral_constant<std::size_t, 1>{});
}

double squared_shift(const Eigen::MatrixXd& next, const Eigen::MatrixXd& old) {
  double shift = 0.0;
  for (Eigen::Index c = 0; c < old.rows(); ++c) {
    for (Eigen::Index j = 0; j < old.cols(); ++j) {
      shift += (next(c, j) - old(c, j)) * (next(c, j) - old(c, j));
    }
  }
  return shift;
}

// The best `capacity` records under a total order (key descending, then partition hash and row
// ascending), so the kept set is the same however tiles and partitions were grouped. Records are
// buffered up to twice the capacity and trimmed with nth_element: amortised O(1) per record.
class TopList {
public:
  static std::size_t partial_size(std::int64_t capacity, Eigen::Index num_features) {
    return 1 + static_cast<std::size_t>(capacity) *
                   (record_header + static_cast<std::size_t>(num_features));
  }

  TopList(std::int64_t capacity, Eigen::Index num_features)
      : capacity_(static_cast<std::size_t>(capacity)),
        width_(record_header + static_cast<std::size_t>(num_features)) {}

  void clear() { records_.clear(); }

  // A tile's rows with an eligible key; `labels` may be empty (label 0).
  void add_tile(const std::vector<double>& keys, const std::vector<Eigen::Index>& labels,
                const FiniteRows& rows, std::uint64_t hash) {
    order_.clear();
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] != not_eligible) order_.push_back(i);
    }
    // Within a tile the hash is shared and rows ascend with i, so (key, i) is the total order.
    const auto is_better_row = [&](std::size_t a, std::size_t b) {
      return keys[a] > keys[b] || (keys[a] == keys[b] && a < b);
    };
    if (order_.size() > capacity_) {
      std::nth_element(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(capacity_),
                       order_.end(), is_better_row);
      order_.resize(capacity_);
    }
    const std::size_t start = records_.size();
    records_.resize(start + order_.size() * width_);
    for (std::size_t t = 0; t < order_.size(); ++t) {
      const std::size_t i = order_[t];
      const auto row = static_cast<Eigen::Index>(i);
      double* record = records_.data() + start + t * width_;
      record[0] = keys[i];
      record[1] = static_cast<double>(hash >> 32);
      record[2] = static_cast<double>(hash & 0xffffffffULL);
      record[3] = static_cast<double>(rows.row_number(row));
      record[4] = labels.empty() ? 0.0 : static_cast<double>(labels[i]);
      for (std::size_t j = 0; j < width_ - record_header; ++j) {
        record[record_header + j] = rows.rows(row, static_cast<Eigen::Index>(j));
      }
    }
    trim_if_full();
  }

  void merge(const TopList& other) {
    records_.insert(records_.end(), other.records_.begin(), other.records_.end());
    trim_if_full();
  }

  // Appends the records of a partial written by write().
  void read(const double* in) {
    const auto count = static_cast<std::size_t>(in[0]);
    records_.insert(records_.end(), in + 1, in + 1 + count * width_);
    trim_if_full();
  }

  // The best records, best first, as [count, records, zero padding].
  void write(double* out) {
    trim(true);
    out[0] = static_cast<double>(size());
    std::copy(records_.begin(), records_.end(), out + 1);
    std::fill(out + 1 + records_.size(), out + 1 + capacity_ * width_, 0.0);
  }

private:
  std::size_t size() const { return records_.size() / width_; }

  static bool is_better(const double* a, const double* b) {
    for (int f = 0; f < 4; ++f) {
      if (a[f] != b[f]) return f == 0 ? a[f] > b[f] : a[f] < b[f];
    }
    return false;
  }

  void trim_if_full() {
    if (size() > 2 * capacity_) trim(false);
  }

  void trim(bool is_sorting) {
    order_.resize(size());
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    const auto by_record = [&](std::size_t a, std::size_t b) {
      return is_better(records_.data() + a * width_, records_.data() + b * width_);
    };
    if (order_.size() > capacity_) {
      std::nth_element(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(capacity_),
                       order_.end(), by_record);
      order_.resize(capacity_);
    }
    if (is_sorting) std::sort(order_.begin(), order_.end(), by_record);
    std::vector<double> kept(order_.size() * width_);
    for (std::size_t t = 0; t < order_.size(); ++t) {
      std::copy_n(records_.data() + order_[t] * width_, width_, kept.data() + t * width_);
    }
    records_.swap(kept);
  }

  std::size_t capacity_;
  std::size_t width_;
  std::vector<double> records_;
  std::vector<std::size_t> order_; // scratch
};

void merge_top(double* into, const double* from, std::int64_t capacity, Eigen::Index num_features) {
  TopList list(capacity, num_features);
  list.read(into);
  list.read(from);
  list.write(into);
}

// [n, mean(d), M2(d)] ⊕ the same: Chan et al.'s pairwise update, stable where Σx² − n·x̄²
// would cancel.
void merge_moments(double* into, const double* from, Eigen::Index d) {
  const double na = into[0];
  const double nb = from[0];
  if (nb == 0) return;
  if (na == 0) {
    std::copy_n(from, 1 + 2 * d, into);
    return;
  }
  const double n = na + nb;
  for (Eigen::Index j = 0; j < d; ++j) {
    const double delta = from[1 + j] - into[1 + j];
    into[1 + j] += delta * (nb / n);
    into[1 + d + j] += from[1 + d + j] + delta * delta * (na * nb / n);
  }
  into[0] = n;
}

// Pass 0: column moments (the tolerance's scale) and the row with the largest uniform key, a
// uniform choice of the first candidate.
class SampleKernel {
public:
  struct State {
    std::vector<double> moments;
    TopList best;
    std::vector<double> keys;
  };

  SampleKernel(Eigen::Index d, CounterRandom random, std::uint64_t hash)
      : d_(d), random_(random), hash_(hash), moments_(static_cast<std::size_t>(1 + 2 * d), 0.0),
        best_(1, d) {}

  State make_state() const { return {std::vector<double>(moments_.size()), TopList(1, d_), {}}; }

  void compute(const FiniteRows& rows, State& state) const {
    const Eigen::Index n = rows.rows.rows();
    clear(state);
    if (n == 0) return;
    state.moments[0] = static_cast<double>(n);
    for (Eigen::Index j = 0; j < d_; ++j) {
      const double* column = rows.rows.data() + j * rows.rows.outerStride();
      double sum = 0.0;
      for (Eigen::Index i = 0; i < n; ++i) sum += column[i];
      const double mean = sum / static_cast<double>(n);
      double m2 = 0.0;
      for (Eigen::Index i = 0; i < n; ++i) m2 += (column[i] - mean) * (column[i] - mean);
      state.moments[static_cast<std::size_t>(1 + j)] = mean;
      state.moments[static_cast<std::size_t>(1 + d_ + j)] = m2;
    }
    state.keys.resize(static_cast<std::size_t>(n));
    for (Eigen::Index i = 0; i < n; ++i) {
      state.keys[static_cast<std::size_t>(i)] =
          random_.uniform(static_cast<std::uint64_t>(rows.row_number(i)));
    }
    state.best.add_tile(state.keys, {}, rows, hash_);
  }

  void clear(State& state) const {
    std::fill(state.moments.begin(), state.moments.end(), 0.0);
    state.best.clear();
  }

  void fold(const State& state) {
    merge_moments(moments_.data(), state.moments.data(), d_);
    best_.merge(state.best);
  }

  Partial finish() {
    Partial partial(moments_.size() + TopList::partial_size(1, d_));
    std::copy(moments_.begin(), moments_.end(), partial.begin());
    best_.write(partial.data() + moments_.size());
    return partial;
  }

private:
  Eigen::Index d_;
  CounterRandom random_;
  std::uint64_t hash_;
  std::vector<double> moments_;
  TopList best_;
};

// A k-means‖ round: Efraimidis–Spirakis sampling without replacement, weight D² to the nearest
// candidate. A row at D² = 0 is never chosen; a key below -DBL_MAX (D² tiny) is clamped.
class RoundKernel {
public:
  struct State {
    TopList top;
    Nearest nearest;
    std::vector<double> keys;
  };

  RoundKernel(std::shared_ptr<const Eigen::MatrixXd> candidates, std::int64_t capacity,
              CounterRandom random, std::uint64_t hash)
      : candidates_(std::move(candidates)), capacity_(capacity), random_(random), hash_(hash),
        top_(capacity, candidates_->cols()) {}

  State make_state() const { return {TopList(capacity_, candidates_->cols()), {}, {}}; }

  void compute(const FiniteRows& rows, State& state) const {
    find_nearest(rows.rows, *candidates_, state.nearest);
    state.keys.resize(state.nearest.distance.size());
    for (std::size_t i = 0; i < state.keys.size(); ++i) {
      const double distance = state.nearest.distance[i];
      const double u = random_.uniform(
          static_cast<std::uint64_t>(rows.row_number(static_cast<Eigen::Index>(i))));
      state.keys[i] = distance > 0 ? std::max(std::log(u) / distance, -DBL_MAX) : not_eligible;
    }
    state.top.clear();
    state.top.add_tile(state.keys, {}, rows, hash_);
  }

  void clear(State& state) const { state.top.clear(); }
  void fold(const State& state) { top_.merge(state.top); }

  Partial finish() {
    Partial partial(TopList::partial_size(capacity_, candidates_->cols()));
    top_.write(partial.data());
    return partial;
  }

private:
  std::shared_ptr<const Eigen::MatrixXd> candidates_;
  std::int64_t capacity_;
  CounterRandom random_;
  std::uint64_t hash_;
  TopList top_;
};

// The rows nearest each candidate: the weights of the k-means++ that picks k of them.
class WeightsKernel {
public:
  struct State {
    Eigen::VectorXd counts;
    Nearest nearest;
  };

  explicit WeightsKernel(std::shared_ptr<const Eigen::MatrixXd> candidates)
      : candidates_(std::move(candidates)), counts_(Eigen::VectorXd::Zero(candidates_->rows())) {}

  State make_state() const { return {Eigen::VectorXd::Zero(candidates_->rows()), {}}; }

  void compute(const FiniteRows& rows, State& state) const {
    find_nearest(rows.rows, *candidates_, state.nearest);
    state.counts.setZero();
    for (const Eigen::Index label : state.nearest.label) state.counts(label) += 1.0;
  }

  void clear(State& state) const { state.counts.setZero(); }
  void fold(const State& state) { counts_ += state.counts; }
  Partial finish() { return Partial(counts_.data(), counts_.data() + counts_.size()); }

private:
  std::shared_ptr<const Eigen::MatrixXd> candidates_;
  Eigen::VectorXd counts_;
};

// A Lloyd pass (counts, sums, inertia, the k farthest rows for empty clusters) or, evaluating,
// only counts and inertia at the final centres.
class LloydKernel {
public:
  struct State {
    std::vector<double> counts;
    std::vector<double> sums; // k × d, row-major
    double inertia = 0.0;
    TopList farthest;
    Nearest nearest;
  };

  LloydKernel(std::shared_ptr<const Eigen::MatrixXd> centers, bool is_evaluating,
              std::uint64_t hash)
      : centers_(std::move(centers)), is_evaluating_(is_evaluating), hash_(hash),
        total_(make_state()) {}

  State make_state() const {
    const auto k = static_cast<std::size_t>(centers_->rows());
    const auto d = static_cast<std::size_t>(centers_->cols());
    return {std::vector<double>(k, 0.0),
            std::vector<double>(is_evaluating_ ? 0 : k * d, 0.0),
            0.0,
            TopList(centers_->rows(), centers_->cols()),
            {}};
  }

  void compute(const FiniteRows& rows, State& state) const {
    clear(state);
    find_nearest(rows.rows, *centers_, state.nearest);
    const std::vector<Eigen::Index>& label = state.nearest.label;
    for (std::size_t i = 0; i < label.size(); ++i) {
      state.counts[static_cast<std::size_t>(label[i])] += 1.0;
      state.inertia += state.nearest.distance[i];
    }
    if (is_evaluating_) return;
    const Eigen::Index d = centers_->cols();
    for (Eigen::Index j = 0; j < d; ++j) {
      const double* column = rows.rows.data() + j * rows.rows.outerStride();
      for (std::size_t i = 0; i < label.size(); ++i) {
        state.sums[static_cast<std::size_t>(label[i] * d + j)] += column[i];
      }
    }
    state.farthest.add_tile(state.nearest.distance, label, rows, hash_);
  }

  void clear(State& state) const {
    std::fill(state.counts.begin(), state.counts.end(), 0.0);
    std::fill(state.sums.begin(), state.sums.end(), 0.0);
    state.inertia = 0.0;
    state.farthest.clear();
  }

  void fold(const State& state) {
    for (std::size_t c = 0; c < state.counts.size(); ++c) total_.counts[c] += state.counts[c];
    for (std::size_t s = 0; s < state.sums.size(); ++s) total_.sums[s] += state.sums[s];
    total_.inertia += state.inertia;
    total_.farthest.merge(state.farthest);
  }

  Partial finish() {
    Partial partial = total_.counts;
    partial.insert(partial.end(), total_.sums.begin(), total_.sums.end());
    partial.push_back(total_.inertia);
    if (is_evaluating_) return partial;
    const std::size_t start = partial.size();
    partial.resize(start + TopList::partial_size(centers_->rows(), centers_->cols()));
    total_.farthest.write(partial.data() + start);
    return partial;
  }

private:
  std::shared_ptr<const Eigen::MatrixXd> centers_;
  bool is_evaluating_;
  std::uint64_t hash_;
  State total_;
};

struct Relocation {
  Eigen::Index from = 0; // the cluster the point leaves
  double weight = 1.0;
  Eigen::RowVectorXd point;
};

// Means of the clusters, after scikit-learn's relocation: the empty clusters (listed first), in
// index order, each take the next-farthest point from its assigned centre, which leaves its old
// cluster. A cluster still without weight keeps its old centre (scikit-learn leaves the stripped
// sum, a point near the origin, which helps nobody).
Eigen::MatrixXd next_centers(const Eigen::MatrixXd& old, Eigen::VectorXd counts,
                             Eigen::MatrixXd sums, const std::vector<Relocation>& farthest) {
  std::vector<Eigen::Index> empty;
  for (Eigen::Index c = 0; c < counts.size(); ++c) {
    if (counts(c) == 0) empty.push_back(c);
  }
  for (std::size_t e = 0; e < empty.size() && e < farthest.size(); ++e) {
    const Relocation& moved = farthest[e];
    sums.row(moved.from) -= moved.weight * moved.point;
    counts(moved.from) -= moved.weight;
    sums.row(empty[e]) = moved.weight * moved.point;
    counts(empty[e]) = moved.weight;
  }
  Eigen::MatrixXd centers = old;
  for (Eigen::Index c = 0; c < counts.size(); ++c) {
    if (counts(c) > 0) centers.row(c) = sums.row(c) / counts(c);
  }
  return centers;
}

Eigen::Index count_empty(const Eigen::VectorXd& counts) {
  return static_cast<Eigen::Index>((counts.array() == 0).count());
}

// Weighted k-means++ (scikit-learn's greedy variant: 2 + ln k trials per centre, keep the one
// that lowers the potential most). When every candidate already is a centre, the rest repeat
// candidates drawn by weight; Lloyd's relocation then handles the duplicates.
Eigen::MatrixXd plus_plus(const Eigen::MatrixXd& points, const Eigen::VectorXd& weights,
                          Eigen::Index k, const CounterRandom& random) {
  const Eigen::Index num_points = points.rows();
  std::uint64_t draw = 0;
  // numpy's searchsorted on the cumulative mass: the first point whose running sum passes u·total.
  const auto pick = [&](const std::vector<double>& mass) -> Eigen::Index {
    const double total = std::accumulate(mass.begin(), mass.end(), 0.0);
    if (!(total > 0)) return -1;
    const double target = random.uniform(draw++) * total;
    double running = 0.0;
    Eigen::Index last = -1;
    for (Eigen::Index i = 0; i < num_points; ++i) {
      if (mass[static_cast<std::size_t>(i)] <= 0) continue;
      running += mass[static_cast<std::size_t>(i)];
      last = i;
      if (running > target) return i;
    }
    return last;
  };
  const std::vector<double> weight(weights.data(), weights.data() + num_points);
  const ConstTile all = tile_of(points);
  Eigen::MatrixXd centers(k, points.cols());
  centers.row(0) = points.row(pick(weight));
  Nearest nearest;
  find_nearest(all, centers.topRows(1), nearest);
  std::vector<double> closest = nearest.distance;
  const int num_trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));
  std::vector<double> mass(weight.size());
  for (Eigen::Index c = 1; c < k; ++c) {
    for (std::size_t i = 0; i < mass.size(); ++i) mass[i] = weight[i] * closest[i];
    Eigen::Index best = -1;
    double best_potential = 0.0;
    std::vector<double> best_closest;
    for (int t = 0; t < num_trials; ++t) {
      const Eigen::Index trial = pick(mass);
      if (trial < 0) break;
      find_nearest(all, points.row(trial), nearest);
      double potential = 0.0;
      for (std::size_t i = 0; i < mass.size(); ++i) {
        nearest.distance[i] = std::min(nearest.distance[i], closest[i]);
        potential += weight[i] * nearest.distance[i];
      }
      if (best < 0 || potential < best_potential) {
        best = trial;
        best_potential = potential;
        best_closest = nearest.distance;
      }
    }
    if (best < 0) {
      best = pick(weight);
      best_closest = closest;
    }
    centers.row(c) = points.row(best);
    closest = std::move(best_closest);
  }
  return centers;
}

// Weighted Lloyd on the candidates, with the data passes' convergence rule and relocation.
Eigen::MatrixXd weighted_lloyd(const Eigen::MatrixXd& points, const Eigen::VectorXd& weights,
                               Eigen::MatrixXd centers, double tolerance, std::int64_t max_iter) {
  const Eigen::Index k = centers.rows();
  const Eigen::Index d = centers.cols();
  Nearest nearest;
  for (std::int64_t iteration = 0; iteration < max_iter; ++iteration) {
    find_nearest(tile_of(points), centers, nearest);
    Eigen::VectorXd counts = Eigen::VectorXd::Zero(k);
    Eigen::MatrixXd sums = Eigen::MatrixXd::Zero(k, d);
    for (Eigen::Index i = 0; i < points.rows(); ++i) {
      const Eigen::Index label = nearest.label[static_cast<std::size_t>(i)];
      counts(label) += weights(i);
      sums.row(label) += weights(i) * points.row(i);
    }
    std::vector<Relocation> farthest;
    if (const Eigen::Index num_empty = count_empty(counts); num_empty > 0) {
      std::vector<Eigen::Index> order(static_cast<std::size_t>(points.rows()));
      std::iota(order.begin(), order.end(), Eigen::Index{0});
      const auto is_farther = [&](Eigen::Index a, Eigen::Index b) {
        const double da = nearest.distance[static_cast<std::size_t>(a)];
        const double db = nearest.distance[static_cast<std::size_t>(b)];
        return da > db || (da == db && a < b);
      };
      const auto used = std::min<std::size_t>(static_cast<std::size_t>(num_empty), order.size());
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(used),
                        order.end(), is_farther);
      for (std::size_t r = 0; r < used; ++r) {
        farthest.push_back({nearest.label[static_cast<std::size_t>(order[r])], weights(order[r]),
                            points.row(order[r])});
      }
    }
    Eigen::MatrixXd next = next_centers(centers, std::move(counts), std::move(sums), farthest);
    const double shift = squared_shift(next, centers);
    centers = std::move(next);
    if (shift <= tolerance) break;
  }
  return centers;
}

} // namespace

KMeansModel::KMeansModel(std::vector<std::string> features, Eigen::MatrixXd centers,
                         Eigen::MatrixXd initial_centers, Eigen::VectorXd cluster_sizes,
                         KMeansOptions options)
    : features_(std::move(features)), centers_(std::move(centers)),
      initial_centers_(std::move(initial_centers)), cluster_sizes_(std::move(cluster_sizes)),
      options_(options) {}

void KMeansModel::score(const double* in, std::int64_t in_ld, std::int64_t rows, double* out,
                        std::int64_t out_ld) const {
  const auto d = static_cast<Eigen::Index>(features_.size());
  Nearest nearest;
  for (std::int64_t begin = 0; begin < rows; begin += PartialAccumulator::tile_rows) {
    const std::int64_t count = std::min(PartialAccumulator::tile_rows, rows - begin);
    find_nearest(ConstTile(in + begin, count, d, Eigen::OuterStride<>(in_ld)), centers_, nearest);
    for (std::int64_t i = 0; i < count; ++i) {
      // A NaN distance never wins the comparison, leaving +inf: the row had a non-finite value.
      const double distance = nearest.distance[static_cast<std::size_t>(i)];
      const bool is_finite = std::isfinite(distance);
      out[begin + i] =
          is_finite ? static_cast<double>(nearest.label[static_cast<std::size_t>(i)]) : NAN;
      out[out_ld + begin + i] = is_finite ? std::sqrt(distance) : NAN;
    }
  }
}

void KMeansModel::save(ParameterWriter& writer) const {
  writer.matrix("centers", centers_);
  writer.matrix("initial_centers", initial_centers_);
  writer.vector("cluster_sizes", cluster_sizes_);
  writer.integer("k", options_.k);
  writer.integer("seed", options_.seed);
  writer.scalar("tol", options_.tol);
  writer.integer("max_iter", options_.max_iter);
  writer.integer("init_rounds", options_.init_rounds);
  writer.integer("oversampling", options_.oversampling);
}

std::shared_ptr<const KMeansModel> KMeansModel::load(const std::vector<std::string>& features,
                                                     const ParameterReader& reader) {
  const auto d = static_cast<Eigen::Index>(features.size());
  const KMeansOptions options{.k = reader.integer("k"),
                              .tol = reader.scalar("tol"),
                              .max_iter = reader.integer("max_iter"),
                              .seed = reader.integer("seed"),
                              .init_rounds = reader.integer("init_rounds"),
                              .oversampling = reader.integer("oversampling")};
  if (options.k < 1)
    throw DataError(fmt::format("{}: k = {} must be at least 1", reader.where(), options.k));
  const auto k = static_cast<Eigen::Index>(options.k);
  return std::make_shared<KMeansModel>(features, reader.matrix("centers", k, d),
                                       reader.matrix("initial_centers", k, d),
                                       reader.vector("cluster_sizes", k), options);
}

std::string KMeansModel::describe() const {
  return fmt::format("k={}, seed={}", options_.k, options_.seed);
}

KMeansTrainer::KMeansTrainer(const job::ModelSpec& spec)
    : features_(spec.features), num_features_(static_cast<Eigen::Index>(spec.features.size())),
      pass_start_(std::chrono::steady_clock::now()) {
  job::ModelParams params = spec.params;
  if (!spec.label.empty()) params.fail("label", "is not used by kind = 'kmeans'; remove it");
  const std::optional<std::int64_t> k = params.integer("k");
  if (!k) params.fail("k", "is missing (kind = 'kmeans' needs the number of clusters)");
  if (*k < 1 || *k > max_clusters)
    params.fail("k", fmt::format("must be 1..{}, got {}", max_clusters, *k));
  options_.k = *k;
  options_.tol = params.number("tol").value_or(1e-4);
  if (!std::isfinite(options_.tol) || options_.tol < 0)
    params.fail("tol", "must be a finite number >= 0");
  const auto at_least = [&](std::string_view key, std::int64_t fallback, std::int64_t minimum) {
    const std::int64_t value = params.integer(key).value_or(fallback);
    if (value < minimum)
      params.fail(key, fmt::format("must be an integer >= {}, got {}", minimum, value));
    return value;
  };
  options_.max_iter = at_least("max_iter", 300, 1);
  options_.seed = at_least("seed", 0, 0);
  options_.init_rounds = at_least("init_rounds", 2, 1); // Spark MLlib's initSteps default
  options_.oversampling = at_least("oversampling", 2 * options_.k, 1);
  params.refuse_unknown_keys();
}

std::string KMeansTrainer::pass_name() const {
  switch (phase_) {
  case Phase::sample: return "init sample";
  case Phase::round: return fmt::format("init round {}", round_);
  case Phase::weights: return "init weights";
  case Phase::lloyd: return fmt::format("lloyd {}", iteration_);
  case Phase::evaluate: return "evaluate";
  case Phase::done: break;
  }
  return "done";
}

std::unique_ptr<PartialAccumulator>
KMeansTrainer::make_accumulator(const PartitionKey& partition,
                                const AccumulatorOptions& options) const {
  const CounterRandom random = CounterRandom(static_cast<std::uint64_t>(options_.seed))
                                   .with(pass_)
                                   .with(partition.path_hash);
  const Eigen::Index d = num_features_;
  switch (phase_) {
  case Phase::sample:
    return std::make_unique<TiledAccumulator<SampleKernel>>(
        SampleKernel(d, random, partition.path_hash), d, options);
  case Phase::round:
    return std::make_unique<TiledAccumulator<RoundKernel>>(
        RoundKernel(reference_, options_.oversampling, random, partition.path_hash), d, options);
  case Phase::weights:
    return std::make_unique<TiledAccumulator<WeightsKernel>>(WeightsKernel(reference_), d, options);
  case Phase::lloyd:
  case Phase::evaluate:
    return std::make_unique<TiledAccumulator<LloydKernel>>(
        LloydKernel(reference_, phase_ == Phase::evaluate, partition.path_hash), d, options);
  case Phase::done: break;
  }
  throw std::logic_error("kmeans: no pass is left after the fit finished");
}

std::size_t KMeansTrainer::partial_size() const {
  const auto d = static_cast<std::size_t>(num_features_);
  const auto k = static_cast<std::size_t>(options_.k);
  switch (phase_) {
  case Phase::sample: return 1 + 2 * d + TopList::partial_size(1, num_features_);
  case Phase::round: return TopList::partial_size(options_.oversampling, num_features_);
  case Phase::weights: return static_cast<std::size_t>(reference_->rows());
  case Phase::lloyd: return k + k * d + 1 + TopList::partial_size(options_.k, num_features_);
  case Phase::evaluate: return k + 1;
  case Phase::done: break;
  }
  return 0;
}

void KMeansTrainer::check_size(const Partial& partial) const {
  if (partial.size() != partial_size()) {
    throw std::logic_error(fmt::format("kmeans pass '{}': a partial of {} values, expected {}",
                                       pass_name(), partial.size(), partial_size()));
  }
}

void KMeansTrainer::merge(Partial& into, const Partial& from) const {
  check_size(into);
  check_size(from);
  const Eigen::Index d = num_features_;
  const auto add = [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) into[i] += from[i];
  };
  switch (phase_) {
  case Phase::sample:
    merge_moments(into.data(), from.data(), d);
    merge_top(into.data() + 1 + 2 * d, from.data() + 1 + 2 * d, 1, d);
    return;
  case Phase::round: merge_top(into.data(), from.data(), options_.oversampling, d); return;
  case Phase::lloyd: {
    const auto end = static_cast<std::size_t>(options_.k * (1 + d) + 1);
    add(0, end);
    merge_top(into.data() + end, from.data() + end, options_.k, d);
    return;
  }
  case Phase::weights:
  case Phase::evaluate: add(0, into.size()); return;
  case Phase::done: break;
  }
}

bool KMeansTrainer::update(const Partial& merged) {
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - pass_start_).count();
  // A pass no partition contributed to reads as zeros, which every phase handles.
  const Partial zeros = merged.empty() ? Partial(partial_size(), 0.0) : Partial{};
  const Partial& partial = merged.empty() ? zeros : merged;
  check_size(partial);
  switch (phase_) {
  case Phase::sample: update_sample(partial); break;
  case Phase::round: update_round(partial); break;
  case Phase::weights: update_weights(partial); break;
  case Phase::lloyd: update_lloyd(partial, seconds); break;
  case Phase::evaluate: update_evaluate(partial); break;
  case Phase::done: throw std::logic_error("kmeans: update after the fit finished");
  }
  ++pass_;
  pass_start_ = std::chrono::steady_clock::now();
  return phase_ != Phase::done;
}

bool KMeansTrainer::warm_start(const FittedModel& previous) {
  if (previous.kind() != kind() || previous.features() != features_ || phase_ != Phase::sample) {
    return false;
  }
  ParameterMap parameters;
  previous.save(parameters);
  Eigen::MatrixXd centers = parameters.matrix("centers");
  if (centers.rows() != options_.k || centers.cols() != num_features_ || !centers.allFinite()) {
    return false;
  }
  warm_centers_ = std::move(centers);
  return true;
}

void KMeansTrainer::update_sample(const Partial& merged) {
  const Eigen::Index d = num_features_;
  num_rows_ = static_cast<std::int64_t>(merged[0]);
  if (num_rows_ < options_.k) {
    throw DataError(
        fmt::format("model.k = {} is larger than the {} usable rows", options_.k, num_rows_));
  }
  // scikit-learn's scale: the mean of the per-feature (population) variances.
  double variance_sum = 0.0;
  for (Eigen::Index j = 0; j < d; ++j)
    variance_sum += merged[static_cast<std::size_t>(1 + d + j)] / merged[0];
  tolerance_ = options_.tol * variance_sum / static_cast<double>(d);
  if (warm_centers_) {
    initial_centers_ = *warm_centers_;
    reference_ = std::make_shared<const Eigen::MatrixXd>(*warm_centers_);
    phase_ = Phase::lloyd;
    iteration_ = 1;
    return;
  }
  const double* first = merged.data() + 1 + 2 * d + 1 + record_header;
  reference_ =
      std::make_shared<const Eigen::MatrixXd>(Eigen::Map<const Eigen::RowVectorXd>(first, d));
  phase_ = Phase::round;
  round_ = 1;
}

void KMeansTrainer::update_round(const Partial& merged) {
  const Eigen::Index d = num_features_;
  const auto count = static_cast<Eigen::Index>(merged[0]);
  const auto width = static_cast<Eigen::Index>(record_header) + d;
  const Eigen::Map<const RowMajorMatrix, 0, Eigen::OuterStride<>> records(
      merged.data() + 1, count, width, Eigen::OuterStride<>(width));
  // Sampled rows lie at D² > 0 from every earlier candidate, so they can repeat only each other:
  // sort this round's points, keep the first (best key) of each run of equal ones.
  std::vector<Eigen::Index> order(static_cast<std::size_t>(count));
  std::iota(order.begin(), order.end(), Eigen::Index{0});
  const auto point = [&](Eigen::Index r) { return records.row(r).tail(d); };
  const auto is_less = [&](Eigen::Index a, Eigen::Index b) {
    const auto pa = point(a);
    const auto pb = point(b);
    return std::lexicographical_compare(pa.begin(), pa.end(), pb.begin(), pb.end());
  };
  std::stable_sort(order.begin(), order.end(), is_less);
  std::vector<bool> is_kept(order.size(), true);
  for (std::size_t t = 1; t < order.size(); ++t) {
    is_kept[static_cast<std::size_t>(order[t])] = point(order[t]) != point(order[t - 1]);
  }
  Eigen::MatrixXd candidates(reference_->rows() + std::count(is_kept.begin(), is_kept.end(), true),
                             d);
  candidates.topRows(reference_->rows()) = *reference_;
  Eigen::Index next = reference_->rows();
  for (Eigen::Index r = 0; r < count; ++r) {
    if (is_kept[static_cast<std::size_t>(r)]) candidates.row(next++) = point(r);
  }
  reference_ = std::make_shared<const Eigen::MatrixXd>(std::move(candidates));
  // No row left at D² > 0: later rounds would sample nothing.
  if (count == 0 || round_ == options_.init_rounds) {
    phase_ = Phase::weights;
  } else {
    ++round_;
  }
}

void KMeansTrainer::update_weights(const Partial& merged) {
  const Eigen::Map<const Eigen::VectorXd> weights(merged.data(), reference_->rows());
  const CounterRandom random = CounterRandom(static_cast<std::uint64_t>(options_.seed)).with(pass_);
  Eigen::MatrixXd centers = plus_plus(*reference_, weights, options_.k, random);
  centers = weighted_lloyd(*reference_, weights, std::move(centers), tolerance_, options_.max_iter);
  initial_centers_ = centers;
  reference_ = std::make_shared<const Eigen::MatrixXd>(std::move(centers));
  phase_ = Phase::lloyd;
  iteration_ = 1;
}

void KMeansTrainer::update_lloyd(const Partial& merged, double seconds) {
  const auto k = static_cast<Eigen::Index>(options_.k);
  const Eigen::Index d = num_features_;
  const Eigen::Map<const Eigen::VectorXd> counts(merged.data(), k);
  const Eigen::Map<const RowMajorMatrix> sums(merged.data() + k, k, d);
  const double inertia = merged[static_cast<std::size_t>(k + k * d)];
  const double* top = merged.data() + k + k * d + 1;
  const auto width = static_cast<Eigen::Index>(record_header) + d;
  std::vector<Relocation> farthest;
  const Eigen::Index num_moved = std::min(count_empty(counts), static_cast<Eigen::Index>(top[0]));
  for (Eigen::Index r = 0; r < num_moved; ++r) {
    const double* record = top + 1 + r * width;
    farthest.push_back({static_cast<Eigen::Index>(record[4]), 1.0,
                        Eigen::Map<const Eigen::RowVectorXd>(record + record_header, d)});
  }
  Eigen::MatrixXd next = next_centers(*reference_, counts, sums, farthest);
  const double shift = squared_shift(next, *reference_);
  history_.rows.push_back({static_cast<double>(iteration_), inertia, shift, seconds});
  reference_ = std::make_shared<const Eigen::MatrixXd>(std::move(next));
  // tolerance_ ≥ 0, so this includes the exact fixed point (shift == 0) when the variance is 0.
  is_converged_ = shift <= tolerance_;
  if (is_converged_ || iteration_ >= options_.max_iter) {
    phase_ = Phase::evaluate; // max_iter is not an error: scikit-learn just stops
  } else {
    ++iteration_;
  }
}

void KMeansTrainer::update_evaluate(const Partial& merged) {
  const auto k = static_cast<Eigen::Index>(options_.k);
  inertia_ = merged[static_cast<std::size_t>(k)];
  model_ =
      std::make_shared<KMeansModel>(features_, *reference_, initial_centers_,
                                    Eigen::Map<const Eigen::VectorXd>(merged.data(), k), options_);
  phase_ = Phase::done;
}

Metrics KMeansTrainer::metrics() const {
  return {{"inertia", inertia_},
          {"iterations", static_cast<double>(history_.rows.size())},
          {"num_rows", static_cast<double>(num_rows_)},
          {"converged", is_converged_ ? 1.0 : 0.0}};
}

} // namespace sluice::model
