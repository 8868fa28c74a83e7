// The scheduler's view of the cluster and its jobs (DESIGN.md §4). Plain data.
//
// Nodes hold GPUs; a MIG GPU holds instances (a profile at a start unit), each idle or running
// exactly one job's slice. Jobs ask for a slice by profile name or by size, optionally several
// slices at once (a gang). GPUs are numbered densely (GpuRef) in the order they were added.
//
// Thread-safety: plain values, owned by the Scheduler.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/units.h"
#include "mig/layout.h"
#include "sched/quota.h"

namespace gpuslice::sched {

using GpuRef = std::uint32_t;

enum class GpuMode {
  kDynamic,   // slices are cut and merged on demand (the default for MIG GPUs)
  kStatic,    // a fixed layout (mig-parted config): jobs bind to its instances, nothing is cut
  kWhole,     // MIG off: one job gets the whole GPU
  kCordoned,  // nothing new lands here; running work stays
  kDraining,  // like cordoned, and the admin wants it empty
};
std::string_view GpuModeName(GpuMode mode);

struct Instance {
  InstanceId id;
  mig::Placement placement;
  JobId job;  // invalid: idle
  std::int64_t idle_since_ms = 0;
};

struct Gpu {
  NodeId node;
  int index = 0;  // on its node
  const mig::GpuModel* model = nullptr;
  const mig::Geometry* geometry = nullptr;  // nullptr for GPUs without MIG
  ClassId quota_class;                      // the GPU class quotas are charged in
  GpuMode mode = GpuMode::kDynamic;
  mig::Occupancy occupancy;  // all instances, idle or busy
  std::vector<Instance> instances;
  JobId whole_job;  // kWhole: the job holding the GPU
};

struct Node {
  NodeId id;
  std::string name;
  std::vector<GpuRef> gpus;
};

// What a job asks for, per slice.
struct SliceRequest {
  std::string profile;    // a profile name, "whole", or empty for a size request
  mig::SizeRequest size;  // used when `profile` is empty
  std::string gpu_model;  // only this catalog model; empty: any
};

enum class JobState { kPending, kRunning, kFinished, kCancelled };
std::string_view JobStateName(JobState state);

// Why a job is not running, as data a person can read (STYLE.md §4).
enum class PendingKind {
  kNone,
  kQuota,          // the team's quota (with what its cohort can lend) does not cover it
  kNoLegalSlot,    // quota fits, but no GPU has a legal placement for it right now
  kUnschedulable,  // no GPU model in the cluster can ever host it
};
std::string_view PendingKindName(PendingKind kind);

struct Pending {
  PendingKind kind = PendingKind::kNone;
  std::string message;
};

// Where one slice of a running job is.
struct Binding {
  GpuRef gpu = 0;
  InstanceId instance;  // invalid for a whole (non-MIG or MIG-off) GPU
  MilliGpu cost;
};

struct Job {
  JobId id;
  std::string name;
  QuotaNodeId team;
  int priority = 0;
  bool preemptible = false;
  std::int64_t submit_ms = 0;
  SliceRequest request;
  int count = 1;  // gang size: all slices or none
  bool same_node = false;
  JobState state = JobState::kPending;
  std::int64_t start_ms = -1;
  std::vector<Binding> bindings;
  Pending pending;
};

// What the scheduler decided in one pass, in the order an agent must apply it.
struct Decision {
  enum class Kind { kCreateInstance, kDestroyInstance, kBind, kUnbind };
  Kind kind = Kind::kBind;
  GpuRef gpu = 0;
  InstanceId instance;
  mig::Placement placement;  // create/destroy
  JobId job;                 // bind/unbind
};

}  // namespace gpuslice::sched
