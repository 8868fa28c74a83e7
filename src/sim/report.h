// SimReport: what one `gpuslice sim` run found, and how it is presented (DESIGN.md §7).
//
// The simulator fills a SimReport (one PolicyResult per policy it compared) and hands it here;
// this file only presents it:
//   * ReportToJson — the object `gpuslice sim --json` prints (scalars only) and, with the series,
//     the report.json that `--report DIR` writes;
//   * RenderHtml  — one self-contained page (inline CSS and SVG, no scripts, no links, nothing
//     fetched) a cluster admin can open offline: what was simulated, a summary table, and charts of
//     allocation over x, the wait-time CDF per policy and per-team usage;
//   * WriteReport — writes both into a directory.
//
// Non-finite numbers (NaN, ±inf) never break the output: series points and waits that are not
// finite are skipped, scalars that are not finite print as "–" in HTML and null in JSON. Every
// string that reaches HTML (policy, cluster and workload names are user input) is escaped.
//
// Thread-safety: plain functions over values.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace gpuslice::sim {

struct SeriesPoint {
  double x = 0;
  double y = 0;
};

struct WaitPercentiles {
  double p50 = 0, p90 = 0, p99 = 0;
};

// The metrics are defined in simulator.h and docs/simulator.md.
struct PolicyResult {
  std::string policy;  // "whole-gpu", "static:FILE:CONFIG", "first-fit", "gpuslice"
  // Allocated compute slices ÷ total: time-averaged over the measurement window in replay mode,
  // at 100 % arrived demand in arrival mode. 0..1.
  double allocation_ratio = 0;
  // Replay: the measurement window's length (first to last arrival); nullopt in arrival mode.
  std::optional<double> window_s;
  std::int64_t jobs_submitted = 0, jobs_placed = 0;
  std::int64_t jobs_unplaced = 0;  // submitted, never started (replay: still waiting at the end)
  WaitPercentiles wait_s;          // of waits_s
  std::int64_t instances_created = 0, instances_destroyed = 0;
  std::int64_t jobs_preempted = 0;      // preemptions (a job preempted twice counts twice)
  double upper_bound = 0;               // no placement's allocation_ratio exceeds it, 0..1
  std::vector<SeriesPoint> allocation;  // allocation ratio (0..1) over x
  // Each placed job's wait (submit to first start) and, in replay mode, each unplaced job's wait
  // until the end of the simulation (censored: a lower bound of its real wait). For the CDF.
  std::vector<double> waits_s;
  std::map<std::string, std::vector<SeriesPoint>> team_usage_mgpu;  // per team, milli-GPU over x
};

struct SimReport {
  std::string mode;               // "replay" or "arrival"
  std::string x_label;            // "hours" or "% of cluster requested"
  std::string cluster, workload;  // what was simulated (file names / specs)
  std::uint64_t seed = 0;
  double wall_seconds = 0;  // how long the simulation took
  std::vector<PolicyResult> policies;
};

// Nearest-rank percentiles of the finite values in `waits` (non-finite ones are ignored): with
// the n values sorted ascending, the p-th percentile is the value of rank ceil(p/100 · n)
// (1-based), so it is always one of the inputs — p50 of {1,2,3,4} is 2, p99 of 100 values is the
// 99th smallest. No finite values: all zeros.
WaitPercentiles Percentiles(std::vector<double> waits);

// Whether ReportToJson includes the series (allocation, waits_s, team_usage_mgpu). The `--json`
// object omits them; the report.json that WriteReport writes includes them.
enum class JsonSeries { kOmit, kInclude };

// {"mode","x_label","cluster","workload","seed","wall_seconds","policies":[{"policy",
//  "allocation_ratio","window_s","jobs_submitted","jobs_placed","jobs_unplaced","wait_s":{"p50",
//  "p90","p99"},"instances_created","instances_destroyed","jobs_preempted","upper_bound"}]}
// (window_s is null in arrival mode); with JsonSeries::kInclude each
// policy also has "allocation": [[x,y],…], "waits_s": […] and "team_usage_mgpu": {team: [[x,y],…]}
// (non-finite points left out). Strings are copied as given: dump with
// json::error_handler_t::replace, as they may not be valid UTF-8.
nlohmann::json ReportToJson(const SimReport& report, JsonSeries series = JsonSeries::kOmit);

// The whole HTML page. Never fails; empty reports and empty series render as "no data".
std::string RenderHtml(const SimReport& report);

// Creates `dir` (and its parents) if needed and writes `dir`/report.json (with series) and
// `dir`/report.html, overwriting them. Errors (kInvalidArgument) name the path that failed.
Result<void> WriteReport(const SimReport& report, const std::string& dir);

}  // namespace gpuslice::sim
