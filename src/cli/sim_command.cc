#include "cli/sim_command.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "cli/table.h"
#include "sim/cluster_spec.h"
#include "sim/report.h"
#include "sim/simulator.h"
#include "sim/workload.h"

namespace gpuslice::cli {
namespace {

struct SimFlags {
  std::string cluster, workload, mode = "replay", map = "compute", report, window = "0:100";
  std::vector<std::string> policies{"gpuslice"};
  std::uint64_t seed = 1;
  double time_scale = 1.0, arrival_limit = 1.0;
  bool json = false;
  // The gpuslice policy's scheduler settings (defaults: sched::SchedulerOptions).
  std::string preemption = "on";
  std::int64_t warm_idle_s = 15 * 60, reserve_after_s = 10 * 60;
  int max_reservations = 4;
};

int Bad(const Error& e) {
  std::cerr << "gpuslice sim: " << e.message << '\n';
  return 2;
}

std::string Pct(double x) {
  return fmt::format("{:.1f}%", 100.0 * x);
}

void PrintTable(const sim::SimReport& report) {
  Table t({"POLICY", "ALLOCATION", "UPPER BOUND", "PLACED", "WAIT P50", "WAIT P90", "WAIT P99", "CREATED",
           "DESTROYED", "PREEMPTED"});
  for (const sim::PolicyResult& p : report.policies) {
    t.AddRow({p.policy, Pct(p.allocation_ratio), Pct(p.upper_bound),
              fmt::format("{}/{}", p.jobs_placed, p.jobs_submitted), fmt::format("{:.0f}s", p.wait_s.p50),
              fmt::format("{:.0f}s", p.wait_s.p90), fmt::format("{:.0f}s", p.wait_s.p99),
              std::to_string(p.instances_created), std::to_string(p.instances_destroyed),
              std::to_string(p.jobs_preempted)});
  }
  std::cout << t.Render();
}

// "FROM:TO", percents of the arrival order, 0 <= FROM <= TO <= 100; as fractions.
Result<std::pair<double, double>> ParseWindow(const std::string& text) {
  const auto bad = [&] {
    return Fail(ErrorCode::kInvalidArgument,
                "--window '{}': write FROM:TO, percents of the jobs' arrival order with 0 <= FROM <= TO "
                "<= 100 (default 0:100, first to last arrival)",
                text);
  };
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos) return bad();
  double from = 0, to = 0;
  try {
    std::size_t used_from = 0, used_to = 0;
    from = std::stod(text.substr(0, colon), &used_from);
    to = std::stod(text.substr(colon + 1), &used_to);
    if (used_from != colon || used_to != text.size() - colon - 1) return bad();
  } catch (const std::exception&) {  // std::invalid_argument, std::out_of_range
    return bad();
  }
  if (!(from >= 0 && from <= to && to <= 100)) return bad();
  return std::pair{from / 100, to / 100};
}

int Run(const SimFlags& f) {
  const auto started = std::chrono::steady_clock::now();
  Result<sim::ClusterSpec> cluster = sim::ReadClusterSpecFile(f.cluster);
  if (!cluster) return Bad(cluster.error());
  if (f.mode != "replay" && f.mode != "arrival")
    return Bad({ErrorCode::kInvalidArgument, "--mode is replay or arrival"});
  if (f.map != "compute" && f.map != "memory")
    return Bad({ErrorCode::kInvalidArgument, "--map is compute or memory"});
  Result<std::vector<sim::JobSpec>> jobs = sim::LoadWorkload(
      f.workload, *cluster, f.map == "compute" ? sim::MapMode::kByCompute : sim::MapMode::kByMemory, f.seed);
  if (!jobs) return Bad(jobs.error());
  std::vector<sim::PolicySpec> policies;
  for (const std::string& p : f.policies) {
    Result<sim::PolicySpec> spec = sim::ParsePolicy(p);
    if (!spec) return Bad(spec.error());
    policies.push_back(*spec);
  }
  sim::SimOptions options;
  options.mode = f.mode == "replay" ? sim::SimOptions::Mode::kReplay : sim::SimOptions::Mode::kArrival;
  options.time_scale = f.time_scale;
  if (Result<std::pair<double, double>> w = ParseWindow(f.window); w) {
    options.window_from = w->first;
    options.window_to = w->second;
  } else {
    return Bad(w.error());
  }
  options.arrival_limit = f.arrival_limit;
  options.seed = f.seed;
  options.scheduler.preemption = f.preemption == "on";
  options.scheduler.warm_idle_ms = f.warm_idle_s * 1000;
  options.scheduler.reserve_after_ms = f.reserve_after_s * 1000;
  options.scheduler.max_reservations = f.max_reservations;
  options.base_dir = std::filesystem::path(f.cluster).parent_path().string();
  sim::SimReport report;
  report.mode = f.mode;
  report.x_label = f.mode == "replay" ? "hours" : "% of cluster requested";
  report.cluster = f.cluster;
  report.workload = f.workload;
  report.seed = f.seed;
  std::cerr << fmt::format("gpuslice sim: {} jobs, seed {}, {} mode\n", jobs->size(), f.seed, f.mode);
  for (const sim::PolicySpec& p : policies) {
    const auto t0 = std::chrono::steady_clock::now();
    // One line per 10% step, each step once and in order (the simulator reports whole percents).
    int shown = 0;
    options.progress = [&](double done) {
      for (const int step = static_cast<int>(done * 10 + 1e-9); shown < step;) {
        std::cerr << fmt::format("gpuslice sim: {} {}%\n", p.name, ++shown * 10);
      }
    };
    Result<sim::PolicyResult> r = sim::RunPolicy(p, *cluster, *jobs, options);
    if (!r) return Bad(r.error());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cerr << fmt::format("gpuslice sim: {} done in {:.2f}s{}\n", p.name, secs,
                             r->window_s ? fmt::format(" (window {:.2f} h)", *r->window_s / 3600) : "");
    report.policies.push_back(std::move(*r));
  }
  report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!f.report.empty()) {
    if (auto w = sim::WriteReport(report, f.report); !w) return Bad(w.error());
    std::cerr << fmt::format("gpuslice sim: report in {}/report.html\n", f.report);
  }
  if (f.json) {
    std::cout << sim::ReportToJson(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << '\n';
  } else {
    PrintTable(report);
  }
  return 0;
}

}  // namespace

