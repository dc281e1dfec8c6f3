// Walks HDF5's error stack into our exception messages instead of letting HDF5 print it.
#include "sluice/hdf5/error.hpp"

#include <fmt/format.h>

#include <mutex>
#include <vector>

namespace sluice::hdf5 {
namespace {

herr_t collect_frame(unsigned /*depth*/, const H5E_error2_t* frame, void* data) {
  auto* frames = static_cast<std::vector<std::string>*>(data);
  if (frame->desc != nullptr && frame->desc[0] != '\0') {
    frames->push_back(fmt::format("{}: {}", frame->func_name, frame->desc));
  }
  return 0;
}

std::string describe_stack() {
  std::vector<std::string> frames;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_frame, &frames);
  H5Eclear2(H5E_DEFAULT);
  if (frames.empty()) return "no details from HDF5";
  // The innermost frames say what actually went wrong ("file signature not found"); the outer
  // ones only repeat the call chain, so keep at most the last two.
  std::string text;
  std::size_t first = frames.size() > 2 ? frames.size() - 2 : 0;
  for (std::size_t i = frames.size(); i-- > first;) {
    if (!text.empty()) text += "; ";
    text += frames[i];
  }
  return text;
}

} // namespace

void silence_library_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

hid_t check_id(hid_t id, std::string_view what) {
  if (id < 0) throw Error(fmt::format("{} ({})", what, describe_stack()));
  return id;
}

void check_status(herr_t status, std::string_view what) {
  if (status < 0) throw Error(fmt::format("{} ({})", what, describe_stack()));
}

} // namespace sluice::hdf5
