#include "sim/report_svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <limits>

namespace gpuslice::sim {
namespace {

constexpr std::array<std::string_view, 7> kPalette = {
    "#0072B2",  // blue
    "#E69F00",  // orange
    "#009E73",  // bluish green
    "#D55E00",  // vermillion
    "#CC79A7",  // reddish purple
    "#56B4E9",  // sky blue
    "#000000",  // black
};
constexpr std::array<std::string_view, 4> kDashes = {"", "8 4", "2 3", "8 3 2 3"};
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kFontFamily =
    "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif";

// Length of the valid UTF-8 sequence starting at s[i], or 0 if there is none (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  }
  return n;
}

// Tick label for `value` on an axis whose ticks are `step` apart: as many decimals as the step
// needs, never "-0".
std::string FormatTickNumber(double value, double step) {
  int decimals = 0;
  if (step > 0 && step < 1)
    decimals = std::clamp(static_cast<int>(std::ceil(-std::log10(step) - 1e-9)), 0, 6);
  if (std::fabs(value) < step * 1e-9) value = 0;
  std::string text = fmt::format("{:.{}f}", value, decimals);
  if (text.size() > 4 && decimals == 0) {  // thousands separators on big round numbers
    const bool negative = text[0] == '-';
    text = (negative ? "-" : "") + FormatCount(std::llround(std::fabs(value)));
  }
  return text;
}

// Trims a trailing ".0" so durations read "10 min", not "10.0 min".
std::string OneDecimal(double v) {
  std::string s = fmt::format("{:.1f}", v);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

}  // namespace

std::string_view LineColour(std::size_t index) {
  return kPalette[index % kPalette.size()];
}

std::string_view LineDash(std::size_t index) {
  return kDashes[(index / kPalette.size()) % kDashes.size()];
}

std::string EscapeXml(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = Utf8SequenceLength(text, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    const char c = text[i++];
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\t':
      case '\n':
      case '\r': out += c; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
          out += kReplacement;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string Ellipsize(std::string_view text, std::size_t max_code_points) {
  // Byte offset where each code point starts (an invalid byte counts as one).
  std::vector<std::size_t> starts;
  for (std::size_t i = 0; i < text.size();) {
    starts.push_back(i);
    const std::size_t n = Utf8SequenceLength(text, i);
    i += n == 0 ? 1 : n;
  }
  if (starts.size() <= max_code_points) return std::string(text);
  if (max_code_points == 0) return "";
  // Keep the head and the tail: "static:/long/path/parted.yaml:all-balanced" keeps its config.
  const std::size_t tail = (max_code_points - 1) / 2, head = max_code_points - 1 - tail;
  return std::string(text.substr(0, starts[head])) + "\xE2\x80\xA6" +  // …
         std::string(text.substr(starts[starts.size() - tail]));
}

std::string FormatPercent(double ratio) {
  if (!std::isfinite(ratio)) return "\xE2\x80\x93";  // –
  return fmt::format("{:.1f} %", ratio * 100);
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds)) return "\xE2\x80\x93";
  const double a = std::fabs(seconds);
  if (a == 0) return "0 s";
  if (a < 1) return fmt::format("{:.0f} ms", seconds * 1000);
  if (a < 60) return OneDecimal(seconds) + " s";
  if (a < 3600) return OneDecimal(seconds / 60) + " min";
  if (a < 86400) return OneDecimal(seconds / 3600) + " h";
  return OneDecimal(seconds / 86400) + " d";
}

std::string FormatCount(std::int64_t n) {
  const bool negative = n < 0;
  // Through unsigned so that INT64_MIN has a magnitude.
  std::uint64_t m = negative ? 0 - static_cast<std::uint64_t>(n) : static_cast<std::uint64_t>(n);
  std::string digits = std::to_string(m);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return negative ? "-" + out : out;
}

std::vector<SeriesPoint> Downsample(const std::vector<SeriesPoint>& points, std::size_t max_points) {
  std::vector<SeriesPoint> finite;
  finite.reserve(points.size());
  std::copy_if(points.begin(), points.end(), std::back_inserter(finite),
               [](const SeriesPoint& p) { return std::isfinite(p.x) && std::isfinite(p.y); });
  const std::size_t n = finite.size();
  if (n <= max_points || n <= 2) return finite;
  if (max_points < 4)
    return max_points < 2 ? std::vector{finite.front()} : std::vector{finite.front(), finite.back()};

  std::vector<SeriesPoint> out;
  out.reserve(max_points);
  out.push_back(finite.front());
  const std::size_t interior = n - 2, buckets = (max_points - 2) / 2;
  for (std::size_t b = 0; b < buckets; ++b) {
    const std::size_t begin = 1 + b * interior / buckets, end = 1 + (b + 1) * interior / buckets;
    if (begin >= end) continue;
    std::size_t lo = begin, hi = begin;
    for (std::size_t i = begin + 1; i < end; ++i) {
      if (finite[i].y < finite[lo].y) lo = i;
      if (finite[i].y > finite[hi].y) hi = i;
    }
    out.push_back(finite[std::min(lo, hi)]);
    if (lo != hi) out.push_back(finite[std::max(lo, hi)]);
  }
  out.push_back(finite.back());
  return out;
}

// ---- Scales and ticks -------------------------------------------------------------------------

namespace {

struct Tick {
  double value;
  std::string label;
};

// Where an axis runs (in data units) and its labelled ticks.
struct Domain {
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<Tick> ticks;
};

// The range of the finite data along one axis, and its smallest positive value (for log axes).
struct Extent {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  double min_positive = std::numeric_limits<double>::infinity();
  void Add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    if (v > 0) min_positive = std::min(min_positive, v);
  }
  bool empty() const { return lo > hi; }
};

// 1, 2 or 5 × 10^k: the round step that cuts `span` into about `target` pieces.
double NiceStep(double span, int target) {
  const double raw = span / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / magnitude;
  return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * magnitude;
}

// Seconds per unit for a linear duration axis reaching `extent` seconds.
std::pair<double, std::string_view> DurationUnit(double extent) {
  if (extent < 120) return {1, "s"};
  if (extent < 2 * 3600) return {60, "min"};
  if (extent < 2 * 86400) return {3600, "h"};
  return {86400, "d"};
}

std::string TickLabel(ChartAxis::Format format, double value, double step, double unit,
                      std::string_view unit_name) {
  switch (format) {
    case ChartAxis::Format::kPercent: return FormatTickNumber(value * 100, step * 100) + " %";
    case ChartAxis::Format::kDuration:
      return FormatTickNumber(value / unit, step / unit) + " " + std::string(unit_name);
    case ChartAxis::Format::kNumber: break;
  }
  return FormatTickNumber(value, step);
}

Domain LinearDomain(const ChartAxis& axis, const Extent& data, int target_ticks) {
  double lo = axis.min.value_or(data.empty() ? 0 : data.lo);
  double hi = axis.max.value_or(data.empty() ? 1 : data.hi);
  if (!(hi > lo)) {  // one value (or none): open up around it
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    if (!axis.min && lo != 0) lo -= pad;
    if (!axis.max) hi += pad;
    if (!(hi > lo)) hi = lo + pad;  // both ends fixed, and equal or inverted
  }
  const auto [unit, unit_name] = axis.format == ChartAxis::Format::kDuration
                                     ? DurationUnit(std::max(std::fabs(lo), std::fabs(hi)))
                                     : std::pair<double, std::string_view>{1, ""};
  const double step = NiceStep((hi - lo) / unit, target_ticks) * unit;
  if (!axis.min && !axis.tight) lo = std::floor(lo / step) * step;
  if (!axis.max && !axis.tight) hi = std::ceil(hi / step) * step;
  Domain d{lo, hi, false, {}};
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    d.ticks.push_back({t, TickLabel(axis.format, t, step, unit, unit_name)});
  }
  return d;
}

