// Scheduler: backfill reservations and the explanations of a missing slot.
//
// Without reservations a big job can wait forever: whenever a slice frees up on a GPU, a smaller
// job behind it takes the space before the GPU drains enough for the big one. A job that has
// waited `reserve_after_ms` for a slot (its quota fits) therefore reserves the GPUs where it will
// fit soonest. Other jobs no longer create, reuse or destroy instances there (the GPUs leave the
// SlotIndex and the free whole-GPU pool); running work finishes normally, and the reserving job
// takes the space as soon as it is legal. Everything else keeps backfilling the rest of the
// cluster. At most `max_reservations` jobs hold reservations at a time, so a queue of big jobs
// cannot idle the fleet.
//
// "Fits soonest": per GPU, the start whose overlapping running instances end first by their
// expected durations (unknown durations count as ending last), then the fewest such instances,
// then the lower GPU number. A gang takes its `count` soonest GPUs; a gang that must share a node
// takes them on the node whose count-th soonest GPU frees soonest.
//
// EASY backfill: a one-slice job expected to end before all the work on a reservation's GPUs may
// run there (BackfillReserved).
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <limits>
#include <map>

#include "sched/scheduler.h"
#include "sched/scheduler_internal.h"

namespace gpuslice::sched {
namespace {

constexpr std::int64_t kUnknownEnd = std::numeric_limits<std::int64_t>::max() / 2;

std::vector<int> Starts(mig::UnitMask mask) {
  std::vector<int> out;
  for (; mask != 0; mask &= mask - 1) out.push_back(std::countr_zero(mask));
  return out;
}

}  // namespace

bool Scheduler::ReservedForOther(GpuRef ref, JobId job) const {
  const JobId holder = gpus_[ref].reserved_for;
  return holder.valid() && holder != job && holder != backfill_holder_;
}

// When every job now on the reserved GPUs is expected to have ended; nullopt when one has no
// expected duration.
std::optional<std::int64_t> Scheduler::ReadyAt(const Reservation& r) const {
  std::int64_t ready = r.since_ms;
  auto add = [&](JobId id) {
    const Job& j = jobs_.at(id.value());
    if (j.expected_duration_ms < 0) return false;
    ready = std::max(ready, j.start_ms + j.expected_duration_ms);
    return true;
  };
  for (GpuRef ref : r.gpus) {
    const Gpu& gpu = gpus_[ref];
    if (gpu.whole_job.valid() && !add(gpu.whole_job)) return std::nullopt;
    for (const Instance& inst : gpu.instances) {
      if (inst.job.valid() && !add(inst.job)) return std::nullopt;
    }
  }
  return ready;
}

// EASY backfill: a one-slice job with an expected duration may run on another job's reserved
// GPUs when it is expected to end before the work already there: it cannot make the holder
// wait longer than that work would.
bool Scheduler::BackfillReserved(Job& job, ModelState& m, int profile, std::int64_t now_ms, Tentative& t) {
  if (job.count != 1 || job.expected_duration_ms < 0) return false;
  for (const Reservation& r : reservations_) {
    if (r.job == job.id || r.gpus.empty() || model_of_gpu_[r.gpus.front()] != m.index) continue;
    const std::optional<std::int64_t> ready = ReadyAt(r);
    if (!ready || now_ms + job.expected_duration_ms > *ready) continue;
    backfill_holder_ = r.job;
    const bool placed = PlaceSlice(job, m, profile, &r.gpus, now_ms, t);
    backfill_holder_ = JobId();
    if (placed) return true;
  }
  return false;
}

const Reservation* Scheduler::ReservationOf(JobId job) const {
  const auto it = std::find_if(reservations_.begin(), reservations_.end(),
                               [&](const Reservation& r) { return r.job == job; });
  return it == reservations_.end() ? nullptr : &*it;
}

void Scheduler::DropReservation(JobId job) {
  if (!job.valid()) return;
  const auto it = std::find_if(reservations_.begin(), reservations_.end(),
                               [&](const Reservation& r) { return r.job == job; });
  if (it == reservations_.end()) return;
  const std::vector<GpuRef> gpus = std::move(it->gpus);
  reservations_.erase(it);
  for (GpuRef ref : gpus) {
    gpus_[ref].reserved_for = JobId();
    IndexGpu(ref);
  }
}

void Scheduler::MaybeReserve(Job& job, ModelState& m, int profile, std::int64_t now_ms) {
  if (static_cast<int>(reservations_.size()) >= options_.max_reservations ||
      now_ms - job.submit_ms < options_.reserve_after_ms) {
    return;
  }
  if (ReservationOf(job.id) != nullptr) return;
  // Score each candidate GPU: (expected end of what stands in the way, how many, GPU).
  std::vector<std::tuple<std::int64_t, int, GpuRef>> scored;
  auto end_of = [&](JobId j) {
    const Job& r = jobs_.at(j.value());
    return r.expected_duration_ms >= 0 ? r.start_ms + r.expected_duration_ms : kUnknownEnd;
  };
  for (GpuRef ref : m.gpus) {
    const Gpu& gpu = gpus_[ref];
    if (gpu.removed || gpu.reserved_for.valid()) continue;
    if (profile < 0) {  // a whole GPU in whole mode, free (a gang needs more) or running a job
      if (gpu.mode == GpuMode::kWhole)
        scored.push_back(gpu.whole_job.valid() ? std::make_tuple(end_of(gpu.whole_job), 1, ref)
                                               : std::make_tuple(std::int64_t{0}, 0, ref));
      continue;
    }
    if (gpu.mode != GpuMode::kDynamic) continue;
    const mig::Geometry& g = *gpu.geometry;
    std::optional<std::tuple<std::int64_t, int, GpuRef>> best;
    for (const int start : Starts(g.FreeStarts(mig::Occupancy{}, profile))) {
      const mig::UnitMask want = g.Mask({profile, start});
      std::int64_t end = 0;
      int blocking = 0;
      for (const Instance& inst : gpu.instances) {
        if (!inst.job.valid() || (g.Mask(inst.placement) & want) == 0) continue;
        end = std::max(end, end_of(inst.job));
        ++blocking;
      }
      const std::tuple<std::int64_t, int, GpuRef> key{end, blocking, ref};
      if (!best || key < *best) best = key;
    }
    if (best) scored.push_back(*best);
  }
  if (scored.size() < static_cast<std::size_t>(job.count)) return;
  std::vector<GpuRef> chosen;
  if (!OnOneNode(job)) {
    std::partial_sort(scored.begin(), scored.begin() + job.count, scored.end());
    for (int i = 0; i < job.count; ++i) chosen.push_back(std::get<2>(scored[static_cast<std::size_t>(i)]));
  } else {
    // One node's GPUs: walking all GPUs soonest first, the first node to gather `count` of them
    // is the one whose count-th GPU frees soonest.
    std::sort(scored.begin(), scored.end());
    std::map<std::uint64_t, std::vector<GpuRef>> per_node;
    for (const auto& [end, blocking, ref] : scored) {
      std::vector<GpuRef>& here = per_node[gpus_[ref].node.value()];
      here.push_back(ref);
      if (static_cast<int>(here.size()) == job.count) {
        chosen = std::move(here);
        break;
      }
    }
    if (chosen.empty()) return;  // no node has enough GPUs of the model
  }
  Reservation r{job.id, {}, now_ms};
  for (const GpuRef ref : chosen) {
    gpus_[ref].reserved_for = job.id;
    UnindexGpu(ref);
    r.gpus.push_back(ref);
  }
  reservations_.push_back(std::move(r));
}

std::optional<Pending> Scheduler::ReservedReason(const Job& job, const ModelState& m, int profile) const {
  for (const Reservation& r : reservations_) {
    if (r.job == job.id) continue;
    for (GpuRef ref : r.gpus) {
      const Gpu& gpu = gpus_[ref];
      if (model_of_gpu_[ref] != m.index) continue;
      const bool fits = profile < 0 ? gpu.mode == GpuMode::kWhole && !gpu.whole_job.valid()
                                    : gpu.mode == GpuMode::kDynamic &&
                                          gpu.geometry->BestStart(gpu.occupancy, profile).has_value();
      if (!fits) continue;
      return Pending{PendingKind::kReserved,
                     fmt::format("a slot on node {} GPU {} is free but reserved for job {}, which has "
                                 "waited longer for a larger slot",
                                 node(gpu.node).name, gpu.index, r.job.value()),
                     r.job};
    }
  }
  return std::nullopt;
}

// The GPU where the fewest running instances (then the fewest compute slices of them) stand
// between the job and a legal slot.
std::string Scheduler::NearMiss(const Job& job, const ModelState& m, int profile) const {
  (void)job;
  struct Best {
    int blocking = std::numeric_limits<int>::max();
    int slices = 0;  // compute slices of the instances in the way
    GpuRef gpu = 0;
    int start = 0;
    std::vector<const Instance*> in_the_way;
  };
  Best best;
  for (GpuRef ref : m.gpus) {
    const Gpu& gpu = gpus_[ref];
    if (gpu.mode != GpuMode::kDynamic) continue;
    const mig::Geometry& g = *gpu.geometry;
    for (const int start : Starts(g.FreeStarts(mig::Occupancy{}, profile))) {
      const mig::UnitMask want = g.Mask({profile, start});
      std::vector<const Instance*> in_the_way;
      int slices = 0;
      for (const Instance& inst : gpu.instances) {
        if (!inst.job.valid() || (g.Mask(inst.placement) & want) == 0) continue;
        in_the_way.push_back(&inst);
        slices += gpu.model->profiles[static_cast<std::size_t>(inst.placement.profile)].compute_slices;
      }
      const int blocking = static_cast<int>(in_the_way.size());
      if (std::tie(blocking, slices) < std::tie(best.blocking, best.slices)) {
        best = {blocking, slices, ref, start, std::move(in_the_way)};
      }
    }
  }
  if (best.blocking == std::numeric_limits<int>::max() || best.in_the_way.empty()) return "";
  const Gpu& gpu = gpus_[best.gpu];
  std::string who;
  for (const Instance* inst : best.in_the_way) {
    who += fmt::format("{}{} (job {})", who.empty() ? "" : ", ", gpu.geometry->Describe(inst->placement),
                       inst->job.value());
  }
  return fmt::format("nearest miss: node {} GPU {} would take {} once {} running instance{} end{}: {}",
                     node(gpu.node).name, gpu.index, gpu.geometry->Describe({profile, best.start}),
                     best.blocking, best.blocking == 1 ? "" : "s", best.blocking == 1 ? "s" : "", who);
}

}  // namespace gpuslice::sched
