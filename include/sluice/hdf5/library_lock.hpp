// The lock around HDF5 calls made where other threads may call HDF5 too.
#pragma once

#include <mutex>

namespace sluice::hdf5 {

/// The HDF5 library this build links is not thread-safe. Code that may run on several threads at
/// once holds this lock for each stretch of HDF5 calls; it is recursive, so a stretch may call
/// code that takes it again. Single-threaded code pays an uncontended lock.
std::recursive_mutex& library_mutex();

using LibraryLock = std::unique_lock<std::recursive_mutex>;

inline LibraryLock lock_library() { return LibraryLock(library_mutex()); }

} // namespace sluice::hdf5
