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
// Modes:
//   replay   jobs arrive at their submit times multiplied by `time_scale` (durations are kept, so
//            a scale below 1 packs a sparse trace's arrivals closer and raises the load) and
//            finish after their durations; pending jobs wait. allocation_ratio is time-averaged.
//   arrival  the Beware-of-Fragmentation methodology (Weng et al., USENIX ATC'23): jobs are drawn
//            with replacement from the workload (seeded), arrive one by one and never finish; a job
//            that cannot be placed on arrival fails. Stops when the requested demand reaches
//            `arrival_limit` x the cluster; allocation is recorded at every 1% of arrived demand
//            and allocation_ratio is the value at 100%.
//
// Accounting: a running job counts the compute slices of the smallest profile that holds it on
// the GPU model it runs on (a whole GPU: all of the GPU's slices when the job asked for a whole
// GPU) — so the whole-gpu policy's waste shows as a lower ratio. upper_bound ignores geometry:
// in replay, min(1, W / (cluster slices × span)) with W = Σ over jobs of their fewest slices on
// any model × min(duration, span − submit) — no placement runs a job before its submit time or
// longer than its duration; in arrival, min(1, placeable demand arrived / cluster slices) at 100%.
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
  double time_scale = 1.0;     // replay: multiplies submit times (not durations)
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

// Runs one policy. Errors: a job naming a team the cluster does not have (when it has teams),
// a static policy whose file cannot be read or does not fit, an empty workload.
Result<PolicyResult> RunPolicy(const PolicySpec& policy, const ClusterSpec& cluster,
                               const std::vector<JobSpec>& jobs, const SimOptions& options);

}  // namespace gpuslice::sim
