// The checks a partition passes before HDF5 reads any of its values.
#include "partition_guard.hpp"

#include "name_heap_check.hpp"

#include "sluice/error.hpp"
#include "sluice/hdf5/error.hpp"

#include <fmt/format.h>
#include <fmt/std.h>

#include <algorithm>
#include <limits>
#include <system_error>
#include <vector>

namespace sluice::lake {
namespace {

constexpr auto max_int64 = std::numeric_limits<std::int64_t>::max();

// Called by HDF5 before it would open the target file of an external link: refuses, and keeps
// the target for the message. Must not throw into C code.
herr_t refuse_external_link(const char* /*parent_file*/, const char* /*parent_group*/,
                            const char* child_file, const char* child_object,
                            unsigned* /*access_flags*/, hid_t /*fapl*/, void* refused) noexcept {
  try {
    *static_cast<std::string*>(refused) =
        fmt::format("{}:{}", child_file != nullptr ? child_file : "?",
                    child_object != nullptr ? child_object : "?");
  } catch (...) {
  }
  return -1;
}

hdf5::PropertyListHandle refusing_access(hid_t property_class, std::string* refused) {
  hdf5::PropertyListHandle access(hdf5::check_id(H5Pcreate(property_class), "H5Pcreate"));
  hdf5::check_status(H5Pset_elink_cb(access.get(), refuse_external_link, refused),
                     "H5Pset_elink_cb");
  return access;
}

// Names and paths come from the file: keep messages to one line of printable text.
std::string printable(std::string text) {
  if (text.size() > 200) text = text.substr(0, 200) + "...";
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  }
  return text;
}

std::string link_value(hid_t group, const std::string& name, std::size_t size, hid_t access) {
  std::vector<char> value(std::min<std::size_t>(size, 1 << 16) + 1, '\0');
  if (H5Lget_val(group, name.c_str(), value.data(), value.size(), access) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return {};
  }
  return std::string(value.data()); // a soft link's value ends with its NUL
}

bool is_allowed_filter(H5Z_filter_t filter) {
  return filter == H5Z_FILTER_DEFLATE || filter == H5Z_FILTER_SHUFFLE ||
         filter == H5Z_FILTER_FLETCHER32;
}

// The most a stored chunk of `chunk_bytes` can occupy under the allowed filters: zlib's
// compressBound (n + n/4096 + n/16384 + n/2^25 + 13, when deflate does not shrink the data HDF5
// keeps the chunk unfiltered) plus fletcher32's 4 bytes, rounded up generously.
std::int64_t max_stored_chunk_bytes(std::int64_t chunk_bytes) {
  return chunk_bytes + chunk_bytes / 1024 + 64;
}

// Length of the valid UTF-8 sequence starting at text[i] (RFC 3629: no overlongs, no
// surrogates, at most U+10FFFF), or 0.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xbf; // allowed range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;
    if (lead == 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (i + length > text.size() || byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return length;
}

} // namespace

std::string printable_text(std::string_view text) {
  std::string result;
  result.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      result += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
      ++i;
    } else if (const std::size_t length = utf8_sequence_length(text, i); length > 0) {
      result.append(text.substr(i, length));
      i += length;
    } else {
      result += '?';
      ++i;
    }
  }
  return result;
}

PartitionGuard::PartitionGuard(std::filesystem::path path, const ReadLimits& limits)
    : path_(std::move(path)), limits_(limits) {
  std::error_code error;
  const std::uintmax_t size = std::filesystem::file_size(path_, error);
  if (error) throw DataError(fmt::format("partition {}: cannot read its size: {}", path_, error.message()));
  file_bytes_ = static_cast<std::int64_t>(std::min<std::uintmax_t>(size, max_int64));
  group_access_ = refusing_access(H5P_GROUP_ACCESS, &refused_link_);
  dataset_access_ = refusing_access(H5P_DATASET_ACCESS, &refused_link_);
}

