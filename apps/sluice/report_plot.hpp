// The run report's per-rank stage timeline, drawn as a PNG for `sluice report --plot`.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>

namespace sluice::app {

struct TimelinePlotOptions {
  int width_px = 1200;
  int lane_height_px = 30;
};

/// Draws one lane per rank with that rank's stages as consecutive bars (coloured by stage, with a
/// legend and an axis in seconds) and thin separators between its partitions inside read_fit,
/// then writes the picture to file as PNG. Throws sluice::Error if the PNG cannot be written.
void write_timeline_png(const nlohmann::json& report, const std::filesystem::path& file,
                        const TimelinePlotOptions& options = {});

} // namespace sluice::app
