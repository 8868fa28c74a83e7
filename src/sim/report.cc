#include "sim/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <limits>
#include <system_error>

#include "sim/report_svg.h"

namespace gpuslice::sim {
namespace {

using nlohmann::json;

// Teams drawn in colour in the per-team charts; the others are thin grey lines.
constexpr std::size_t kColouredTeams = 7;
// The wait-time axis turns logarithmic when the positive waits span more than this factor.
constexpr double kLogScaleSpan = 100;

json PointsJson(const std::vector<SeriesPoint>& points) {
  json out = json::array();
  for (const SeriesPoint& p : points) {
    if (std::isfinite(p.x) && std::isfinite(p.y)) out.push_back({p.x, p.y});
  }
  return out;
}

json PolicyJson(const PolicyResult& p, JsonSeries series) {
  json j = {
      {"policy", p.policy},
      {"allocation_ratio", p.allocation_ratio},
      {"window_s", p.window_s ? json(*p.window_s) : json(nullptr)},
      {"jobs_submitted", p.jobs_submitted},
      {"jobs_placed", p.jobs_placed},
      {"jobs_unplaced", p.jobs_unplaced},
      {"wait_s", {{"p50", p.wait_s.p50}, {"p90", p.wait_s.p90}, {"p99", p.wait_s.p99}}},
      {"instances_created", p.instances_created},
      {"instances_destroyed", p.instances_destroyed},
      {"jobs_preempted", p.jobs_preempted},
      {"upper_bound", p.upper_bound},
  };
  if (series == JsonSeries::kInclude) {
    j["allocation"] = PointsJson(p.allocation);
    json waits = json::array();
    for (double w : p.waits_s) {
      if (std::isfinite(w)) waits.push_back(w);
    }
    j["waits_s"] = std::move(waits);
    json teams = json::object();
    for (const auto& [team, points] : p.team_usage_mgpu) teams[team] = PointsJson(points);
    j["team_usage_mgpu"] = std::move(teams);
  }
  return j;
}

// ---- HTML page ----------------------------------------------------------------------------------

constexpr std::string_view kCss = R"(
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2328;
background:#fff;max-width:1120px;margin:0 auto;padding:24px;line-height:1.45}
h1{font-size:1.6rem;margin:0 0 .6rem}
h2{font-size:1.2rem;margin:2.2rem 0 .6rem;padding-bottom:.25rem;border-bottom:1px solid #e3e3e3}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1.2rem;margin:0}
dl.meta dt{color:#57606a}
dl.meta dd{margin:0;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{padding:.4rem .6rem;border-bottom:1px solid #e3e3e3;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.policy{overflow-wrap:anywhere}
.best{font-weight:700}
.sw{display:inline-block;width:24px;height:0;border-top:3px solid;vertical-align:middle;margin-right:.5rem}
.sw.muted{border-top-width:1px}
figure{margin:1rem 0}
figcaption{color:#57606a;font-size:.88rem;margin-top:.3rem}
svg.chart{display:block;max-width:100%;height:auto}
.multiples{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:1rem}
.multiples figcaption{color:#1f2328;font-weight:600;overflow-wrap:anywhere;margin:0 0 .2rem}
ul.legend{list-style:none;padding:0;margin:.4rem 0;display:flex;flex-wrap:wrap;gap:.3rem 1.4rem}
.note,.empty{color:#57606a;font-size:.88rem}
)";

// A short line sample in `colour` (dashed when the chart's line is), for HTML legends and tables.
std::string Swatch(std::string_view colour, std::string_view dash, bool muted = false) {
  return fmt::format(R"(<span class="sw{}" style="border-top-color:{};border-top-style:{}"></span>)",
                     muted ? " muted" : "", EscapeXml(colour), dash.empty() ? "solid" : "dashed");
}

std::string RenderHeader(const SimReport& r) {
  std::string out = "<h1>gpuslice simulation report</h1>\n<dl class=\"meta\">";
  const auto row = [&](std::string_view name, std::string_view value) {
    fmt::format_to(std::back_inserter(out), "<dt>{}</dt><dd>{}</dd>", name, EscapeXml(value));
  };
  row("Mode", r.mode);
  row("Cluster", r.cluster);
  row("Workload", r.workload);
  row("Seed", std::to_string(r.seed));
  row("Policies", FormatCount(static_cast<std::int64_t>(r.policies.size())));
  row("Simulation time", FormatDuration(r.wall_seconds));
  out += "</dl>\n";
  return out;
}

// Index of the policy with the highest finite allocation ratio (the first of equals), or npos.
std::size_t BestAllocation(const SimReport& r) {
  std::size_t best = std::string::npos;
  if (r.policies.size() < 2) return best;  // nothing to compare with
  for (std::size_t i = 0; i < r.policies.size(); ++i) {
    const double a = r.policies[i].allocation_ratio;
    if (std::isfinite(a) && (best == std::string::npos || a > r.policies[best].allocation_ratio)) best = i;
  }
  return best;
}

std::string RenderSummary(const SimReport& r) {
  std::string out = "<h2>Summary</h2>\n";
  if (r.policies.empty()) return out + "<p class=\"empty\">No policies were simulated.</p>\n";
  out +=
      "<table><thead><tr><th>Policy</th><th class=\"num\">Allocation</th><th class=\"num\">Upper bound</th>"
      "<th class=\"num\">Jobs placed / submitted</th><th class=\"num\">Wait p50</th><th class=\"num\">Wait "
      "p90</th>"
      "<th class=\"num\">Wait p99</th><th class=\"num\">Instances created</th>"
      "<th class=\"num\">Instances destroyed</th></tr></thead><tbody>\n";
  const std::size_t best = BestAllocation(r);
  auto it = std::back_inserter(out);
  for (std::size_t i = 0; i < r.policies.size(); ++i) {
    const PolicyResult& p = r.policies[i];
    fmt::format_to(it, R"(<tr><td class="policy">{}{}</td><td class="num{}">{}</td><td class="num">{}</td>)",
                   Swatch(LineColour(i), LineDash(i)), EscapeXml(p.policy), i == best ? " best" : "",
                   FormatPercent(p.allocation_ratio), FormatPercent(p.upper_bound));
    fmt::format_to(it, R"(<td class="num">{} / {}</td>)", FormatCount(p.jobs_placed),
                   FormatCount(p.jobs_submitted));
    fmt::format_to(it, R"(<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>)",
                   FormatDuration(p.wait_s.p50), FormatDuration(p.wait_s.p90), FormatDuration(p.wait_s.p99));
    fmt::format_to(it, "<td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                   FormatCount(p.instances_created), FormatCount(p.instances_destroyed));
  }
  out += "</tbody></table>\n";
  out +=
      "<p class=\"note\">Allocation: allocated compute slices ÷ all compute slices (time-averaged over the "
      "measurement window, by default the first to the last arrival, in replay mode, at 100 % arrived demand "
      "in arrival mode). Waits are "
      "nearest-rank percentiles; in replay mode jobs never placed count with their wait until the end "
      "(a lower bound). Definitions: docs/simulator.md.</p>\n";
  return out;
}

std::string RenderAllocationChart(const SimReport& r) {
  LineChart chart;
  chart.title = "Allocation ratio over " + r.x_label;
  chart.x = {.label = r.x_label, .tight = true};
  chart.y = {.label = "allocation ratio", .format = ChartAxis::Format::kPercent, .min = 0.0, .max = 1.0};
  double bound = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < r.policies.size(); ++i) {
    const PolicyResult& p = r.policies[i];
    chart.lines.push_back({p.policy, p.allocation, LineColour(i), LineDash(i), 2, false});
    if (std::isfinite(p.upper_bound)) bound = std::max(bound, p.upper_bound);
  }
  if (bound > 0) chart.rules.push_back({bound, "upper bound " + FormatPercent(bound)});
  return "<h2>Allocation ratio</h2>\n<figure>" + RenderLineChart(chart) +
         "<figcaption>Share of the cluster's compute slices allocated, per policy, over " +
         EscapeXml(r.x_label) + "." +
         (chart.rules.empty() ? "" : " The dashed line is the best geometric upper bound.") +
         "</figcaption></figure>\n";
}

// Empirical CDF of the finite waits: one point per distinct wait, y = share of waits at most x.
std::vector<SeriesPoint> WaitCdf(const std::vector<double>& waits) {
  std::vector<double> w;
  std::copy_if(waits.begin(), waits.end(), std::back_inserter(w), [](double v) { return std::isfinite(v); });
  std::sort(w.begin(), w.end());
  std::vector<SeriesPoint> cdf;
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (i + 1 == w.size() || w[i + 1] != w[i])
      cdf.push_back({w[i], static_cast<double>(i + 1) / static_cast<double>(w.size())});
  }
  return cdf;
}

std::string RenderWaitChart(const SimReport& r) {
  LineChart chart;
  chart.title = "Wait-time CDF per policy";
  chart.y = {.label = "share of jobs", .format = ChartAxis::Format::kPercent, .min = 0.0, .max = 1.0};
  double min_positive = std::numeric_limits<double>::infinity(), max = 0;
  for (std::size_t i = 0; i < r.policies.size(); ++i) {
    const PolicyResult& p = r.policies[i];
    std::vector<SeriesPoint> cdf = WaitCdf(p.waits_s);
    for (const SeriesPoint& s : cdf) {
      if (s.x > 0) min_positive = std::min(min_positive, s.x);
      max = std::max(max, s.x);
    }
    const std::int64_t n =
        std::count_if(p.waits_s.begin(), p.waits_s.end(), [](double v) { return std::isfinite(v); });
    chart.lines.push_back({fmt::format("{} (n={})", p.policy, FormatCount(n)), std::move(cdf), LineColour(i),
                           LineDash(i), 2, true});
  }
  const bool log = std::isfinite(min_positive) && max / min_positive > kLogScaleSpan;
  chart.x = {.label = log ? "wait (log scale)" : "wait", .format = ChartAxis::Format::kDuration, .log = log};
  if (!log) chart.x.include = {0.0};
  return std::string("<h2>Wait time</h2>\n<figure>") + RenderLineChart(chart) +
         "<figcaption>Share of placed jobs that waited at most the time on the x axis, per policy." +
         (log ? " Waits of 0 s are drawn at the left edge." : "") + "</figcaption></figure>\n";
}

// Teams ordered by how much they used, summed over policies (mean GPUs of each series), so the
// biggest users get the colours.
std::vector<std::string> TeamsByUsage(const SimReport& r) {
  std::map<std::string, double> usage;
  for (const PolicyResult& p : r.policies) {
    for (const auto& [team, points] : p.team_usage_mgpu) {
      double sum = 0;
      std::size_t n = 0;
      for (const SeriesPoint& s : points) {
        if (std::isfinite(s.x) && std::isfinite(s.y)) sum += s.y, ++n;
      }
      usage[team] += n == 0 ? 0 : sum / static_cast<double>(n);
    }
  }
  std::vector<std::string> teams;
  teams.reserve(usage.size());
  for (const auto& [team, used] : usage) teams.push_back(team);
  std::stable_sort(teams.begin(), teams.end(),
                   [&](const std::string& a, const std::string& b) { return usage[a] > usage[b]; });
  return teams;
}

// Milli-GPU to GPUs, with the range every small multiple shares (so they compare at a glance).
std::vector<SeriesPoint> ToGpus(const std::vector<SeriesPoint>& mgpu, std::vector<double>& xs,
                                std::vector<double>& ys) {
  std::vector<SeriesPoint> gpus;
  gpus.reserve(mgpu.size());
  for (const SeriesPoint& s : mgpu) {
    if (!std::isfinite(s.x) || !std::isfinite(s.y)) continue;
    gpus.push_back({s.x, s.y / 1000});
    xs = {std::min(xs[0], s.x), std::max(xs[1], s.x)};
    ys[1] = std::max(ys[1], s.y / 1000);
  }
  return gpus;
}

std::string TeamLegend(const std::vector<std::string>& teams) {
  std::string out = "<ul class=\"legend\">";
  for (std::size_t i = 0; i < teams.size() && i < kColouredTeams; ++i) {
    out += "<li>" + Swatch(LineColour(i), "") + EscapeXml(teams[i]) + "</li>";
  }
  if (teams.size() > kColouredTeams) {
    out += fmt::format("<li>{}other teams ({})</li>", Swatch(kMutedColour, "", true),
                       teams.size() - kColouredTeams);
  }
  return out + "</ul>\n";
}

std::string RenderTeamUsage(const SimReport& r) {
  std::string out = "<h2>Usage per team</h2>\n";
  if (r.policies.empty()) return out + "<p class=\"empty\">No policies were simulated.</p>\n";
  const std::vector<std::string> teams = TeamsByUsage(r);
  std::map<std::string, std::size_t> rank;
  for (std::size_t i = 0; i < teams.size(); ++i) rank[teams[i]] = i;
  std::vector<double> xs = {std::numeric_limits<double>::infinity(),
                            -std::numeric_limits<double>::infinity()};
  std::vector<double> ys = {0, 0};
  std::vector<LineChart> charts(r.policies.size());
  for (std::size_t i = 0; i < r.policies.size(); ++i) {
    LineChart& c = charts[i];
    c.title = "GPUs in use per team under " + r.policies[i].policy;
    c.legend = false;
    c.width = 520;
    c.height = 260;
    for (const auto& [team, points] : r.policies[i].team_usage_mgpu) {
      const bool coloured = rank[team] < kColouredTeams;
      c.lines.push_back({team, ToGpus(points, xs, ys), coloured ? LineColour(rank[team]) : kMutedColour, "",
                         coloured ? 2.0 : 1.0, false});
    }
    // Grey context first, so that coloured lines are drawn on top.
    std::stable_partition(c.lines.begin(), c.lines.end(),
                          [](const ChartLine& l) { return l.colour == kMutedColour; });
  }
  out += TeamLegend(teams) + "<div class=\"multiples\">\n";
  for (std::size_t i = 0; i < charts.size(); ++i) {
    charts[i].x = {.label = r.x_label, .tight = true};
    if (xs[0] <= xs[1]) charts[i].x.include = xs;
    charts[i].y = {.label = "GPUs in use", .include = ys};
    out += "<figure><figcaption>" + EscapeXml(r.policies[i].policy) + "</figcaption>" +
           RenderLineChart(charts[i]) + "</figure>\n";
  }
  return out + "</div>\n<p class=\"note\">GPUs in use (milli-GPU ÷ 1000) by each team over " +
         EscapeXml(r.x_label) + ", one chart per policy on the same scales.</p>\n";
}

Result<void> WriteFile(const std::filesystem::path& path, std::string_view content) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "cannot write {}: {}", path.string(),
                std::generic_category().message(errno));
  }
  const bool written = std::fwrite(content.data(), 1, content.size(), f) == content.size();
  const int write_errno = errno;
  if (std::fclose(f) != 0 || !written) {
    return Fail(ErrorCode::kInvalidArgument, "cannot write {}: {}", path.string(),
                std::generic_category().message(written ? errno : write_errno));
  }
  return {};
}

}  // namespace

WaitPercentiles Percentiles(std::vector<double> waits) {
  waits.erase(std::remove_if(waits.begin(), waits.end(), [](double v) { return !std::isfinite(v); }),
              waits.end());
  if (waits.empty()) return {};
  std::sort(waits.begin(), waits.end());
  const auto n = static_cast<std::int64_t>(waits.size());
  // Nearest rank: the smallest value with at least p % of the values at or below it, i.e. the
  // value of 1-based rank ceil(p·n/100), computed in integers so that p·n/100 whole is exact.
  const auto at = [&](std::int64_t p) {
    return waits[std::clamp<std::int64_t>((p * n + 99) / 100, 1, n) - 1];
  };
  return {at(50), at(90), at(99)};
}

nlohmann::json ReportToJson(const SimReport& report, JsonSeries series) {
  json policies = json::array();
  for (const PolicyResult& p : report.policies) policies.push_back(PolicyJson(p, series));
  return {
      {"mode", report.mode},
      {"x_label", report.x_label},
      {"cluster", report.cluster},
      {"workload", report.workload},
      {"seed", report.seed},
      {"wall_seconds", report.wall_seconds},
      {"policies", std::move(policies)},
  };
}

std::string RenderHtml(const SimReport& report) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>gpuslice simulation report</title>\n<style>";
  out += kCss;
  out += "</style>\n</head>\n<body>\n";
  out += RenderHeader(report);
  out += RenderSummary(report);
  out += RenderAllocationChart(report);
  out += RenderWaitChart(report);
  out += RenderTeamUsage(report);
  out += "</body>\n</html>\n";
  return out;
}

Result<void> WriteReport(const SimReport& report, const std::string& dir) {
  const std::filesystem::path root(dir);
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec)
    return Fail(ErrorCode::kInvalidArgument, "cannot create report directory {}: {}", dir, ec.message());
  if (!std::filesystem::is_directory(root, ec)) {
    return Fail(ErrorCode::kInvalidArgument, "cannot write a report into {}: not a directory", dir);
  }
  // Compact: the series make it large (100k waits per policy). Strings may not be UTF-8 (file
  // names): replace what is not rather than throw.
  const std::string json_text =
      ReportToJson(report, JsonSeries::kInclude).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  if (Result<void> r = WriteFile(root / "report.json", json_text); !r) return r;
  return WriteFile(root / "report.html", RenderHtml(report));
}

}  // namespace gpuslice::sim