hdf5::GroupHandle PartitionGuard::open_group(hid_t file, const std::string& group) const {
  // One level at a time, so that each group's names are checked before a lookup reads them.
  hdf5::GroupHandle current(hdf5::check_id(H5Gopen2(file, "/", group_access_.get()),
                                           "cannot open the root group"));
  check_names(file, current.get(), "/");
  std::string opened;
  for (std::size_t start = 0; start < group.size();) {
    std::size_t end = group.find('/', start);
    if (end == std::string::npos) end = group.size();
    const std::string component = group.substr(start, end - start);
    start = end + 1;
    if (component.empty()) continue;
    opened += "/" + component;
    refused_link_.clear();
    const hid_t id = H5Gopen2(current.get(), component.c_str(), group_access_.get());
    if (id < 0) {
      H5Eclear2(H5E_DEFAULT);
      if (!refused_link_.empty()) {
        throw DataError(fmt::format(
            "group '{}' is reached through an external link to '{}': links out of the partition "
            "are refused",
            group, printable(refused_link_)));
      }
      throw DataError(fmt::format("group '{}' not found", group));
    }
    current = hdf5::GroupHandle(id);
    check_names(file, current.get(), opened);
  }
  return current;
}

void PartitionGuard::check_names(hid_t file, hid_t group, const std::string& name) const {
  H5O_info_t info{};
  hsize_t user_block_bytes = 0;
  hdf5::PropertyListHandle creation(
      hdf5::check_id(H5Fget_create_plist(file), "cannot read the file's creation properties"));
  if (H5Oget_info2(group, &info, H5O_INFO_BASIC) < 0 ||
      H5Pget_userblock(creation.get(), &user_block_bytes) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return; // libhdf5 reports a header it cannot read at the first lookup
  }
  check_name_heap(path_, file_bytes_, user_block_bytes, info.addr, printable(name));
}

bool PartitionGuard::has_link(hid_t group, const std::string& name) const {
  refused_link_.clear();
  const htri_t exists = H5Lexists(group, name.c_str(), dataset_access_.get());
  if (exists < 0) {
    H5Eclear2(H5E_DEFAULT);
    if (!refused_link_.empty()) {
      throw DataError(fmt::format("'{}' is reached through an external link to '{}': links out "
                                  "of the partition are refused",
                                  printable(name), printable(refused_link_)));
    }
    return false;
  }
  return exists > 0;
}

void PartitionGuard::check_link(hid_t group, const std::string& name) const {
  H5L_info_t info{};
  hdf5::check_status(H5Lget_info(group, name.c_str(), &info, dataset_access_.get()),
                     "cannot read the column's link");
  switch (info.type) {
  case H5L_TYPE_HARD: return;
  case H5L_TYPE_SOFT:
    throw DataError(fmt::format(
        "is a soft link to '{}': a column must be a dataset stored under its own name",
        printable(link_value(group, name, info.u.val_size, dataset_access_.get()))));
  case H5L_TYPE_EXTERNAL: {
    std::vector<char> value(std::min<std::size_t>(info.u.val_size, 1 << 16), '\0');
    if (H5Lget_val(group, name.c_str(), value.data(), value.size(), dataset_access_.get()) < 0) {
      value.clear();
    }
    const char* file = nullptr;
    const char* object = nullptr;
    std::string target = "?";
    if (!value.empty() && H5Lunpack_elink_val(value.data(), value.size(), nullptr, &file, &object) >= 0) {
      target = fmt::format("{}:{}", file != nullptr ? file : "?", object != nullptr ? object : "?");
    } else {
      H5Eclear2(H5E_DEFAULT);
    }
    throw DataError(fmt::format("is an external link to '{}': links out of the partition are "
                                "refused",
                                printable(target)));
  }
  default:
    throw DataError(fmt::format("is a user-defined link (type {}): a column must be a dataset "
                                "stored under its own name",
                                static_cast<int>(info.type)));
  }
}