// Log ticks: round durations (1 s, 10 s, 1 min, 10 min, 1 h, 1 d, …) or powers of ten.
std::vector<double> LogTickCandidates(ChartAxis::Format format) {
  if (format == ChartAxis::Format::kDuration) {
    return {0.001, 0.01, 0.1, 1, 10, 60, 600, 3600, 86400, 864000, 8640000, 86400000};
  }
  std::vector<double> v;
  for (int e = -6; e <= 12; ++e) v.push_back(std::pow(10.0, e));
  return v;
}

std::string LogTickLabel(ChartAxis::Format format, double value) {
  switch (format) {
    case ChartAxis::Format::kPercent: return fmt::format("{:g} %", value * 100);
    case ChartAxis::Format::kDuration: return FormatDuration(value);
    case ChartAxis::Format::kNumber: break;
  }
  return value >= 1 ? FormatCount(static_cast<std::int64_t>(value)) : fmt::format("{:g}", value);
}

Domain LogDomain(const ChartAxis& axis, const Extent& data) {
  const std::vector<double> candidates = LogTickCandidates(axis.format);
  const bool has_positive = std::isfinite(data.min_positive);
  double lo = axis.min.value_or(has_positive ? data.min_positive : 1);
  double hi = axis.max.value_or(has_positive ? std::max(data.hi, data.min_positive) : 10);
  // Round out to the nearest ticks beyond the data (candidates are ascending).
  if (!axis.min) {
    const auto it = std::upper_bound(candidates.begin(), candidates.end(), lo * (1 + 1e-9));
    if (it != candidates.begin()) lo = *std::prev(it);
  }
  if (!axis.max) {
    const auto it = std::lower_bound(candidates.begin(), candidates.end(), hi * (1 - 1e-9));
    if (it != candidates.end()) hi = *it;
  }
  if (!(lo > 0)) lo = 1e-3;
  if (!(hi > lo)) hi = lo * 10;
  Domain d{lo, hi, true, {}};
  for (double c : candidates) {
    if (c >= lo * (1 - 1e-9) && c <= hi * (1 + 1e-9)) d.ticks.push_back({c, LogTickLabel(axis.format, c)});
  }
  return d;
}

