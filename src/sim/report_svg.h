// Building blocks of the HTML report (report.h): escaping, formatting numbers for people,
// downsampling long series and a line chart rendered as inline SVG.
//
// The SVG is meant to sit inside an HTML page: it carries no xmlns (nothing in the page may
// reference a URL) and no ids (several charts share a page); styling is inline so it also renders
// on its own.
// Thread-safety: plain functions over values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/report.h"

namespace gpuslice::sim {

// Most points drawn per line; longer series are downsampled (Downsample).
inline constexpr std::size_t kMaxPointsPerLine = 1000;

// Colour-blind-safe line colours: the Okabe–Ito palette without its yellow (too faint on white),
// so 7 colours; index 7 and on repeat the colours with a dash pattern (LineDash).
std::string_view LineColour(std::size_t index);
// SVG stroke-dasharray for line `index`: "" (solid) for the first 7, then dash patterns.
std::string_view LineDash(std::size_t index);
inline constexpr std::string_view kMutedColour = "#b8b8b8";  // lines that are context, not data

// Text safe inside HTML/SVG elements and quoted attributes: & < > " ' become entities; bytes that
// are not valid UTF-8 and control characters other than tab/newline become U+FFFD.
std::string EscapeXml(std::string_view text);
// At most `max_code_points` code points of `text`: when it is longer, its head and tail joined by
// "…" (the end of a name often tells most: "static:…:all-balanced").
std::string Ellipsize(std::string_view text, std::size_t max_code_points);

// 0.873 -> "87.3 %"; not finite -> "–".
std::string FormatPercent(double ratio);
// Seconds for people: "0 s", "250 ms", "42 s", "1.5 min", "1.2 h", "2.3 d"; not finite -> "–".
std::string FormatDuration(double seconds);
// 1234567 -> "1,234,567".
std::string FormatCount(std::int64_t n);

// At most `max_points` of the finite points of `points` (taken in the given order, which should
// be by x), always keeping the first and the last. Min–max bucketing: the points between the ends
// are cut into (max_points − 2) / 2 runs of equal length and each run keeps its lowest and its
// highest point, so peaks and troughs survive. Fewer points than the limit: returned as they are.
std::vector<SeriesPoint> Downsample(const std::vector<SeriesPoint>& points,
                                    std::size_t max_points = kMaxPointsPerLine);

struct ChartAxis {
  enum class Format { kNumber, kPercent, kDuration };  // tick labels: 12.5, 40 %, 10 min
  std::string label;
  Format format = Format::kNumber;
  bool log = false;  // log scale; values <= 0 are drawn at the axis minimum
  // Data-driven ends sit at the data instead of being rounded out to the next tick (x axes over
  // time: a 168-hour trace ends at 168, not 200).
  bool tight = false;
  // Fixed ends of the axis; otherwise they come from the data, rounded out to ticks.
  std::optional<double> min, max;
  // Values a data-driven axis stretches to cover: {0} for usage, or the range shared by several
  // small multiples.
  std::vector<double> include;
};

struct ChartLine {
  std::string label;
  std::vector<SeriesPoint> points;  // drawn in x order; non-finite points skipped
  std::string_view colour = "#000000";
  std::string_view dash;  // SVG stroke-dasharray, "" for solid
  double width = 2;
  // Empirical-CDF style: a staircase that starts at y=0 below the first point and runs on to the
  // right edge of the chart after the last one.
  bool step = false;
};

// A dashed horizontal line across the plot, named in the legend ("upper bound 92.0 %").
struct ChartRule {
  double y = 0;
  std::string label;
};

struct LineChart {
  std::string title;  // the SVG's accessible name and tooltip
  ChartAxis x, y;
  std::vector<ChartLine> lines;
  std::vector<ChartRule> rules;
  bool legend = true;  // a legend to the right of the plot; off when the page shows one
  int width = 760, height = 340;
};

// One <svg>…</svg> element. Lines longer than kMaxPointsPerLine are downsampled; a line with one
// point is drawn as a dot; a chart with nothing to draw says "no data".
std::string RenderLineChart(const LineChart& chart);

}  // namespace gpuslice::sim