void PartitionGuard::check_storage(hid_t dataset) const {
  hdf5::PropertyListHandle creation(
      hdf5::check_id(H5Dget_create_plist(dataset), "cannot read the dataset's creation properties"));
  const H5D_layout_t layout = H5Pget_layout(creation.get());
  if (layout == H5D_VIRTUAL) {
    throw DataError("is a virtual dataset (its values would come from other datasets or files): "
                    "virtual datasets are refused");
  }
  if (layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED && layout != H5D_COMPACT) {
    H5Eclear2(H5E_DEFAULT);
    throw DataError(fmt::format("has an unknown storage layout ({})", static_cast<int>(layout)));
  }
  const int num_external = H5Pget_external_count(creation.get());
  if (num_external != 0) {
    char name[256] = {};
    off_t offset = 0;
    hsize_t size = 0;
    if (num_external < 0 || H5Pget_external(creation.get(), 0, sizeof name, name, &offset, &size) < 0) {
      H5Eclear2(H5E_DEFAULT);
    }
    throw DataError(fmt::format("stores its values in external file '{}': external raw-data "
                                "storage is refused",
                                printable(name)));
  }
  const int num_filters = H5Pget_nfilters(creation.get());
  hdf5::check_status(num_filters < 0 ? -1 : 0, "cannot read the dataset's filters");
  for (int i = 0; i < num_filters; ++i) {
    unsigned flags = 0;
    std::size_t num_values = 0; // no parameters wanted; no filter_config: HDF5 looks up nothing
    char name[256] = {};
    const H5Z_filter_t filter = H5Pget_filter2(creation.get(), static_cast<unsigned>(i), &flags,
                                               &num_values, nullptr, sizeof name, name, nullptr);
    hdf5::check_status(filter < 0 ? -1 : 0, "cannot read the dataset's filters");
    if (!is_allowed_filter(filter)) {
      throw DataError(fmt::format("uses HDF5 filter {} ('{}'): only deflate (gzip), shuffle and "
                                  "fletcher32 are allowed",
                                  filter, printable(name)));
    }
  }
}

void PartitionGuard::check_bit_layout(const hdf5::Dataset& dataset) const {
  hdf5::DatatypeHandle type(hdf5::check_id(H5Dget_type(dataset.id()), "H5Dget_type"));
  const hdf5::Dtype dtype = dataset.dtype();
  // Crafted precision, offset or exponent fields would send HDF5's conversions down rarely used
  // paths; the contract's types are the standard layouts h5py and numpy write.
  if (dtype == hdf5::Dtype::float64 || dtype == hdf5::Dtype::float32) {
    const hid_t standard[] = {H5T_IEEE_F64LE, H5T_IEEE_F64BE, H5T_IEEE_F32LE, H5T_IEEE_F32BE};
    if (std::none_of(std::begin(standard), std::end(standard),
                     [&](hid_t s) { return H5Tequal(type.get(), s) > 0; })) {
      throw DataError(fmt::format("{} with a non-IEEE bit layout", hdf5::dtype_name(dtype)));
    }
    return;
  }
  hdf5::DatatypeHandle base;
  hid_t integer = type.get();
  if (dtype == hdf5::Dtype::boolean) {
    base = hdf5::DatatypeHandle(hdf5::check_id(H5Tget_super(type.get()), "H5Tget_super"));
    integer = base.get();
  }
  if (H5Tget_class(integer) != H5T_INTEGER || H5Tget_offset(integer) != 0 ||
      H5Tget_precision(integer) != 8 * H5Tget_size(integer)) {
    H5Eclear2(H5E_DEFAULT);
    throw DataError(fmt::format("{} with a non-standard bit layout (precision or offset)",
                                hdf5::dtype_name(dtype)));
  }
}

