// hdf5::Handle: unique ownership of one HDF5 identifier, closed with the matching H5*close.
#pragma once

#include <hdf5.h>

#include <utility>

namespace sluice::hdf5 {

/// Owns one hid_t and closes it with Close on destruction. Move-only; a move leaves an invalid id.
template <herr_t (*Close)(hid_t)>
class Handle {
public:
  Handle() = default;
  explicit Handle(hid_t id) noexcept : id_(id) {}
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  hid_t get() const noexcept { return id_; }
  bool is_valid() const noexcept { return id_ >= 0; }

  /// Gives up ownership without closing; the caller closes the returned id.
  hid_t release() noexcept { return std::exchange(id_, H5I_INVALID_HID); }

  /// Closes the identifier now; a failure here cannot be reported, so it is ignored.
  void reset() noexcept {
    if (id_ >= 0) Close(id_);
    id_ = H5I_INVALID_HID;
  }

private:
  hid_t id_ = H5I_INVALID_HID;
};

using FileHandle = Handle<H5Fclose>;
using GroupHandle = Handle<H5Gclose>;
using DatasetHandle = Handle<H5Dclose>;
using DataspaceHandle = Handle<H5Sclose>;
using DatatypeHandle = Handle<H5Tclose>;
using PropertyListHandle = Handle<H5Pclose>;
using AttributeHandle = Handle<H5Aclose>;

} // namespace sluice::hdf5
