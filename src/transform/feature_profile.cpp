// The training profile: per-partition partials (moments and a hash-ranked row sample), their
// merge, the bins taken from the merged sample, and the snapshot's /profile group.
#include "profile_accumulator.hpp"

#include "sluice/error.hpp"
#include "sluice/model/block_accumulator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace sluice::transform {
namespace {

constexpr std::size_t moments_width = Moments::size + 1; // + the non-finite count
constexpr double hash_half = 4294967296.0;                // 2^32

// A row's rank: splitmix64 of (path hash, row). Stored as two exact 32-bit halves, since a hash
// read as a double could be a NaN, which no partial may hold.
std::uint64_t row_hash(std::uint64_t path_hash, std::int64_t row) {
  std::uint64_t z = path_hash + 0x9e3779b97f4a7c15ULL * (static_cast<std::uint64_t>(row) + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct View {
  std::size_t num_columns = 0, num_samples = 0;
  std::size_t sample_at(std::size_t i) const { return 2 + num_columns * moments_width + i * (2 + num_columns); }
};

View view_of(const model::Partial& partial) {
  View view{static_cast<std::size_t>(partial.at(0)), static_cast<std::size_t>(partial.at(1))};
  if (partial.size() != view.sample_at(view.num_samples)) {
    throw DataError(fmt::format("a profile partial of {} values does not match its {} columns and "
                                "{} samples", partial.size(), view.num_columns, view.num_samples));
  }
  return view;
}

// 1.0 for a value the engine uses (|x| <= max_abs_value, so never NaN or ±Inf), else 0.0: the
// profile counts the values the model counts, and its squares cannot overflow.
inline double is_finite_bits(double x) { return std::abs(x) <= model::max_abs_value ? 1.0 : 0.0; }

// Four doubles (and their bits) as one value: GCC's and clang's vector extension, so the
// moments below run as vector code on any x86-64 or ARM target without intrinsics.
using Double4 = double __attribute__((vector_size(32)));
using Bits4 = std::uint64_t __attribute__((vector_size(32)));

// The moments of a column block's finite values in one vectorised pass (the profile sees every
// value read, so this is on the hot path): sums of x − shift and its square, with the shift a
// finite value of the block, so the cancellation in M2 = Σd² − (Σd)²/n stays small for data not
// far from its mean. Lanes are combined in a fixed order: the same bits on every run.
Moments block_moments(const double* values, std::int64_t rows) {
  std::int64_t first = 0;
  while (first < rows && is_finite_bits(values[first]) == 0.0) ++first;
  if (first == rows) return {};
  const double shift = values[first];
  constexpr std::uint64_t magnitude = 0x7fffffffffffffffULL; // every bit but the sign
  const Bits4 magnitude4 = {magnitude, magnitude, magnitude, magnitude};
  const double bound = model::max_abs_value;
  const Double4 bound4 = {bound, bound, bound, bound};
  const Bits4 one4 = {std::bit_cast<std::uint64_t>(1.0), std::bit_cast<std::uint64_t>(1.0),
                      std::bit_cast<std::uint64_t>(1.0), std::bit_cast<std::uint64_t>(1.0)};
  Double4 count = {}, sum = {}, squares = {};
  std::int64_t i = 0;
  for (; i + 4 <= rows; i += 4) {
    Double4 x;
    std::memcpy(&x, values + i, sizeof x);
    // All ones where |x| <= bound, zero elsewhere (a NaN compares false).
    const Bits4 is_finite = (Bits4)((Double4)((Bits4)x & magnitude4) <= bound4);
    const Double4 d = (Double4)((Bits4)(x - shift) & is_finite);
    count += (Double4)(one4 & is_finite);
    sum += d;
    squares += d * d;
  }
  double total_count = 0.0, total = 0.0, total_squares = 0.0;
  for (int l = 0; l < 4; ++l) {
    total_count += count[l];
    total += sum[l];
    total_squares += squares[l];
  }
  for (; i < rows; ++i) {
    if (is_finite_bits(values[i]) == 0.0) continue;
    const double d = values[i] - shift;
    total_count += 1.0;
    total += d;
    total_squares += d * d;
  }
  Moments m; // min and max stay 0: drift does not use them
  m.count = total_count;
  m.mean = shift + total / total_count;
  m.m2 = std::max(0.0, total_squares - total * total / total_count);
  return m;
}

bool hash_less(const model::Partial& a, std::size_t at_a, const model::Partial& b, std::size_t at_b) {
  return a[at_a] != b[at_b] ? a[at_a] < b[at_b] : a[at_a + 1] < b[at_b + 1];
}

} // namespace

ProfileAccumulator::ProfileAccumulator(std::int64_t num_columns, std::uint64_t path_hash,
                                       std::int64_t first_row)
    : num_columns_(num_columns), path_hash_(path_hash), next_row_(first_row),
      moments_(static_cast<std::size_t>(num_columns)),
      nonfinite_(static_cast<std::size_t>(num_columns), 0.0) {}

void ProfileAccumulator::add_block(const double* data, std::int64_t ld, std::int64_t rows) {
  for (std::int64_t c = 0; c < num_columns_; ++c) {
    const Moments block = block_moments(data + c * ld, rows);
    moments_[static_cast<std::size_t>(c)].merge(block);
    nonfinite_[static_cast<std::size_t>(c)] += static_cast<double>(rows) - block.count;
  }
  const auto by_hash = [](const Sampled& a, const Sampled& b) { return a.hash < b.hash; };
  // Candidates are every profile_sample_stride-th row of the partition (rows counted from its
  // start, so the choice does not depend on the block size): hashing every row cost more than
  // the model's own accumulation.
  const std::int64_t first = (profile_sample_stride - next_row_ % profile_sample_stride) % profile_sample_stride;
  for (std::int64_t i = first; i < rows; i += profile_sample_stride) {
    const std::uint64_t hash = row_hash(path_hash_, next_row_ + i);
    const bool is_full = static_cast<std::int64_t>(heap_.size()) >= profile_sample_rows;
    if (is_full && hash >= heap_.front().hash) continue;
    bool is_finite = true;
    for (std::int64_t c = 0; c < num_columns_ && is_finite; ++c) is_finite = is_finite_bits(data[c * ld + i]) != 0.0;
    if (!is_finite) continue;
    Sampled sampled{hash, std::vector<double>(static_cast<std::size_t>(num_columns_))};
    for (std::int64_t c = 0; c < num_columns_; ++c) sampled.values[static_cast<std::size_t>(c)] = data[c * ld + i];
    if (is_full) {
      std::pop_heap(heap_.begin(), heap_.end(), by_hash);
      heap_.back() = std::move(sampled);
    } else {
      heap_.push_back(std::move(sampled));
    }
    std::push_heap(heap_.begin(), heap_.end(), by_hash);
  }
  next_row_ += rows;
}

model::Partial ProfileAccumulator::finish() const {
  std::vector<Sampled> sorted = heap_;
  std::sort(sorted.begin(), sorted.end(), [](const Sampled& a, const Sampled& b) { return a.hash < b.hash; });
  model::Partial partial = {static_cast<double>(num_columns_), static_cast<double>(sorted.size())};
  for (std::size_t c = 0; c < moments_.size(); ++c) {
    append(partial, moments_[c]);
    partial.push_back(nonfinite_[c]);
  }
  for (const Sampled& sampled : sorted) {
    partial.push_back(static_cast<double>(sampled.hash >> 32));
    partial.push_back(static_cast<double>(sampled.hash & 0xffffffffULL));
    partial.insert(partial.end(), sampled.values.begin(), sampled.values.end());
  }
  return partial;
}

void merge_profile(model::Partial& into, const model::Partial& from) {
  if (from.empty()) return;
  if (into.empty()) {
    into = from;
    return;
  }
  const View a = view_of(into), b = view_of(from);
  if (a.num_columns != b.num_columns) {
    throw DataError(fmt::format("profile partials of {} and {} columns", a.num_columns, b.num_columns));
  }
  model::Partial merged = {static_cast<double>(a.num_columns), 0.0};
  for (std::size_t c = 0; c < a.num_columns; ++c) {
    std::size_t at_a = 2 + c * moments_width, at_b = at_a;
    Moments moments = read_moments(into, at_a);
    moments.merge(read_moments(from, at_b));
    append(merged, moments);
    merged.push_back(into[at_a] + from[at_b]);
  }
  // The k smallest hashes of both sorted lists.
  const std::size_t width = 2 + a.num_columns;
  std::size_t i = 0, j = 0, taken = 0;
  while (taken < static_cast<std::size_t>(profile_sample_rows) && (i < a.num_samples || j < b.num_samples)) {
    const bool from_a = j >= b.num_samples ||
                        (i < a.num_samples && hash_less(into, a.sample_at(i), from, b.sample_at(j)));
    const model::Partial& source = from_a ? into : from;
    const std::size_t at = from_a ? a.sample_at(i++) : b.sample_at(j++);
    merged.insert(merged.end(), source.begin() + static_cast<std::ptrdiff_t>(at),
                  source.begin() + static_cast<std::ptrdiff_t>(at + width));
    ++taken;
  }
  merged[1] = static_cast<double>(taken);
  into = std::move(merged);
}

FeatureProfile finish_profile(const model::Partial& merged, const std::vector<std::string>& names) {
  FeatureProfile profile;
  if (merged.empty()) return profile;
  const View view = view_of(merged);
  if (view.num_columns != names.size()) {
    throw DataError(fmt::format("a profile of {} columns for {} names", view.num_columns, names.size()));
  }
  for (std::size_t c = 0; c < view.num_columns; ++c) {
    std::size_t at = 2 + c * moments_width;
    const Moments moments = read_moments(merged, at);
    ColumnProfile column{.name = names[c],
                         .count = moments.count,
                         .mean = moments.mean,
                         .std = moments.count > 0 ? std::sqrt(moments.m2 / moments.count) : 0.0,
                         .nonfinite = merged[at]};
    std::vector<double> sample;
    for (std::size_t i = 0; i < view.num_samples; ++i) sample.push_back(merged[view.sample_at(i) + 2 + c]);
    std::sort(sample.begin(), sample.end());
    // Edges at the sample's quantiles; repeated values give fewer, wider bins.
    for (int q = 1; q < profile_bins && !sample.empty(); ++q) {
      const double edge = sample[sample.size() * static_cast<std::size_t>(q) / profile_bins];
      if (edge > sample.front() && (column.edges.empty() || edge > column.edges.back())) {
        column.edges.push_back(edge);
      }
    }
    column.proportions.assign(column.edges.size() + 1, 0.0);
    for (double value : sample) column.proportions[profile_bin(column.edges, value)] += 1.0;
    for (double& share : column.proportions) share /= sample.empty() ? 1.0 : static_cast<double>(sample.size());
    if (sample.empty()) column.proportions = {1.0};
    profile.columns.push_back(std::move(column));
  }
  return profile;
}

const ColumnProfile* FeatureProfile::find(const std::string& name) const {
  for (const ColumnProfile& column : columns) {
    if (column.name == name) return &column;
  }
  return nullptr;
}

std::size_t profile_bin(const std::vector<double>& edges, double value) {
  return static_cast<std::size_t>(std::upper_bound(edges.begin(), edges.end(), value) - edges.begin());
}

void save_profile(const FeatureProfile& profile, model::ParameterWriter& writer) {
  std::vector<std::string> names;
  const auto n = static_cast<Eigen::Index>(profile.columns.size());
  Eigen::VectorXd count(n), mean(n), std(n), nonfinite(n), offsets(n + 1);
  std::vector<double> edges, proportions;
  offsets[0] = 0;
  for (Eigen::Index c = 0; c < n; ++c) {
    const ColumnProfile& column = profile.columns[static_cast<std::size_t>(c)];
    names.push_back(column.name);
    count[c] = column.count;
    mean[c] = column.mean;
    std[c] = column.std;
    nonfinite[c] = column.nonfinite;
    edges.insert(edges.end(), column.edges.begin(), column.edges.end());
    proportions.insert(proportions.end(), column.proportions.begin(), column.proportions.end());
    offsets[c + 1] = static_cast<double>(edges.size());
  }
  writer.integer("format_version", 1);
  writer.integer("sample_rows", profile_sample_rows);
  writer.strings("columns", names);
  writer.vector("count", count);
  writer.vector("mean", mean);
  writer.vector("std", std);
  writer.vector("nonfinite", nonfinite);
  // Ragged per column: column c's edges are edges[offsets[c] : offsets[c+1]], and its
  // proportions proportions[offsets[c] + c : offsets[c+1] + c + 1].
  writer.vector("edge_offsets", offsets);
  writer.vector("edges", Eigen::Map<const Eigen::VectorXd>(edges.data(), static_cast<Eigen::Index>(edges.size())));
  writer.vector("proportions", Eigen::Map<const Eigen::VectorXd>(proportions.data(),
                                                                 static_cast<Eigen::Index>(proportions.size())));
}

FeatureProfile load_profile(const model::ParameterReader& reader) {
  FeatureProfile profile;
  const std::vector<std::string> names = reader.strings("columns");
  const auto n = static_cast<Eigen::Index>(names.size());
  const Eigen::VectorXd count = reader.vector("count", n), mean = reader.vector("mean", n),
                        std = reader.vector("std", n), nonfinite = reader.vector("nonfinite", n),
                        offsets = reader.vector("edge_offsets", n + 1), edges = reader.vector("edges"),
                        proportions = reader.vector("proportions", edges.size() + n);
  for (Eigen::Index c = 0; c < n; ++c) {
    const double begin = offsets[c], end = offsets[c + 1];
    if (!(begin >= 0 && begin <= end && end <= static_cast<double>(edges.size()))) {
      throw DataError(fmt::format("{}: /profile/edge_offsets is not ascending within the edges", reader.where()));
    }
    ColumnProfile column{.name = names[static_cast<std::size_t>(c)], .count = count[c], .mean = mean[c],
                         .std = std[c], .nonfinite = nonfinite[c]};
    const auto first = static_cast<Eigen::Index>(begin), last = static_cast<Eigen::Index>(end);
    for (Eigen::Index e = first; e < last; ++e) column.edges.push_back(edges[e]);
    for (Eigen::Index p = first + c; p <= last + c; ++p) column.proportions.push_back(proportions[p]);
    profile.columns.push_back(std::move(column));
  }
  return profile;
}

} // namespace sluice::transform