// `length_px` is how long the axis is drawn; ticks stay at least `min_gap_px` apart (x labels are
// wider than y labels are tall).
Domain BuildDomain(const ChartAxis& axis, Extent data, double length_px, double min_gap_px) {
  for (double v : axis.include) data.Add(v);
  const int target = std::max(2, static_cast<int>(length_px / (min_gap_px * 1.3)));
  Domain d = axis.log ? LogDomain(axis, data) : LinearDomain(axis, data, target);
  const std::size_t max_ticks = std::max<std::size_t>(2, static_cast<std::size_t>(length_px / min_gap_px));
  if (d.ticks.size() > max_ticks) {  // log axes over many decades: keep every k-th tick
    const std::size_t k = (d.ticks.size() + max_ticks - 1) / max_ticks;
    std::vector<Tick> kept;
    for (std::size_t i = 0; i < d.ticks.size(); i += k) kept.push_back(std::move(d.ticks[i]));
    d.ticks = std::move(kept);
  }
  return d;
}

// Maps data values onto pixels [p0, p1] (p1 < p0 for y, which grows downwards), clamped to the
// plot so that nothing is drawn outside it.
struct Scale {
  Domain domain;
  double p0, p1;
  double operator()(double v) const {
    double t = 0;
    if (domain.log) {
      t = v <= 0 ? 0
                 : (std::log10(v) - std::log10(domain.lo)) / (std::log10(domain.hi) - std::log10(domain.lo));
    } else {
      t = (v - domain.lo) / (domain.hi - domain.lo);
    }
    if (!std::isfinite(t)) t = 0;
    return p0 + std::clamp(t, 0.0, 1.0) * (p1 - p0);
  }
};

}  // namespace

