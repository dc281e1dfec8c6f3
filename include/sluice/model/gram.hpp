// Gram matrix of a column-major block: the XᵀX kernel behind the sufficient statistics.
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice::model {

/// Writes the lower triangle (i >= j) of XᵀX into `out` (column-major, leading dimension
/// `out_ld`) and the sum of each column into `column_sums` (`cols` values), where X is
/// `rows` × `cols`, column-major with leading dimension `ld`. The strict upper triangle of `out`
/// is left alone. The summation order depends only on `rows` and `cols`, never on addresses or
/// threads, so equal inputs give equal bits. A NaN or ±Inf anywhere in a column makes its sum
/// non-finite.
void gram_lower(const double* x, std::int64_t ld, std::int64_t rows, std::int64_t cols,
                double* out, std::int64_t out_ld, double* column_sums);

/// The kernel variant this build uses ("avx2-fma-3x4", "avx2-fma-4x6", "eigen-rankupdate"). The
/// summation order, and so the last bits of every statistic, depend on it: snapshots and
/// checkpoints record it.
std::string_view gram_kernel_name() noexcept;

} // namespace sluice::model
