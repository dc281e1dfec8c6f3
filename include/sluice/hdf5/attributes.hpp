// Scalar attributes (strings, doubles, integers) on HDF5 objects: snapshot metadata.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>

namespace sluice::hdf5 {

void write_attribute(hid_t object, const std::string& name, const std::string& value);
void write_attribute(hid_t object, const std::string& name, const char* value);
void write_attribute(hid_t object, const std::string& name, double value);
void write_attribute(hid_t object, const std::string& name, std::int64_t value);

bool has_attribute(hid_t object, const std::string& name);
std::string read_string_attribute(hid_t object, const std::string& name);
double read_double_attribute(hid_t object, const std::string& name);
std::int64_t read_int64_attribute(hid_t object, const std::string& name);

} // namespace sluice::hdf5