// ---- The chart --------------------------------------------------------------------------------
namespace {

constexpr double kMarginLeft = 70, kMarginTop = 14, kMarginBottom = 50, kMarginRight = 18;
constexpr double kLegendWidth = 210, kLegendRowPx = 20;
constexpr std::size_t kLegendChars = 28;
constexpr double kMinTickGapXPx = 64, kMinTickGapYPx = 34;
constexpr std::string_view kAxisColour = "#444444", kGridColour = "#e6e6e6", kRuleColour = "#555555";

// The plot area inside the SVG, in pixels.
struct Frame {
  double left, top, width, height;
  double right() const { return left + width; }
  double bottom() const { return top + height; }
};

// What RenderLineChart draws of a line: its finite points in x order, at most kMaxPointsPerLine.
std::vector<SeriesPoint> PrepareLine(const ChartLine& line) {
  std::vector<SeriesPoint> points;
  points.reserve(line.points.size());
  std::copy_if(line.points.begin(), line.points.end(), std::back_inserter(points),
               [](const SeriesPoint& p) { return std::isfinite(p.x) && std::isfinite(p.y); });
  std::stable_sort(points.begin(), points.end(),
                   [](const SeriesPoint& a, const SeriesPoint& b) { return a.x < b.x; });
  return Downsample(points, kMaxPointsPerLine);
}

void DrawGrid(std::string& out, const Scale& xs, const Scale& ys, const Frame& f) {
  auto it = std::back_inserter(out);
  fmt::format_to(it, R"(<g stroke="{}" stroke-width="1">)", kGridColour);
  for (const Tick& t : ys.domain.ticks) {
    const double y = ys(t.value);
    fmt::format_to(it, R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>)", f.left, y, f.right(), y);
  }
  for (const Tick& t : xs.domain.ticks) {
    const double x = xs(t.value);
    fmt::format_to(it, R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>)", x, f.top, x, f.bottom());
  }
  out += "</g>";
}

void DrawAxes(std::string& out, const LineChart& chart, const Scale& xs, const Scale& ys, const Frame& f) {
  auto it = std::back_inserter(out);
  fmt::format_to(it, R"(<g stroke="{}" stroke-width="1">)", kAxisColour);
  fmt::format_to(it, R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>)", f.left, f.bottom(),
                 f.right(), f.bottom());
  fmt::format_to(it, R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>)", f.left, f.top, f.left,
                 f.bottom());
  for (const Tick& t : xs.domain.ticks) {
    const double x = xs(t.value);
    fmt::format_to(it, R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>)", x, f.bottom(), x,
                   f.bottom() + 5);
  }
  for (const Tick& t : ys.domain.ticks) {
    const double y = ys(t.value);
    fmt::format_to(it, R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>)", f.left - 5, y, f.left,
                   y);
  }
  out += "</g>";
  fmt::format_to(it, R"(<g fill="{}">)", kAxisColour);
  for (const Tick& t : xs.domain.ticks) {
    fmt::format_to(it, R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle">{}</text>)", xs(t.value),
                   f.bottom() + 18, EscapeXml(t.label));
  }
  for (const Tick& t : ys.domain.ticks) {
    fmt::format_to(it, R"(<text x="{:.1f}" y="{:.1f}" text-anchor="end">{}</text>)", f.left - 8,
                   ys(t.value) + 4, EscapeXml(t.label));
  }
  fmt::format_to(it, R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" font-weight="600">{}</text>)",
                 f.left + f.width / 2, f.bottom() + 40, EscapeXml(chart.x.label));
  fmt::format_to(
      it,
      R"~(<text transform="translate(16 {:.1f}) rotate(-90)" text-anchor="middle" font-weight="600">{}</text>)~",
      f.top + f.height / 2, EscapeXml(chart.y.label));
  out += "</g>";
}

std::string StrokeAttributes(std::string_view colour, std::string_view dash, double width) {
  std::string s = fmt::format(R"(fill="none" stroke="{}" stroke-width="{:g}")", EscapeXml(colour), width);
  if (!dash.empty()) s += fmt::format(R"( stroke-dasharray="{}")", EscapeXml(dash));
  return s;
}

void DrawLine(std::string& out, const ChartLine& line, const std::vector<SeriesPoint>& points,
              const Scale& xs, const Scale& ys, const Frame& f) {
  if (points.empty()) return;
  auto it = std::back_inserter(out);
  if (points.size() == 1 && !line.step) {
    fmt::format_to(it, R"(<circle cx="{:.1f}" cy="{:.1f}" r="3.5" fill="{}"/>)", xs(points[0].x),
                   ys(points[0].y), EscapeXml(line.colour));
    return;
  }
  fmt::format_to(it, R"(<polyline {} stroke-linejoin="round" points=")",
                 StrokeAttributes(line.colour, line.dash, line.width));
  double previous_y = ys(0);
  for (const SeriesPoint& p : points) {
    const double x = xs(p.x), y = ys(p.y);
    if (line.step) fmt::format_to(it, "{:.1f},{:.1f} ", x, previous_y);
    fmt::format_to(it, "{:.1f},{:.1f} ", x, y);
    previous_y = y;
  }
  if (line.step) fmt::format_to(it, "{:.1f},{:.1f} ", f.right(), previous_y);
  out.back() = '"';
  out += "/>";
}

