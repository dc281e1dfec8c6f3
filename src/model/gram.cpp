// XᵀX on column-major tiles. Every entry is a dot product of two columns, so the tile needs no
// packing: a register block of 3 × 4 outputs (4 × 6 with AVX-512VL's 32 registers) streams 7 (10)
// columns and does 12 (24) FMAs per 7 (10) loads, which keeps the FMA units busy where Eigen's
// SYRK spends a third of its time packing narrow (33-column) panels. The column sums ride along as products with a column of ones (index -1), so
// the tile is streamed once for both. Without AVX2+FMA at compile time it falls back to Eigen.
#include "sluice/model/gram.hpp"

#include <algorithm>
#include <array>
#include <utility>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SLUICE_GRAM_AVX2 1
#else
#include <Eigen/Core>
#endif

namespace sluice::model {

#if SLUICE_GRAM_AVX2
namespace {

#if defined(__AVX512VL__)
// AVX-512VL gives 32 ymm registers: 24 accumulators + 4 + 1 operands, and fewer loads per FMA.
constexpr int block_i = 4; // columns held in registers
constexpr int block_j = 6; // columns streamed against them
#else
constexpr int block_i = 3; // columns held in registers
constexpr int block_j = 4; // columns streamed against them: 12 accumulators + 4 operands = 16 ymm
#endif

// Four-lane partial sums, combined in one fixed order.
double sum_lanes(__m256d v) {
  alignas(32) double lane[4];
  _mm256_store_pd(lane, v);
  return (lane[0] + lane[1]) + (lane[2] + lane[3]);
}

struct Target {
  double* out;
  std::int64_t out_ld;
  double* sums;
};

// out(i0 + a, j0 + b) = column(i0 + a) · column(j0 + b) for a < MI, b < MJ, where column -1 is
// all ones and its products are the sums. Ones selects that variant, for blocks with j0 == -1.
template <int MI, int MJ, bool Ones>
void dot_block(const double* x, std::int64_t ld, std::int64_t rows, std::int64_t i0,
               std::int64_t j0, const Target& target) {
  __m256d acc[MI][MJ];
  const double* ci[MI];
  const double* cj[MJ];
  for (int a = 0; a < MI; ++a) {
    ci[a] = x + (i0 + a) * ld;
    for (int b = 0; b < MJ; ++b) acc[a][b] = _mm256_setzero_pd();
  }
  for (int b = Ones ? 1 : 0; b < MJ; ++b) cj[b] = x + (j0 + b) * ld;
  const auto load_j = [&](int b, std::int64_t r, auto&& load) {
    if (Ones && b == 0) return _mm256_set1_pd(1.0);
    return load(cj[b] + r);
  };
  const auto plain = [](const double* p) { return _mm256_loadu_pd(p); };

  std::int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    __m256d va[MI];
    for (int a = 0; a < MI; ++a) va[a] = _mm256_loadu_pd(ci[a] + r);
    for (int b = 0; b < MJ; ++b) {
      const __m256d vb = load_j(b, r, plain);
      for (int a = 0; a < MI; ++a) acc[a][b] = _mm256_fmadd_pd(va[a], vb, acc[a][b]);
    }
  }
  if (r < rows) { // 1-3 rows left: masked lanes load 0.0 and add exactly nothing
    const std::int64_t left = rows - r;
    const __m256i mask = _mm256_setr_epi64x(-1, left > 1 ? -1 : 0, left > 2 ? -1 : 0, 0);
    const auto masked = [mask](const double* p) { return _mm256_maskload_pd(p, mask); };
    __m256d va[MI];
    for (int a = 0; a < MI; ++a) va[a] = _mm256_maskload_pd(ci[a] + r, mask);
    for (int b = 0; b < MJ; ++b) {
      const __m256d vb = load_j(b, r, masked);
      for (int a = 0; a < MI; ++a) acc[a][b] = _mm256_fmadd_pd(va[a], vb, acc[a][b]);
    }
  }
  for (int a = 0; a < MI; ++a) {
    for (int b = 0; b < MJ; ++b) {
      const std::int64_t i = i0 + a, j = j0 + b;
      if (Ones && b == 0) {
        target.sums[i] = sum_lanes(acc[a][b]);
      } else if (i >= j) {
        target.out[i + j * target.out_ld] = sum_lanes(acc[a][b]);
      }
    }
  }
}

using DotBlock = void (*)(const double*, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                          const Target&);

// Every block shape up to block_i × block_j, compiled once: kernels<Ones>[mi - 1][mj - 1].
template <bool Ones, int MI, int... MJ>
constexpr std::array<DotBlock, sizeof...(MJ)> kernel_row(std::integer_sequence<int, MJ...>) {
  return {dot_block<MI, MJ + 1, Ones>...};
}

template <bool Ones, int... MI>
constexpr auto kernel_table(std::integer_sequence<int, MI...>) {
  return std::array{kernel_row<Ones, MI + 1>(std::make_integer_sequence<int, block_j>{})...};
}

template <bool Ones>
constexpr auto kernels = kernel_table<Ones>(std::make_integer_sequence<int, block_i>{});

} // namespace

void gram_lower(const double* x, std::int64_t ld, std::int64_t rows, std::int64_t cols,
                double* out, std::int64_t out_ld, double* column_sums) {
  const Target target{out, out_ld, column_sums};
  for (std::int64_t i0 = 0; i0 < cols; i0 += block_i) {
    const std::int64_t mi = std::min<std::int64_t>(block_i, cols - i0);
    // From the ones column (-1) to the last block holding an entry on or below the diagonal.
    for (std::int64_t j0 = -1; j0 < i0 + mi; j0 += block_j) {
      const std::int64_t mj = std::min<std::int64_t>(block_j, i0 + mi - j0);
      const DotBlock kernel = j0 < 0 ? kernels<true>[mi - 1][mj - 1] : kernels<false>[mi - 1][mj - 1];
      kernel(x, ld, rows, i0, j0, target);
    }
  }
}

#else

void gram_lower(const double* x, std::int64_t ld, std::int64_t rows, std::int64_t cols,
                double* out, std::int64_t out_ld, double* column_sums) {
  using Tile = Eigen::Map<const Eigen::MatrixXd, 0, Eigen::OuterStride<>>;
  using Out = Eigen::Map<Eigen::MatrixXd, 0, Eigen::OuterStride<>>;
  Tile tile(x, rows, cols, Eigen::OuterStride<>(ld));
  Out result(out, cols, cols, Eigen::OuterStride<>(out_ld));
  result.triangularView<Eigen::Lower>().setZero();
  result.selfadjointView<Eigen::Lower>().rankUpdate(tile.transpose());
  // Four interleaved lanes combined pairwise: the same order as the vector kernel.
  for (std::int64_t j = 0; j < cols; ++j) {
    double lane[4] = {};
    for (std::int64_t i = 0; i < rows; ++i) lane[i % 4] += tile(i, j);
    column_sums[j] = (lane[0] + lane[1]) + (lane[2] + lane[3]);
  }
}

#endif

std::string_view gram_kernel_name() noexcept {
#if SLUICE_GRAM_AVX2 && defined(__AVX512VL__)
  return "avx2-fma-4x6";
#elif SLUICE_GRAM_AVX2
  return "avx2-fma-3x4";
#else
  return "eigen-rankupdate";
#endif
}

} // namespace sluice::model