GuardedColumn PartitionGuard::check_sizes(const hdf5::Dataset& dataset) const {
  const hsize_t rows = dataset.dims().at(0);
  const auto element_bytes = static_cast<std::int64_t>(dataset.element_bytes());
  if (rows > static_cast<hsize_t>(max_int64 / element_bytes)) {
    throw DataError(fmt::format("declares {} rows of {} bytes: the size overflows 64 bits", rows,
                                element_bytes));
  }
  const std::int64_t declared = static_cast<std::int64_t>(rows) * element_bytes;
  if (declared > limits_.max_column_bytes) {
    throw DataError(fmt::format("declares {} rows of {} bytes ({} bytes), more than "
                                "lake.max_column_bytes = {}",
                                rows, element_bytes, declared, limits_.max_column_bytes));
  }
  hdf5::PropertyListHandle creation(
      hdf5::check_id(H5Dget_create_plist(dataset.id()), "H5Dget_create_plist"));
  GuardedColumn column;
  switch (H5Pget_layout(creation.get())) {
  case H5D_CONTIGUOUS: {
    const haddr_t offset = H5Dget_offset(dataset.id());
    if (offset == HADDR_UNDEF) {
      H5Eclear2(H5E_DEFAULT); // never written: every value is the fill value (ratio check below)
    } else if (offset > static_cast<haddr_t>(file_bytes_) ||
               declared > file_bytes_ - static_cast<std::int64_t>(offset)) {
      throw DataError(fmt::format("declares {} bytes of contiguous data at byte {}, but the file "
                                  "has only {} bytes (truncated, or a forged size)",
                                  declared, offset, file_bytes_));
    }
    break;
  }
  case H5D_COMPACT: {
    const hsize_t stored = H5Dget_storage_size(dataset.id());
    if (stored != static_cast<hsize_t>(declared)) {
      throw DataError(fmt::format("compact storage holds {} bytes but {} rows of {} bytes need {}",
                                  stored, rows, element_bytes, declared));
    }
    break;
  }
  case H5D_CHUNKED: {
    hsize_t chunk[H5S_MAX_RANK] = {};
    const int chunk_rank = H5Pget_chunk(creation.get(), H5S_MAX_RANK, chunk);
    if (chunk_rank != 1 || chunk[0] == 0) {
      H5Eclear2(H5E_DEFAULT);
      throw DataError(fmt::format("has a chunk shape of rank {} (a column's chunks are 1-D, of at "
                                  "least one row)",
                                  chunk_rank));
    }
    if (chunk[0] > static_cast<hsize_t>(limits_.max_chunk_bytes / element_bytes)) {
      throw DataError(fmt::format("declares chunks of {} rows of {} bytes, more than "
                                  "lake.max_chunk_bytes = {}",
                                  chunk[0], element_bytes, limits_.max_chunk_bytes));
    }
    column.chunk_rows = static_cast<std::int64_t>(chunk[0]);
    column.max_stored_chunk_bytes = max_stored_chunk_bytes(column.chunk_rows * element_bytes);
    break;
  }
  default: break; // refused by check_storage
  }
  // H5Dget_storage_size walks a chunked column's index: bounded by what the file holds.
  const hsize_t stored = H5Dget_storage_size(dataset.id());
  if (static_cast<double>(declared) > max_expansion_ratio * static_cast<double>(stored)) {
    throw DataError(fmt::format("declares {} bytes of values but stores only {} bytes: more than "
                                "{:.0f}x expansion, which deflate cannot produce (chunks never "
                                "written, or a decompression bomb)",
                                declared, stored, max_expansion_ratio));
  }
  return column;
}

hdf5::Dataset PartitionGuard::open_column(hid_t group, const std::string& name,
                                          GuardedColumn& column) const {
  check_link(group, name);
  {
    // Layout, external storage and filters are judged before anything else touches the dataset.
    const hdf5::DatasetHandle raw(hdf5::check_id(H5Dopen2(group, name.c_str(), dataset_access_.get()),
                                                 fmt::format("cannot open dataset '{}'", name)));
    check_storage(raw.get());
  }
  hdf5::Dataset dataset = hdf5::Dataset::open(group, name, dataset_access_.get());
  if (dataset.rank() != 1) {
    throw DataError(fmt::format("dataset has {} dimensions, a column must be 1-D", dataset.rank()));
  }
  check_bit_layout(dataset); // also throws DataError for dtypes outside the lake contract
  column = check_sizes(dataset);
  return dataset;
}

void PartitionGuard::check_chunks(const hdf5::Dataset& dataset, GuardedColumn& column,
                                  std::int64_t start, std::int64_t count) const {
  if (column.chunk_rows == 0 || count <= 0) return;
  const std::int64_t last = (start + count - 1) / column.chunk_rows;
  for (std::int64_t c = std::max(start / column.chunk_rows, column.num_checked_chunks); c <= last;
       ++c) {
    const hsize_t offset[1] = {static_cast<hsize_t>(c * column.chunk_rows)};
    hsize_t stored = 0; // stays 0 for a chunk never written (read as fill values)
    hdf5::check_status(H5Dget_chunk_storage_size(dataset.id(), offset, &stored),
                       fmt::format("cannot look up the chunk at row {}", offset[0]));
    if (stored > static_cast<hsize_t>(column.max_stored_chunk_bytes)) {
      throw DataError(fmt::format(
          "the chunk at row {} occupies {} bytes in the file, more than a chunk of {} rows can "
          "under the allowed filters (at most {}): its deflate stream would inflate far beyond "
          "the chunk (a decompression bomb)",
          offset[0], stored, column.chunk_rows, column.max_stored_chunk_bytes));
    }
    column.num_checked_chunks = c + 1;
  }
}

} // namespace sluice::lake
