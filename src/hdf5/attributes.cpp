// Scalar attribute writers and readers with checked HDF5 calls.
#include "sluice/hdf5/attributes.hpp"

#include "sluice/hdf5/error.hpp"
#include "sluice/hdf5/handle.hpp"

#include <fmt/format.h>

namespace sluice::hdf5 {
namespace {

void write_scalar(hid_t object, const std::string& name, hid_t file_type, hid_t memory_type,
                  const void* value) {
  DataspaceHandle space(check_id(H5Screate(H5S_SCALAR), "H5Screate"));
  AttributeHandle attribute(
      check_id(H5Acreate2(object, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
               fmt::format("cannot create attribute '{}'", name)));
  check_status(H5Awrite(attribute.get(), memory_type, value),
               fmt::format("cannot write attribute '{}'", name));
}

AttributeHandle open_attribute(hid_t object, const std::string& name) {
  return AttributeHandle(check_id(H5Aopen(object, name.c_str(), H5P_DEFAULT),
                                  fmt::format("no attribute '{}'", name)));
}

} // namespace

void write_attribute(hid_t object, const std::string& name, const std::string& value) {
  DatatypeHandle type(check_id(H5Tcopy(H5T_C_S1), "H5Tcopy"));
  check_status(H5Tset_size(type.get(), H5T_VARIABLE), "H5Tset_size");
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset");
  const char* text = value.c_str();
  write_scalar(object, name, type.get(), type.get(), &text);
}

void write_attribute(hid_t object, const std::string& name, const char* value) {
  write_attribute(object, name, std::string(value));
}

void write_attribute(hid_t object, const std::string& name, double value) {
  write_scalar(object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

void write_attribute(hid_t object, const std::string& name, std::int64_t value) {
  write_scalar(object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

bool has_attribute(hid_t object, const std::string& name) {
  htri_t exists = H5Aexists(object, name.c_str());
  check_status(exists < 0 ? -1 : 0, fmt::format("cannot look up attribute '{}'", name));
  return exists > 0;
}

std::string read_string_attribute(hid_t object, const std::string& name) {
  AttributeHandle attribute = open_attribute(object, name);
  DatatypeHandle type(check_id(H5Aget_type(attribute.get()), "H5Aget_type"));
  if (H5Tget_class(type.get()) != H5T_STRING) {
    throw Error(fmt::format("attribute '{}' is not a string", name));
  }
  if (H5Tis_variable_str(type.get()) > 0) {
    char* text = nullptr;
    check_status(H5Aread(attribute.get(), type.get(), &text),
                 fmt::format("cannot read attribute '{}'", name));
    std::string value = text != nullptr ? text : "";
    H5free_memory(text);
    return value;
  }
  std::string value(H5Tget_size(type.get()), '\0');
  check_status(H5Aread(attribute.get(), type.get(), value.data()),
               fmt::format("cannot read attribute '{}'", name));
  return value.substr(0, value.find('\0'));
}

double read_double_attribute(hid_t object, const std::string& name) {
  AttributeHandle attribute = open_attribute(object, name);
  double value = 0;
  check_status(H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, &value),
               fmt::format("cannot read attribute '{}'", name));
  return value;
}

std::int64_t read_int64_attribute(hid_t object, const std::string& name) {
  AttributeHandle attribute = open_attribute(object, name);
  std::int64_t value = 0;
  check_status(H5Aread(attribute.get(), H5T_NATIVE_INT64, &value),
               fmt::format("cannot read attribute '{}'", name));
  return value;
}

} // namespace sluice::hdf5
