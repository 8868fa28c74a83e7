// The simulator: the production scheduler (sched::Scheduler) on a fake clock, driven by a
// workload, under one of several policies (DESIGN.md §7).
//
// Policies (what each one changes, everything else is the same scheduler):
//   gpuslice           the cluster's GPU modes as written; best-score placement; warm idle slices
//   first-fit          the same GPUs; the first legal slot on the first GPU; no warm pool (an
//                      instance is destroyed when its job ends) — how HAMi and the DRA driver place
//   whole-gpu          MIG off everywhere: every job gets whole GPUs
//   static:FILE:CONFIG a fixed mig-parted layout on every GPU it matches (HyperPod's way); jobs
//                      bind to its instances, nothing is cut; GPUs it does not match run whole
//
// Modes (docs/simulator.md has the full definitions):
//   replay   jobs arrive at their submit times multiplied by `time_scale` (durations are kept, so
//            a scale below 1 packs a sparse trace's arrivals closer and raises the load) and
//            finish after their durations; pending jobs wait. allocation_ratio is time-averaged
//            over the measurement window: from the first arrival to the last (`window_from`,
//            `window_to` move its ends along the arrival order), not over the drain after it.
//            Waits include the never-placed jobs' waits until the end (censored). Refused for a
//            workload with no times at all (every job at 0 without a duration).
//   arrival  the Beware-of-Fragmentation methodology (Weng et al., USENIX ATC'23): jobs are drawn
//            with replacement from the workload (seeded), arrive one by one and never finish; a job
//            that cannot be placed on arrival fails. Stops when the requested demand reaches
//            `arrival_limit` x the cluster; allocation is recorded at every 1% of arrived demand
//            and allocation_ratio is the value at 100%.
// Both modes apply every decision of each scheduling pass the same way: a bind starts a job (its
// first start counts it placed), a preemption frees the victim's slices and requeues it.
//
// Accounting: a running job counts the compute slices of the smallest profile that holds it on
// the GPU model it runs on (a whole GPU: all of the GPU's slices when the job asked for a whole
// GPU) — so the whole-gpu policy's waste shows as a lower ratio. upper_bound is never below what
// a placement reaches: K, a fractional knapsack of compute slices under the GPUs' placement units
// (demand_bound.h), over the jobs arrived at 100% (arrival); in replay the smaller of
// Σ_j v_j × min(b − max(a, s_j), d_j × (1 + preemptions_j)) and ∫ K(jobs arrived by t) dt over
// the window [a, b], ÷ (slices × (b − a)).
//
// Thread-safety: plain functions; each run owns its scheduler.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "sched/scheduler.h"
#include "sim/cluster_spec.h"
#include "sim/job_spec.h"
#include "sim/report.h"

namespace gpuslice::sim {

struct PolicySpec {
  enum class Kind { kGpuslice, kFirstFit, kWholeGpu, kStatic };
  Kind kind = Kind::kGpuslice;
  std::string name;  // as written
  std::string static_file, static_config;
};
// "gpuslice", "first-fit", "whole-gpu", "static:FILE:CONFIG". kInvalidArgument otherwise.
Result<PolicySpec> ParsePolicy(std::string_view text);

struct SimOptions {
  enum class Mode { kReplay, kArrival };
  Mode mode = Mode::kReplay;
  double time_scale = 1.0;  // replay: multiplies submit times (not durations)
  // replay: the measurement window runs from the arrival of the job at `window_from` of the
  // arrival order (0: the first) to the one at `window_to` (1: the last); 0 <= from <= to <= 1.
  double window_from = 0, window_to = 1;
  double arrival_limit = 1.0;  // arrival: stop when demand reaches this multiple of the cluster
  std::uint64_t seed = 1;
  std::string base_dir;  // for static policies' relative file names
  // Called now and then with the fraction done (0..1), for progress output.
  std::function<void(double)> progress;
  // The gpuslice policy's scheduler settings (first-fit overrides placement and the warm pool).
  sched::SchedulerOptions scheduler;
};

// The scheduler a policy runs: the cluster's teams and nodes, in the policy's GPU modes.
Result<std::unique_ptr<sched::Scheduler>> BuildScheduler(const PolicySpec& policy, const ClusterSpec& cluster,
                                                         const SimOptions& options);

// Runs one policy. Errors (kInvalidArgument unless said): a job naming a team the cluster does not
// have (kNotFound; when it has teams), a static policy whose file cannot be read or does not fit,
// an empty workload, a non-positive time scale or arrival limit, a window outside
// 0 <= from <= to <= 1, replay of a workload without times, arrival of one that no GPU model hosts.
Result<PolicyResult> RunPolicy(const PolicySpec& policy, const ClusterSpec& cluster,
                               const std::vector<JobSpec>& jobs, const SimOptions& options);

}  // namespace gpuslice::sim
