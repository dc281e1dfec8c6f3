// check_name_heap: an old-style group's local heap, checked from the file's bytes before libhdf5 loads it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace sluice::lake {

/// An old-style group (a symbol table, as h5py writes by default) keeps its member names in a
/// local heap. libhdf5 1.10 allocates the heap's data segment at the size the file declares before
/// it reads it (a 6 KB file declaring 1.8 GB gets a 1.8 GB allocation), and reads it from an
/// address it does not check (an undefined address crashes the library). This reads the group's
/// symbol-table message from its object header (version 1 or 2, continuation blocks included) and
/// the heap's header, straight from the file, and throws DataError unless the heap and its data
/// segment lie inside the file and its free list ends (libhdf5 follows a cyclic one forever,
/// allocating as it goes). A group without a symbol-table message (new-style links), a file
/// whose addresses are not 8 bytes wide, or a header this reader cannot follow is left to libhdf5.
///
/// `header_address` is the group's object-header address as HDF5 reports it (H5Oget_info2),
/// relative to `base_address` (the user block's size); `group` names it in the message.
void check_name_heap(const std::filesystem::path& path, std::int64_t file_bytes,
                     std::uint64_t base_address, std::uint64_t header_address,
                     const std::string& group);

} // namespace sluice::lake