// One legend row: a short stroke sample and the (possibly shortened) label, full text on hover.
void DrawLegendRow(std::string& out, double x, double y, std::string_view label, std::string_view stroke) {
  auto it = std::back_inserter(out);
  fmt::format_to(it, R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" {}/>)", x, y, x + 26, y,
                 stroke);
  const std::string shown = Ellipsize(label, kLegendChars);
  fmt::format_to(it, R"(<text x="{:.1f}" y="{:.1f}">)", x + 32, y + 4);
  if (shown.size() != label.size()) fmt::format_to(it, "<title>{}</title>", EscapeXml(label));
  fmt::format_to(it, "{}</text>", EscapeXml(shown));
}

std::vector<std::pair<std::string_view, std::string>> LegendEntries(const LineChart& chart) {
  std::vector<std::pair<std::string_view, std::string>> entries;
  for (const ChartLine& line : chart.lines) {
    if (!line.label.empty()) entries.emplace_back(line.label, StrokeAttributes(line.colour, line.dash, 2.5));
  }
  for (const ChartRule& rule : chart.rules) {
    entries.emplace_back(rule.label, StrokeAttributes(kRuleColour, "6 4", 1.5));
  }
  return entries;
}

}  // namespace

std::string RenderLineChart(const LineChart& chart) {
  const auto legend = chart.legend ? LegendEntries(chart) : decltype(LegendEntries(chart)){};
  const double width = std::max(chart.width, 240 + (chart.legend ? static_cast<int>(kLegendWidth) : 0));
  const double height =
      std::max({static_cast<double>(chart.height), 160.0,
                kMarginTop + kMarginBottom + kLegendRowPx * static_cast<double>(legend.size())});
  const Frame f{kMarginLeft, kMarginTop,
                width - kMarginLeft - kMarginRight - (chart.legend ? kLegendWidth : 0),
                height - kMarginTop - kMarginBottom};

  std::vector<std::vector<SeriesPoint>> prepared;
  Extent xe, ye;
  for (const ChartLine& line : chart.lines) {
    prepared.push_back(PrepareLine(line));
    for (const SeriesPoint& p : prepared.back()) xe.Add(p.x), ye.Add(p.y);
    if (line.step && !prepared.back().empty()) ye.Add(0);
  }
  const bool has_data = !xe.empty();
  for (const ChartRule& rule : chart.rules) ye.Add(rule.y);
  const Scale xs{BuildDomain(chart.x, xe, f.width, kMinTickGapXPx), f.left, f.right()};
  const Scale ys{BuildDomain(chart.y, ye, f.height, kMinTickGapYPx), f.bottom(), f.top};

  std::string out;
  auto it = std::back_inserter(out);
  fmt::format_to(it,
                 R"(<svg class="chart" viewBox="0 0 {0:g} {1:g}" width="{0:g}" height="{1:g}" role="img" )"
                 R"(aria-label="{2}" font-family="{3}" font-size="12"><title>{2}</title>)",
                 width, height, EscapeXml(chart.title), kFontFamily);
  DrawGrid(out, xs, ys, f);
  DrawAxes(out, chart, xs, ys, f);
  for (const ChartRule& rule : chart.rules) {
    const double y = ys(rule.y);
    fmt::format_to(it, R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" {}/>)", f.left, y, f.right(),
                   y, StrokeAttributes(kRuleColour, "6 4", 1.5));
  }
  for (std::size_t i = 0; i < chart.lines.size(); ++i) DrawLine(out, chart.lines[i], prepared[i], xs, ys, f);
  if (!has_data) {
    fmt::format_to(it, R"(<text x="{:.1f}" y="{:.1f}" text-anchor="middle" fill="#888888">no data</text>)",
                   f.left + f.width / 2, f.top + f.height / 2);
  }
  for (std::size_t i = 0; i < legend.size(); ++i) {
    DrawLegendRow(out, f.right() + 18, f.top + 8 + kLegendRowPx * static_cast<double>(i), legend[i].first,
                  legend[i].second);
  }
  out += "</svg>";
  return out;
}

}  // namespace gpuslice::sim
