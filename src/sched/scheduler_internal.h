// Private to the Scheduler's .cc files: the per-model state and the scratch of one pass.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "sched/scheduler.h"

namespace gpuslice::sched {

// Everything the scheduler keeps per GPU model.
struct Scheduler::ModelState {
  int index = 0;
  const mig::GpuModel* model = nullptr;
  std::unique_ptr<mig::Geometry> geometry;  // nullptr: no MIG
  std::unique_ptr<SlotIndex> slots;         // dynamic GPUs of the model
  ClassId quota_class;
  std::vector<GpuRef> gpus;
  std::vector<std::set<std::pair<GpuRef, std::uint64_t>>> idle;  // per profile: (GPU, instance)
  std::set<GpuRef> gpus_with_idle;
  std::set<GpuRef> free_whole;  // kWhole GPUs without a job
  int dynamic_gpus = 0;
  int static_gpus = 0;
  int whole_gpus = 0;
};

// Facts learnt during one pass. Within a pass capacity only shrinks (nothing finishes), so a
// shape that found no slot, or a team short of quota for an amount, stays so until the pass ends.
struct Scheduler::PassCache {
  std::set<std::pair<int, int>> no_slot;  // (model, profile) of single slices
  // (team, class) -> the smallest amount found short in this pass, and why.
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::pair<std::int64_t, std::string>> short_of;
};

// Changes made while placing one job, so that a gang that does not fully fit can be undone.
struct Scheduler::Tentative {
  JobId job;
  MilliGpu cost;
  std::vector<Decision> decisions;
  std::vector<Binding> bindings;
  std::vector<std::pair<GpuRef, InstanceId>> created;
  std::vector<std::tuple<GpuRef, InstanceId, std::int64_t>> reused;  // with their idle-since time
  std::vector<std::pair<GpuRef, Instance>> destroyed;
  std::vector<GpuRef> wholes;
};

}  // namespace gpuslice::sched
