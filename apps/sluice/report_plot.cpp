// Timeline drawing with cairo: real text and PNG output from one well-kept library.
#include "report_plot.hpp"

#include "sluice/error.hpp"

#include <cairo/cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sluice::app {
namespace {

using Json = nlohmann::json;

// The order in which run_job times its stages; any stage a later version adds goes after these.
constexpr std::array<const char*, 6> known_stage_order = {"discover", "plan",  "read_fit",
                                                          "reduce",   "solve", "publish"};

struct Rgb {
  double red, green, blue;
};

// Tableau 10: distinguishable, and still readable when printed in grey.
constexpr std::array<Rgb, 10> palette = {{{0.306, 0.475, 0.655},
                                          {0.949, 0.557, 0.169},
                                          {0.349, 0.631, 0.310},
                                          {0.882, 0.341, 0.349},
                                          {0.690, 0.478, 0.631},
                                          {0.612, 0.459, 0.373},
                                          {0.463, 0.718, 0.698},
                                          {0.929, 0.788, 0.282},
                                          {1.000, 0.616, 0.655},
                                          {0.729, 0.690, 0.675}}};

struct StageBar {
  std::string name;
  double start_s = 0;
  double seconds = 0;
};

struct Lane {
  std::int64_t rank = 0;
  std::vector<StageBar> bars;
  std::vector<double> partition_seconds; // in processing order, laid out inside read_fit
  double end_s = 0;
};

std::vector<std::string> ordered_stage_names(const Json& stages) {
  std::vector<std::string> names;
  for (const char* name : known_stage_order) {
    if (stages.contains(name))
      names.emplace_back(name);
  }
  for (const auto& [name, seconds] : stages.items()) {
    if (std::find(names.begin(), names.end(), name) == names.end())
      names.push_back(name);
  }
  return names;
}

double number_or_zero(const Json& value) { return value.is_number() ? value.get<double>() : 0.0; }

std::vector<Lane> build_lanes(const Json& report) {
  std::map<std::int64_t, std::vector<double>> partitions_by_rank;
  if (report.contains("partitions") && report["partitions"].is_array()) {
    // Ranks process their partitions in catalog order, which is the order of this list.
    for (const Json& partition : report["partitions"]) {
      partitions_by_rank[partition.value("rank", std::int64_t{-1})].push_back(
          partition.value("seconds", 0.0));
    }
  }
  const Json root_stages = report.value("stages", Json::object());
  std::vector<Lane> lanes;
  for (const Json& rank : report["ranks"]) {
    Lane lane;
    lane.rank = rank.value("rank", std::int64_t{0});
    Json stages = rank.value("stages", Json::object());
    // Solve and publish happen on the root after the per-rank timers were gathered, so they
    // are only in the root's stage list; drawing them on rank 0 shows where the run's time went.
    if (lane.rank == 0 && root_stages.is_object()) {
      for (const auto& [name, seconds] : root_stages.items()) {
        if (!stages.contains(name))
          stages[name] = seconds;
      }
    }
    for (const std::string& name : ordered_stage_names(stages)) {
      const double seconds = std::max(0.0, number_or_zero(stages[name]));
      lane.bars.push_back({name, lane.end_s, seconds});
      lane.end_s += seconds;
    }
    lane.partition_seconds = partitions_by_rank[lane.rank];
    lanes.push_back(std::move(lane));
  }
  return lanes;
}

// A tick step of 1, 2 or 5 × 10^k giving about `target` ticks over [0, span].
double tick_step(double span, int target) {
  const double raw = span / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double factor : {1.0, 2.0, 5.0}) {
    if (factor * magnitude >= raw)
      return factor * magnitude;
  }
  return 10.0 * magnitude;
}

struct CairoSurfaceDeleter {
  void operator()(cairo_surface_t* surface) const { cairo_surface_destroy(surface); }
};
struct CairoDeleter {
  void operator()(cairo_t* context) const { cairo_destroy(context); }
};

Rgb pale(const Rgb& colour) {
  auto towards_white = [](double channel) { return channel + 0.6 * (1.0 - channel); };
  return {towards_white(colour.red), towards_white(colour.green), towards_white(colour.blue)};
}

void set_colour(cairo_t* cr, const Rgb& colour) {
  cairo_set_source_rgb(cr, colour.red, colour.green, colour.blue);
}

double text_width(cairo_t* cr, const std::string& text) {
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  return extents.x_advance;
}

void draw_text(cairo_t* cr, double x, double baseline_y, const std::string& text) {
  cairo_move_to(cr, x, baseline_y);
  cairo_show_text(cr, text.c_str());
}

} // namespace

