// The process-wide HDF5 lock.
#include "sluice/hdf5/library_lock.hpp"

namespace sluice::hdf5 {

std::recursive_mutex& library_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

} // namespace sluice::hdf5
