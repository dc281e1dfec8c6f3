// ReadLimits: the bounds a partition's declared sizes must respect before any of its data is read.
#pragma once

#include <cstdint>

namespace sluice::lake {

/// Bounds checked when a partition is opened, so that a file claiming absurd sizes is refused
/// instead of being read for hours or exhausting memory (docs/lake-format.md, "Untrusted
/// partitions"). The job file's `lake.max_column_bytes` and `lake.max_chunk_bytes` set them.
struct ReadLimits {
  /// Declared bytes of one column (rows × element size in the file).
  std::int64_t max_column_bytes = std::int64_t{64} << 30;
  /// Bytes of one chunk of a chunked column (chunk rows × element size). HDF5 1.10 inflates a
  /// chunk into a buffer that grows until the deflate stream ends, so a hostile chunk can take up
  /// to about 1032 × this much memory while it is decompressed.
  std::int64_t max_chunk_bytes = std::int64_t{8} << 20;
};

/// The largest ratio of a column's declared bytes to the bytes it occupies in the file. Deflate
/// cannot expand data more than 1032:1 (constant columns measured at up to 980:1 with 8 MiB
/// chunks), and the other allowed filters do not compress, so a larger ratio means chunks that
/// were never written (read back as fill values) or a forged size: a decompression bomb.
inline constexpr double max_expansion_ratio = 1100.0;

} // namespace sluice::lake
