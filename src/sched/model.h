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

#include "common/error.h"
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
  GpuMode base_mode = GpuMode::kDynamic;  // what an uncordon returns to (dynamic, static, whole)
  bool removed = false;                   // its node is gone
  JobId reserved_for;                     // a backfill reservation holds it for this job
  mig::Occupancy occupancy;               // all instances, idle or busy
  std::vector<Instance> instances;
  JobId whole_job;  // kWhole: the job holding the GPU
};

// Jobs running on the GPU: on its instances, or holding it whole.
int JobsOn(const Gpu& gpu);

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

// What a job is for. The scheduler treats the kinds alike today; they reach reports and the
// agent (services restart, notebooks are long-lived and mostly idle).
enum class JobKind { kBatch, kService, kNotebook };
std::string_view JobKindName(JobKind kind);
Result<JobKind> ParseJobKind(std::string_view text);  // kInvalidArgument

// Why a job is not running, as data a person can read (STYLE.md §4).
enum class PendingKind {
  kNone,
  kQuota,          // the team's quota (with what its cohort can lend) does not cover it
  kNoLegalSlot,    // quota fits, but no GPU has a legal placement for it right now
  kUnschedulable,  // no GPU model in the cluster can ever host it
  kReserved,       // a slot would be free, but it is held for an older job (backfill reservation)
};
std::string_view PendingKindName(PendingKind kind);

struct Pending {
  PendingKind kind = PendingKind::kNone;
  std::string message;
  JobId reserved_for;  // kReserved: the job the slot is held for
};

// Where one slice of a running job is.
struct Binding {
  GpuRef gpu = 0;
  InstanceId instance;  // invalid for a whole (non-MIG or MIG-off) GPU
  MilliGpu cost;
};

// A job. `preemptible` jobs may be stopped and requeued to make room: by a higher-priority job
// of their own team, or when their team borrowed the capacity and a lender reclaims it. A job
// that is not preemptible is admitted only within its team's nominal quota (it never borrows),
// so borrowed capacity can always be reclaimed.
struct Job {
  JobId id;
  std::string name;
  QuotaNodeId team;
  int priority = 0;
  bool preemptible = false;
  JobKind kind = JobKind::kBatch;
  std::int64_t submit_ms = 0;
  std::int64_t expected_duration_ms = -1;  // -1: unknown
  SliceRequest request;
  int count = 1;  // gang size: all slices or none
  bool same_node = false;
  JobState state = JobState::kPending;
  std::int64_t start_ms = -1;
  std::vector<Binding> bindings;
  Pending pending;      // the latest reason of a job not running; Scheduler::Why has the current one
  int preemptions = 0;  // times it was stopped and requeued
  JobId preempted_by;   // the job that preempted it last
};

// What the scheduler decided in one pass, in the order an agent must apply it.
// kPreempt: stop `job` (its slices become idle, the job is requeued) so `by` can be placed; it
// comes before the creates and binds that use the space.
struct Decision {
  enum class Kind { kCreateInstance, kDestroyInstance, kBind, kUnbind, kPreempt };
  Kind kind = Kind::kBind;
  GpuRef gpu = 0;
  InstanceId instance;
  mig::Placement placement;  // create/destroy
  JobId job;                 // bind/unbind/preempt
  JobId by;                  // preempt: the job it makes room for
};

}  // namespace gpuslice::sched
