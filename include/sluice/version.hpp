// The Sluice version string, recorded in every snapshot's lineage.
#pragma once

#include <string_view>

namespace sluice {

/// The version of this build, e.g. "0.1.0".
std::string_view version();

} // namespace sluice