void AddSimCommand(CLI::App& app, int* exit_code) {
  auto f = std::make_shared<SimFlags>();
  CLI::App* c = app.add_subcommand("sim", "Simulate a workload on a modelled cluster under several policies");
  c->add_option("--cluster", f->cluster, "Cluster file (YAML): node groups and teams (examples/clusters/)")
      ->required();
  c->add_option("--workload", f->workload,
                "alibaba:PATH | csv:PATH | jsonl:PATH | gen:notebooks|inference|batch|mix[:jobs=N,hours=H]")
      ->required();
  c->add_option("--policy", f->policies,
                "gpuslice, first-fit, whole-gpu, static:FILE:CONFIG (comma-separated)")
      ->delimiter(',');
  c->add_option("--seed", f->seed, "Seed for generators and arrival sampling (default 1)");
  c->add_option("--mode", f->mode,
                "replay (trace times; needs them) or arrival (fragmentation methodology; docs/simulator.md)");
  c->add_option(
       "--time-scale", f->time_scale,
       "replay: multiply arrival times, not durations: below 1 packs arrivals closer and raises the load")
      ->check(CLI::PositiveNumber);
  c->add_option("--window", f->window,
                "replay: average from the FROM% to the TO% job in arrival order (default 0:100, first to "
                "last arrival)");
  c->add_option("--arrival-limit", f->arrival_limit,
                "arrival: stop at this multiple of the cluster's capacity")
      ->check(CLI::PositiveNumber);
  c->add_option("--map", f->map, "alibaba: map gpu_milli onto MIG by compute (default) or memory share");
  c->add_option("--report", f->report, "Write report.json and report.html into this directory");
  c->add_option("--preemption", f->preemption,
                "gpuslice policy: preempt to reclaim quota and for priority (on|off)")
      ->check(CLI::IsMember({"on", "off"}));
  c->add_option("--warm-idle-s", f->warm_idle_s,
                "gpuslice policy: keep idle slices warm this long (default 900)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{365} * 86400));
  c->add_option("--reserve-after-s", f->reserve_after_s,
                "gpuslice policy: a job waiting this long for a slot reserves GPUs (default 600)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{365} * 86400));
  c->add_option(
       "--max-reservations", f->max_reservations,
       "gpuslice policy: jobs holding reservations at once; 0 turns backfill reservations off (default 4)")
      ->check(CLI::Range(0, 100000));
  c->add_flag("--json", f->json, "Print the result as JSON (docs/cli-json.md)");
  c->callback([f, exit_code] { *exit_code = Run(*f); });
}

}  // namespace gpuslice::cli
