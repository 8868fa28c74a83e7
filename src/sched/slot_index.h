// SlotIndex: where, across thousands of GPUs of one model, a new MIG instance should go.
//
// The scheduler asks, per decision, "which GPU and which start for one more instance of profile
// p?" Scanning every GPU costs O(GPUs); this index answers in O(distinct GPU states) instead.
// A GPU's state, for placement, is its occupancy key: the used-units mask plus the media-engine
// state (Geometry::FreeStarts depends on nothing else for the catalog's models — a property test
// checks this over every reachable layout). An 8-unit model has at most a few hundred keys
// however many GPUs there are, so a decision over 40,000 GPUs looks at a few hundred buckets.
//
// Choice rule (DESIGN.md §4 step 2, reference placement-and-quota.md §1.7):
//   1. a GPU already in use before an unused one (packing keeps whole GPUs — and whole nodes —
//      free for the jobs that need them);
//   2. then the lowest loss = Score(m) - Score(m | placement): the future options the new
//      instance destroys, with Geometry's best-start score (placeable profiles first, then
//      capacity);
//   3. then the lower start (Geometry::BestStart's own tie-break), then the lower GPU number.
// Packing comes first because simulation says so: on the Alibaba v2023 trace in arrival mode
// over 6,212 A100s, loss-first placed 6,120 of 6,730 jobs (89.8% allocation) and packing-first
// 6,571 (97.5%): loss-first happily breaks an empty GPU when that costs one profile and the
// used GPUs would lose two, which starves whole-GPU and same-node gang jobs.
// The result is deterministic for a given set of (gpu, occupancy) pairs, whatever the order of
// updates.
//
// GPUs are named by dense numbers the caller assigns (GpuRef). GPUs that must not receive new
// instances (static layout, whole-GPU mode, cordoned, draining) are simply not in the index.
//
// Thread-safety: not thread-safe; the scheduler owns it on its own strand.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "mig/layout.h"

namespace gpuslice::sched {

class SlotIndex {
 public:
  using GpuRef = std::uint32_t;

  struct Choice {
    GpuRef gpu = 0;
    int start = 0;
    int loss = 0;  // Score(before) - Score(after) on that GPU
    friend bool operator==(const Choice&, const Choice&) = default;
  };

  // `geometry` must outlive the index.
  explicit SlotIndex(const mig::Geometry& geometry);

  const mig::Geometry& geometry() const { return *geometry_; }
  std::size_t size() const { return gpus_.size(); }

  // Adds a GPU or records its new occupancy.
  void Upsert(GpuRef gpu, const mig::Occupancy& occ);
  // Removes a GPU (no-op when absent).
  void Erase(GpuRef gpu);
  // The occupancy last recorded for `gpu`, or nullptr when absent.
  const mig::Occupancy* Find(GpuRef gpu) const;

  // The best GPU and start for one more instance of `profile`, or nullopt when no GPU in the
  // index has a legal slot for it. `profile` must be a valid index of the geometry's model.
  std::optional<Choice> Best(int profile) const;

  // First fit, the way HAMi and the DRA driver place (a baseline for the simulator): the lowest
  // numbered GPU with any legal slot, at its lowest legal start.
  std::optional<Choice> FirstFit(int profile) const;

  // Number of distinct occupancy keys currently held (for tests and benchmarks).
  std::size_t distinct_states() const { return non_empty_buckets_; }

 private:
  using Key = std::uint32_t;
  static Key KeyOf(const mig::Occupancy& occ);

  // Best start and its loss for one profile in a bucket's state.
  struct Slot {
    std::int16_t start = -1;  // -1: no legal start
    std::int32_t loss = 0;
  };
  // All GPUs whose occupancy has one key. Buckets are never removed (there are few keys), so
  // their slots are computed once.
  struct Bucket {
    Key key = 0;
    bool unused = false;    // no instance on these GPUs
    std::set<GpuRef> gpus;  // ordered: lowest GpuRef first
    std::array<Slot, mig::kMaxProfiles> slots{};
    std::array<std::int16_t, mig::kMaxProfiles> first_start{};  // lowest legal start, -1: none
  };
  std::uint32_t BucketFor(const mig::Occupancy& occ);

  const mig::Geometry* geometry_;
  std::vector<Bucket> buckets_;
  std::unordered_map<Key, std::uint32_t> bucket_of_key_;
  std::unordered_map<GpuRef, std::pair<std::uint32_t, mig::Occupancy>> gpus_;  // -> bucket, occupancy
  std::size_t non_empty_buckets_ = 0;
};

}  // namespace gpuslice::sched
