// Repartition planning: the create/destroy steps that take one GPU (or a fleet) from the MIG
// instances it has to the ones wanted, without touching work (DESIGN.md §4 "Repartition").
//
// Rules every plan keeps:
//   * An instance that runs work (busy) is never destroyed or moved.
//   * Plans are incremental per GPU: only idle instances the target does not keep are destroyed,
//     only missing target instances are created. The GPU is never cleared.
//   * The layout after the plan is valid for the GPU (Geometry::Validate: starts, overlaps,
//     per-profile maxima, compute slices, media-engine rules), and every intermediate state is
//     too: destroys come first, then creates, and every prefix of either is a subset of a valid
//     layout.
//   * A GPU that cannot reach its target without touching a busy instance gets no plan at all
//     (kBlocked with the reason), never a partial one.
//
// Targets come in two kinds:
//   * Layout — explicit placements (e.g. PlanConfig's expansion of a mig-parted config). Actual
//     instances whose (profile, start) the target has are kept; the rest of the target is
//     created. A busy instance the target does not have is kept beside the target when it
//     overlaps none of the target's placements and the union is still a valid layout; the plan
//     is then made, with a note, and `matches_target` is false (re-plan once it is idle). If it
//     overlaps a target placement, or the union breaks a maximum, the compute budget or a media
//     rule, the GPU is kBlocked.
//   * Mix — a multiset of profiles without starts; the planner chooses the starts around the
//     busy instances. Busy instances count toward the mix (a busy 3g satisfies a wanted 3g);
//     busy instances beyond the mix stay (noted, matches_target false). Idle instances of a
//     wanted profile are reused before anything is destroyed or created: the planner first keeps
//     every reusable idle instance (lowest start first) and arranges the rest with
//     Geometry::Arrange; if that finds no arrangement it arranges everything not satisfied by a
//     busy instance around the busy ones alone and still keeps the idle instances that land
//     exactly where an arranged one goes. Arrange is complete, so kBlocked for a mix means no
//     valid layout holds the busy instances and the mix.
//
// Errors (the Result's error, as opposed to kBlocked) are for bad input, all kInvalidArgument:
// a target layout that is not valid for the GPU (the message quotes its Describe() text and
// Validate's reason), a mix that does not fit even an empty GPU (its profile names and Arrange's
// reason), an unknown profile index, an actual state that is not a valid layout or repeats an
// instance id. Cost: a few microseconds per GPU (Validate, or one or two Arrange searches).
//
// Pure functions over values: no I/O, no clock, no randomness; deterministic for their inputs.
// Thread-safety: safe to call concurrently (Geometry is immutable).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "mig/layout.h"

namespace gpuslice::sched {

using GpuInstanceKey = std::uint64_t;  // the caller's name for an instance on one GPU

// One GPU instance as it exists on the GPU now.
struct GpuInstanceState {
  GpuInstanceKey id = 0;  // unique per GPU
  mig::Placement placement;
  bool busy = false;  // runs work (a bound job or processes): never destroyed or moved
};

// What a GPU should hold. Build with Explicit() or Mix().
struct RepartitionTarget {
  enum class Kind { kLayout, kMix };
  Kind kind = Kind::kLayout;
  mig::Layout layout;         // kLayout: explicit placements, any order
  std::vector<int> profiles;  // kMix: profile indices, one per wanted instance, any order

  static RepartitionTarget Explicit(mig::Layout placements) {
    return {Kind::kLayout, std::move(placements), {}};
  }
  static RepartitionTarget Mix(std::vector<int> profile_indices) {
    return {Kind::kMix, {}, std::move(profile_indices)};
  }
};

// One step of a plan, applied in the order given.
struct RepartitionOp {
  enum class Kind { kDestroy, kCreate };
  Kind kind = Kind::kCreate;
  mig::Placement placement;     // kDestroy: where the destroyed instance is; kCreate: what to create
  GpuInstanceKey instance = 0;  // kDestroy: the idle instance to destroy; kCreate: 0 (the backend names it)
  friend bool operator==(const RepartitionOp&, const RepartitionOp&) = default;
};

enum class GpuPlanStatus {
  kUnchanged,  // nothing to do (see matches_target: a busy instance may still stand in the way)
  kPlanned,    // `ops` take the GPU to `layout`
  kBlocked,    // the target needs the space of a busy instance; `reason` says which; no ops
};
std::string_view GpuPlanStatusName(GpuPlanStatus status);

struct GpuPlanResult {
  GpuPlanStatus status = GpuPlanStatus::kUnchanged;
  std::vector<RepartitionOp> ops;  // destroys (by start), then creates (by start); empty unless kPlanned
  // kBlocked: which busy instance ("instance 7 (3g.20gb@4)") conflicts with which target
  // placements, or why the mix cannot be arranged around the busy instances.
  std::string reason;
  // Not blocked, but busy instances are kept that the target does not have: which ones.
  std::string note;
  mig::Layout layout;  // after the plan (kBlocked: as now), sorted by (start, profile)
  int kept = 0;        // instances that stay (busy or idle)
  int kept_busy_outside_target = 0;
  bool matches_target = false;  // `layout` is exactly the target (for a mix: its profiles)
  friend bool operator==(const GpuPlanResult&, const GpuPlanResult&) = default;
};

// Plans one GPU. `actual` is the GPU's instances now (any order); `geometry` its model.
Result<GpuPlanResult> PlanGpu(const mig::Geometry& geometry, std::span<const GpuInstanceState> actual,
                              const RepartitionTarget& target);

// One GPU of a fleet plan. The pointed-to values must outlive the PlanFleet call; one target may
// be shared by many GPUs.
struct GpuRepartitionInput {
  const mig::Geometry* geometry = nullptr;
  std::span<const GpuInstanceState> actual;
  const RepartitionTarget* target = nullptr;
};

struct FleetPlanResult {
  std::vector<Result<GpuPlanResult>> gpus;  // in input order; an error concerns that GPU only
  std::int64_t creates = 0;
  std::int64_t destroys = 0;
  std::int64_t kept = 0;
  int unchanged = 0;
  int planned = 0;
  int blocked = 0;
  int errors = 0;  // GPUs whose input was bad (null geometry or target, invalid state or target)
};

// Plans every GPU independently (PlanGpu each) and sums the totals. Deterministic.
FleetPlanResult PlanFleet(std::span<const GpuRepartitionInput> gpus);

}  // namespace gpuslice::sched