void write_timeline_png(const Json& report, const std::filesystem::path& file,
                        const TimelinePlotOptions& options) {
  const std::vector<Lane> lanes = build_lanes(report);
  std::vector<std::string>
      stage_names; // every stage seen, in drawing order, for colours and legend
  std::map<std::string, double> slowest_s;
  for (const Lane& lane : lanes) {
    for (const StageBar& bar : lane.bars) {
      if (std::find(stage_names.begin(), stage_names.end(), bar.name) == stage_names.end()) {
        stage_names.push_back(bar.name);
      }
      slowest_s[bar.name] = std::max(slowest_s[bar.name], bar.seconds);
    }
  }
  // Known stages keep their colour from run to run, so two plots can be compared at a glance.
  std::vector<std::string> unknown_stages;
  for (const std::string& name : stage_names) {
    if (std::find(known_stage_order.begin(), known_stage_order.end(), name) ==
        known_stage_order.end()) {
      unknown_stages.push_back(name);
    }
  }
  auto colour_of = [&](const std::string& name) {
    const auto known = std::find(known_stage_order.begin(), known_stage_order.end(), name);
    const auto index = known != known_stage_order.end()
                           ? static_cast<std::size_t>(known - known_stage_order.begin())
                           : known_stage_order.size() +
                                 static_cast<std::size_t>(
                                     std::find(unknown_stages.begin(), unknown_stages.end(), name) -
                                     unknown_stages.begin());
    return palette[index % palette.size()];
  };

  double span_s = 0;
  for (const Lane& lane : lanes)
    span_s = std::max(span_s, lane.end_s);
  if (span_s <= 0)
    span_s = 1.0; // an empty report still gets a readable, empty axis
  const double step_s = tick_step(span_s, 8);
  const double axis_end_s = std::ceil(span_s / step_s - 1e-9) * step_s;

  const int width = options.width_px;
  const int lane_height = options.lane_height_px;
  auto lane_summary = [](const Lane& lane) {
    return fmt::format("{:.3f} s, {} partitions", lane.end_s, lane.partition_seconds.size());
  };
  // The summaries to the right of the bars decide the right margin, so none is cut off.
  double widest_summary = 0;
  {
    std::unique_ptr<cairo_surface_t, CairoSurfaceDeleter> scratch(
        cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1));
    std::unique_ptr<cairo_t, CairoDeleter> measure(cairo_create(scratch.get()));
    cairo_select_font_face(measure.get(), "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(measure.get(), 12);
    for (const Lane& lane : lanes)
      widest_summary = std::max(widest_summary, text_width(measure.get(), lane_summary(lane)));
  }
  const double left = 80, right = std::max(40.0, widest_summary + 20), title_height = 56;
  const double axis_height = 46;
  const int legend_columns = 3;
  const double legend_row_height = 22;
  const auto legend_rows =
      static_cast<double>((stage_names.size() + legend_columns - 1) / legend_columns);
  const double lanes_top = title_height;
  const double lanes_bottom = lanes_top + lane_height * static_cast<double>(lanes.size());
  const int height =
      static_cast<int>(lanes_bottom + axis_height + legend_rows * legend_row_height + 20);
  const double plot_width = width - left - right;
  auto x_of = [&](double seconds) { return left + plot_width * seconds / axis_end_s; };

  std::unique_ptr<cairo_surface_t, CairoSurfaceDeleter> surface(
      cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height));
  std::unique_ptr<cairo_t, CairoDeleter> context(cairo_create(surface.get()));
  cairo_t* cr = context.get();
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);

  // Title: what ran, so a PNG taken out of its directory still says what it shows.
  cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
  cairo_set_font_size(cr, 16);
  draw_text(cr, left, 24,
            fmt::format("{} v{}: {} rows on {} ranks x {} threads in {:.3f} s",
                        report.value("model_name", "?"), report.value("version", 0),
                        report.value("rows", 0), report.value("num_ranks", 0),
                        report.value("threads_per_rank", 0), report.value("seconds", 0.0)));
  cairo_set_font_size(cr, 12);
  cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
  draw_text(cr, left, 44,
            fmt::format("{:.3g} rows/s, load imbalance {:.3f}. In read_fit, white lines separate "
                        "the rank's partitions; the pale part is time outside partition reads",
                        report.value("rows_per_second", 0.0), report.value("load_imbalance", 1.0)));

  // Vertical grid lines first, so the bars sit on top of them.
  cairo_set_line_width(cr, 1);
  cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
  for (double t = 0; t <= axis_end_s + step_s / 2; t += step_s) {
    const double x = std::round(x_of(t)) + 0.5;
    cairo_move_to(cr, x, lanes_top);
    cairo_line_to(cr, x, lanes_bottom);
  }
  cairo_stroke(cr);

  const double bar_height = lane_height * 0.7;
  cairo_set_font_size(cr, 12);
  for (std::size_t i = 0; i < lanes.size(); ++i) {
    const Lane& lane = lanes[i];
    const double top =
        lanes_top + lane_height * static_cast<double>(i) + (lane_height - bar_height) / 2;
    const double text_y = top + bar_height / 2 + 4;
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    const std::string label = fmt::format("rank {}", lane.rank);
    draw_text(cr, left - 8 - text_width(cr, label), text_y, label);
    for (const StageBar& bar : lane.bars) {
      set_colour(cr, colour_of(bar.name));
      // At least one pixel wide, so a stage of a few milliseconds is still visible.
      const double x0 = x_of(bar.start_s);
      cairo_rectangle(cr, x0, top, std::max(1.0, x_of(bar.start_s + bar.seconds) - x0), bar_height);
      cairo_fill(cr);
      if (bar.name != "read_fit" || lane.partition_seconds.empty())
        continue;
      // The per-partition timers leave out what the rank did between and after its partitions
      // (progress, waiting for the others); that share of read_fit is drawn pale.
      double busy_s = 0;
      for (double seconds : lane.partition_seconds)
        busy_s += std::max(0.0, seconds);
      const double bar_end_x = x_of(bar.start_s + bar.seconds);
      const double busy_end_x = std::min(x_of(bar.start_s + busy_s), bar_end_x);
      if (bar_end_x - busy_end_x >= 1) {
        set_colour(cr, pale(colour_of(bar.name)));
        cairo_rectangle(cr, busy_end_x, top, bar_end_x - busy_end_x, bar_height);
        cairo_fill(cr);
      }
      // Separators at the cumulative partition times, skipped where they would merge into a
      // solid block.
      cairo_set_source_rgb(cr, 1, 1, 1);
      double elapsed_s = 0;
      double last_x = x0;
      for (double seconds : lane.partition_seconds) {
        elapsed_s += std::max(0.0, seconds);
        const double x = std::min(x_of(bar.start_s + elapsed_s), bar_end_x);
        if (x - last_x < 3 || bar_end_x - x < 1)
          continue;
        cairo_move_to(cr, std::round(x) + 0.5, top);
        cairo_line_to(cr, std::round(x) + 0.5, top + bar_height);
        last_x = x;
      }
      cairo_stroke(cr);
    }
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    draw_text(cr, x_of(lane.end_s) + 6, text_y, lane_summary(lane));
  }

  // Axis in seconds.
  cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
  cairo_move_to(cr, left, lanes_bottom + 0.5);
  cairo_line_to(cr, left + plot_width, lanes_bottom + 0.5);
  cairo_stroke(cr);
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step_s) + 1e-9)));
  for (double t = 0; t <= axis_end_s + step_s / 2; t += step_s) {
    const double x = std::round(x_of(t)) + 0.5;
    cairo_move_to(cr, x, lanes_bottom);
    cairo_line_to(cr, x, lanes_bottom + 5);
    cairo_stroke(cr);
    const std::string label = fmt::format("{:.{}f}", t, decimals);
    draw_text(cr, x - text_width(cr, label) / 2, lanes_bottom + 18, label);
  }
  const std::string axis_label = "seconds since the start of the run";
  draw_text(cr, left + plot_width / 2 - text_width(cr, axis_label) / 2, lanes_bottom + 36,
            axis_label);

  // Legend: stage colour, name and its slowest rank's time.
  const double legend_top = lanes_bottom + axis_height;
  const double legend_column_width = plot_width / legend_columns;
  for (std::size_t s = 0; s < stage_names.size(); ++s) {
    const double x = left + legend_column_width * static_cast<double>(s % legend_columns);
    const double y = legend_top + legend_row_height * static_cast<double>(s / legend_columns);
    set_colour(cr, colour_of(stage_names[s]));
    cairo_rectangle(cr, x, y, 14, 14);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    draw_text(cr, x + 20, y + 12,
              fmt::format("{} (slowest rank {:.4f} s)", stage_names[s], slowest_s[stage_names[s]]));
  }

  cairo_surface_flush(surface.get());
  if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
    throw Error(
        fmt::format("cannot draw the timeline: {}", cairo_status_to_string(cairo_status(cr))));
  }
  const cairo_status_t written = cairo_surface_write_to_png(surface.get(), file.c_str());
  if (written != CAIRO_STATUS_SUCCESS) {
    throw Error(
        fmt::format("cannot write plot {}: {}", file.string(), cairo_status_to_string(written)));
  }
}

} // namespace sluice::app
