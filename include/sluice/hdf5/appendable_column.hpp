// AppendableColumn: a chunked 1-D dataset that grows as blocks arrive, for outputs whose length
// is known only at the end (the rows a pipeline's filters keep).
#pragma once

#include "sluice/hdf5/handle.hpp"

#include <hdf5.h>

#include <cstdint>
#include <span>
#include <string>

namespace sluice::hdf5 {

class AppendableColumn {
public:
  /// A float64 (or int64) column of length 0 and unlimited maximum length, chunked by
  /// chunk_rows, deflated at deflate_level (0: none) with the byte shuffle before deflate.
  static AppendableColumn create_float64(hid_t location, const std::string& name,
                                         std::int64_t chunk_rows, int deflate_level);
  static AppendableColumn create_int64(hid_t location, const std::string& name,
                                       std::int64_t chunk_rows, int deflate_level);

  void append(std::span<const double> values);
  void append(std::span<const std::int64_t> values);
  std::int64_t length() const noexcept { return length_; }

private:
  AppendableColumn(DatasetHandle handle, std::string name)
      : handle_(std::move(handle)), name_(std::move(name)) {}
  void append_raw(const void* values, std::int64_t count, hid_t memory_type);

  DatasetHandle handle_;
  std::string name_;
  std::int64_t length_ = 0;
};

} // namespace sluice::hdf5
