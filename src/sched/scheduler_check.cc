// Scheduler: a consistency check of the derived indexes against the state they summarise, for
// tests (property tests call it after every event). Each index is recomputed from the GPUs, their
// instances and the reservations, and compared with what the scheduler keeps:
//   * per model: the GPUs not removed, and how many of them are dynamic, static and whole (by
//     base mode), which ProfileFor reads to decide whether the model can host a request;
//   * per GPU: mode is its base mode unless cordoned or draining; occupancy is its instances'
//     layout; a removed GPU holds nothing; a reservation mark matches a reservation;
//   * the SlotIndex holds exactly the dynamic GPUs open for new work (not cordoned, draining,
//     reserved or removed), each with its current occupancy;
//   * the free whole GPUs are exactly the whole-mode GPUs open for new work without a job;
//   * the idle sets list exactly the idle instances, and gpus_with_idle the dynamic GPUs with one;
//   * a reservation belongs to a pending job, on one node for a gang that must share one;
//   * usage's idle, busy and total slices add up.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "sched/scheduler.h"
#include "sched/scheduler_internal.h"

namespace gpuslice::sched {
namespace {

bool IsBase(GpuMode mode) {
  return mode == GpuMode::kDynamic || mode == GpuMode::kStatic || mode == GpuMode::kWhole;
}

int Slices(const Gpu& gpu, const mig::Placement& p) {
  return gpu.model->profiles[static_cast<std::size_t>(p.profile)].compute_slices;
}

}  // namespace

Result<void> Scheduler::CheckIndexesForTest() const {
  auto fail = [](std::string what) { return Fail(ErrorCode::kInternal, "index check: {}", what); };
  Usage want;
  for (GpuRef ref = 0; ref < gpus_.size(); ++ref) {
    const Gpu& gpu = gpus_[ref];
    const std::string where = fmt::format("GPU {}", ref);
    if (!IsBase(gpu.base_mode)) return fail(where + ": base mode is not dynamic, static or whole");
    if (gpu.mode != gpu.base_mode && gpu.mode != GpuMode::kCordoned && gpu.mode != GpuMode::kDraining)
      return fail(fmt::format("{}: mode {} with base mode {}", where, GpuModeName(gpu.mode),
                              GpuModeName(gpu.base_mode)));
    if (gpu.base_mode != GpuMode::kWhole && gpu.geometry == nullptr)
      return fail(where + ": dynamic or static without MIG");
    if (gpu.whole_job.valid() && gpu.base_mode != GpuMode::kWhole)
      return fail(where + ": whole job, not whole");
    if (gpu.removed) {
      if (!gpu.instances.empty() || gpu.whole_job.valid() || gpu.reserved_for.valid())
        return fail(where + ": removed but holds something");
      continue;
    }
    want.total_slices += WholeSlices(*gpu.model);
    if (gpu.whole_job.valid()) want.busy_slices += WholeSlices(*gpu.model);
    if (gpu.geometry != nullptr) {
      mig::Layout layout;
      for (const Instance& inst : gpu.instances) layout.push_back(inst.placement);
      const Result<mig::Occupancy> occ = gpu.geometry->Occupy(layout);
      if (!occ || *occ != gpu.occupancy) return fail(where + ": occupancy does not match its instances");
    } else if (!gpu.instances.empty()) {
      return fail(where + ": instances on a GPU without MIG");
    }
    for (const Instance& inst : gpu.instances)
      (inst.job.valid() ? want.busy_slices : want.idle_slices) += Slices(gpu, inst.placement);
    if (gpu.reserved_for.valid()) {
      const Reservation* r = ReservationOf(gpu.reserved_for);
      if (r == nullptr || std::find(r->gpus.begin(), r->gpus.end(), ref) == r->gpus.end())
        return fail(where + ": marked reserved without a reservation");
    }
  }
  for (const Reservation& r : reservations_) {
    for (GpuRef ref : r.gpus) {
      if (gpus_[ref].reserved_for != r.job) return fail(fmt::format("GPU {}: reservation not marked", ref));
    }
    const auto job = jobs_.find(r.job.value());
    if (job == jobs_.end() || job->second.state != JobState::kPending)
      return fail(fmt::format("reservation for job {}, which is not pending", r.job.value()));
    if (OnOneNode(job->second) && !r.gpus.empty() &&
        std::any_of(r.gpus.begin(), r.gpus.end(),
                    [&](GpuRef ref) { return gpus_[ref].node != gpus_[r.gpus.front()].node; }))
      return fail(fmt::format("job {} must run on one node, and reserves GPUs on several", r.job.value()));
  }
  if (want.idle_slices != usage_.idle_slices || want.busy_slices != usage_.busy_slices ||
      want.total_slices != usage_.total_slices) {
    return fail(fmt::format("usage idle/busy/total {}/{}/{}, expected {}/{}/{}", usage_.idle_slices,
                            usage_.busy_slices, usage_.total_slices, want.idle_slices, want.busy_slices,
                            want.total_slices));
  }
  for (const auto& mp : models_) {
    const ModelState& m = *mp;
    const std::string model = m.model->name;
    int dynamic = 0, fixed = 0, whole = 0;
    std::set<GpuRef> present;
    std::set<std::pair<GpuRef, std::uint64_t>> idle;
    std::size_t in_slots = 0;
    for (GpuRef ref = 0; ref < gpus_.size(); ++ref) {
      if (model_of_gpu_[ref] != m.index) continue;
      const Gpu& gpu = gpus_[ref];
      const bool open = !gpu.removed && !gpu.reserved_for.valid();
      const bool slot = open && gpu.mode == GpuMode::kDynamic && m.slots != nullptr;
      const mig::Occupancy* indexed = m.slots ? m.slots->Find(ref) : nullptr;
      if (slot != (indexed != nullptr) || (slot && *indexed != gpu.occupancy))
        return fail(fmt::format("GPU {}: SlotIndex entry {} (expected {})", ref,
                                indexed ? "present or stale" : "missing", slot ? "present" : "absent"));
      in_slots += slot;
      const bool free_whole = open && gpu.mode == GpuMode::kWhole && !gpu.whole_job.valid();
      if (free_whole != m.free_whole.contains(ref))
        return fail(fmt::format("GPU {}: free whole GPUs {} it", ref, free_whole ? "miss" : "hold"));
      bool has_idle = false;
      for (const Instance& inst : gpu.instances) {
        if (inst.job.valid()) continue;
        has_idle = true;
        idle.insert({ref, inst.id.value()});
        if (!m.idle[static_cast<std::size_t>(inst.placement.profile)].contains({ref, inst.id.value()}))
          return fail(fmt::format("GPU {}: idle instance {} not in the idle set", ref, inst.id.value()));
      }
      if ((has_idle && gpu.base_mode == GpuMode::kDynamic) != m.gpus_with_idle.contains(ref))
        return fail(fmt::format("GPU {}: gpus_with_idle disagrees", ref));
      if (gpu.removed) continue;
      present.insert(ref);
      dynamic += gpu.base_mode == GpuMode::kDynamic;
      fixed += gpu.base_mode == GpuMode::kStatic;
      whole += gpu.base_mode == GpuMode::kWhole;
    }
    std::size_t idle_entries = 0;
    for (const auto& per_profile : m.idle) idle_entries += per_profile.size();
    if (idle_entries != idle.size()) return fail(model + ": idle sets hold instances that are not idle");
    if (m.slots && m.slots->size() != in_slots) return fail(model + ": SlotIndex holds stray GPUs");
    if (std::set<GpuRef>(m.gpus.begin(), m.gpus.end()) != present || m.gpus.size() != present.size())
      return fail(model + ": GPU list disagrees");
    if (dynamic != m.dynamic_gpus || fixed != m.static_gpus || whole != m.whole_gpus) {
      return fail(fmt::format("{}: dynamic/static/whole counters {}/{}/{}, expected {}/{}/{}", model,
                              m.dynamic_gpus, m.static_gpus, m.whole_gpus, dynamic, fixed, whole));
    }
  }
  return {};
}

}  // namespace gpuslice::sched
