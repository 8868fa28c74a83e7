// Scheduler: instance bookkeeping and the placement of one job (steps 2-4 of scheduler.h).
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <tuple>

#include "sched/scheduler.h"
#include "sched/scheduler_internal.h"

namespace gpuslice::sched {
namespace {

int Slices(const Gpu& gpu, const mig::Placement& p) {
  return gpu.model->profiles[static_cast<std::size_t>(p.profile)].compute_slices;
}

}  // namespace

// --- instance bookkeeping -------------------------------------------------------------------

void Scheduler::Reindex(GpuRef ref) {
  const Gpu& gpu = gpus_[ref];
  ModelState& m = *models_[static_cast<std::size_t>(model_of_gpu_[ref])];
  if (gpu.mode == GpuMode::kDynamic && !gpu.reserved_for.valid() && !gpu.removed && m.slots)
    m.slots->Upsert(ref, gpu.occupancy);
  bool has_idle = false;  // that may be destroyed: a static layout's instances stay
  for (const Instance& inst : gpu.instances)
    has_idle |= !inst.job.valid() && gpu.base_mode == GpuMode::kDynamic;
  if (has_idle) {
    m.gpus_with_idle.insert(ref);
  } else {
    m.gpus_with_idle.erase(ref);
  }
}

InstanceId Scheduler::CreateInstance(GpuRef ref, mig::Placement p, std::int64_t now_ms) {
  const InstanceId id(next_instance_++);
  AddIdleInstance(ref, {id, p, JobId(), now_ms});
  return id;
}

void Scheduler::AddIdleInstance(GpuRef ref, const Instance& inst) {
  Gpu& gpu = gpus_[ref];
  gpu.geometry->Add(gpu.occupancy, inst.placement);
  gpu.instances.push_back(inst);
  ModelState& m = *models_[static_cast<std::size_t>(model_of_gpu_[ref])];
  m.idle[static_cast<std::size_t>(inst.placement.profile)].insert({ref, inst.id.value()});
  usage_.idle_slices += Slices(gpu, inst.placement);
  Reindex(ref);
}

void Scheduler::FreeWhole(GpuRef ref) {
  ModelState& m = *models_[static_cast<std::size_t>(model_of_gpu_[ref])];
  gpus_[ref].whole_job = JobId();
  usage_.busy_slices -= WholeSlices(*m.model);
  IndexGpu(ref);
}

void Scheduler::DestroyInstance(GpuRef ref, InstanceId id) {
  Gpu& gpu = gpus_[ref];
  const auto it =
      std::find_if(gpu.instances.begin(), gpu.instances.end(), [&](const Instance& i) { return i.id == id; });
  if (it == gpu.instances.end() || it->job.valid()) return;  // never destroy a busy instance
  ModelState& m = *models_[static_cast<std::size_t>(model_of_gpu_[ref])];
  m.idle[static_cast<std::size_t>(it->placement.profile)].erase({ref, id.value()});
  usage_.idle_slices -= Slices(gpu, it->placement);
  gpu.geometry->Remove(gpu.occupancy, it->placement);
  gpu.instances.erase(it);
  Reindex(ref);
}

void Scheduler::SetBusy(GpuRef ref, InstanceId id, JobId job) {
  Gpu& gpu = gpus_[ref];
  for (Instance& inst : gpu.instances) {
    if (inst.id != id || inst.job.valid()) continue;
    ModelState& m = *models_[static_cast<std::size_t>(model_of_gpu_[ref])];
    m.idle[static_cast<std::size_t>(inst.placement.profile)].erase({ref, id.value()});
    inst.job = job;
    usage_.idle_slices -= Slices(gpu, inst.placement);
    usage_.busy_slices += Slices(gpu, inst.placement);
    Reindex(ref);
    return;
  }
}

void Scheduler::SetIdle(GpuRef ref, InstanceId id, std::int64_t now_ms) {
  Gpu& gpu = gpus_[ref];
  for (Instance& inst : gpu.instances) {
    if (inst.id != id || !inst.job.valid()) continue;
    ModelState& m = *models_[static_cast<std::size_t>(model_of_gpu_[ref])];
    m.idle[static_cast<std::size_t>(inst.placement.profile)].insert({ref, id.value()});
    inst.job = JobId();
    inst.idle_since_ms = now_ms;
    usage_.busy_slices -= Slices(gpu, inst.placement);
    usage_.idle_slices += Slices(gpu, inst.placement);
    Reindex(ref);
    return;
  }
}

// --- placing one slice ------------------------------------------------------------------------

bool Scheduler::PlaceOneSlice(ModelState& m, int profile, const std::vector<GpuRef>* only,
                              std::int64_t now_ms, Tentative& t) {
  const mig::Geometry& g = *m.geometry;
  auto bind = [&](GpuRef ref, InstanceId id) {
    SetBusy(ref, id, t.job);
    t.bindings.push_back({ref, id, t.cost});
    t.decisions.push_back({Decision::Kind::kBind, ref, id, {}, t.job});
  };
  // With `only` (a node's GPUs, a reservation) the fleet-wide sets below are looked up per allowed
  // GPU, in ascending order: the same choice as a filtered walk of the sets, in O(|only|) instead
  // of O(fleet) — a same-node gang tries every node.
  std::vector<GpuRef> allowed;
  if (only != nullptr) {
    allowed = *only;
    std::sort(allowed.begin(), allowed.end());
  }
  // 1. A warm idle instance of exactly this profile: the lowest allowed (GPU, instance).
  const auto& idle = m.idle[static_cast<std::size_t>(profile)];
  auto take_idle = [&](GpuRef ref, std::uint64_t id) {
    const GpuMode mode = gpus_[ref].mode;
    if ((mode != GpuMode::kDynamic && mode != GpuMode::kStatic) || ReservedForOther(ref, t.job)) return false;
    const Instance* inst = nullptr;
    for (const Instance& i : gpus_[ref].instances) {
      if (i.id.value() == id) inst = &i;
    }
    t.reused.push_back({ref, InstanceId(id), inst != nullptr ? inst->idle_since_ms : 0});
    bind(ref, InstanceId(id));  // changes `idle`: the callers return at once
    return true;
  };
  if (only == nullptr) {
    for (const auto& [ref, id] : idle) {
      if (take_idle(ref, id)) return true;
    }
  } else {
    for (GpuRef ref : allowed) {
      for (auto it = idle.lower_bound({ref, 0}); it != idle.end() && it->first == ref; ++it) {
        if (take_idle(it->first, it->second)) return true;
      }
    }
  }
  // 2. A new instance in free space: the fleet-wide index, or a scan of the allowed GPUs.
  std::optional<SlotIndex::Choice> choice;
  if (only == nullptr) {
    choice = options_.placement == SchedulerOptions::Placement::kFirstFit ? m.slots->FirstFit(profile)
                                                                          : m.slots->Best(profile);
  } else {
    std::tuple<bool, int, int, GpuRef> best{};
    for (GpuRef ref : *only) {
      const Gpu& gpu = gpus_[ref];
      if (gpu.mode != GpuMode::kDynamic || model_of_gpu_[ref] != m.index || ReservedForOther(ref, t.job))
        continue;
      const std::optional<int> start = g.BestStart(gpu.occupancy, profile);
      if (!start) continue;
      const int loss =
          g.Score(gpu.occupancy.units) - g.Score(gpu.occupancy.units | g.Mask({profile, *start}));
      const std::tuple<bool, int, int, GpuRef> key{gpu.occupancy.units == 0, loss, *start, ref};
      if (!choice || key < best) {
        best = key;
        choice = SlotIndex::Choice{ref, *start, loss};
      }
    }
  }
  if (choice) {
    const mig::Placement p{profile, choice->start};
    const InstanceId id = CreateInstance(choice->gpu, p, now_ms);
    t.created.push_back({choice->gpu, id});
    t.decisions.push_back({Decision::Kind::kCreateInstance, choice->gpu, id, p, {}});
    bind(choice->gpu, id);
    return true;
  }
  // 3. Make room by destroying idle instances (never busy ones): the GPU needing fewest.
  struct Room {
    GpuRef gpu = 0;
    int start = 0;
    std::vector<Instance> victims;
  };
  std::optional<Room> room;
  auto consider_room = [&](GpuRef ref) {
    const Gpu& gpu = gpus_[ref];
    if (gpu.mode != GpuMode::kDynamic || ReservedForOther(ref, t.job)) return;
    mig::Occupancy busy;
    for (const Instance& inst : gpu.instances) {
      if (inst.job.valid()) g.Add(busy, inst.placement);
    }
    const std::optional<int> start = g.BestStart(busy, profile);
    if (!start) return;
    const mig::UnitMask want = g.Mask({profile, *start});
    mig::Occupancy kept = busy;
    std::vector<Instance> victims;
    for (const Instance& inst : gpu.instances) {
      if (inst.job.valid()) continue;
      if ((g.Mask(inst.placement) & want) != 0) {
        victims.push_back(inst);
      } else if (g.CanAdd(kept, inst.placement)) {
        g.Add(kept, inst.placement);
      } else {
        victims.push_back(inst);  // keeps a media or count rule from blocking the new one
      }
    }
    if (!g.CanAdd(kept, {profile, *start})) {
      victims.clear();
      for (const Instance& inst : gpu.instances) {
        if (!inst.job.valid()) victims.push_back(inst);
      }
    }
    if (!room || victims.size() < room->victims.size()) room = Room{ref, *start, std::move(victims)};
  };
  if (only == nullptr) {
    for (GpuRef ref : m.gpus_with_idle) consider_room(ref);
  } else {
    for (GpuRef ref : allowed) {
      if (m.gpus_with_idle.contains(ref)) consider_room(ref);
    }
  }
  if (!room) return false;
  for (const Instance& v : room->victims) {
    DestroyInstance(room->gpu, v.id);
    t.destroyed.push_back({room->gpu, v});
    t.decisions.push_back({Decision::Kind::kDestroyInstance, room->gpu, v.id, v.placement, {}});
  }
  const mig::Placement p{profile, room->start};
  if (!g.CanAdd(gpus_[room->gpu].occupancy, p)) return false;  // cannot happen: checked above
  const InstanceId id = CreateInstance(room->gpu, p, now_ms);
  t.created.push_back({room->gpu, id});
  t.decisions.push_back({Decision::Kind::kCreateInstance, room->gpu, id, p, {}});
  bind(room->gpu, id);
  return true;
}

bool Scheduler::WholeFreeFor(const ModelState& m, GpuRef ref, JobId job) const {
  const Gpu& gpu = gpus_[ref];
  return gpu.mode == GpuMode::kWhole && !gpu.whole_job.valid() && !gpu.removed &&
         (m.free_whole.contains(ref) || gpu.reserved_for == job ||
          (backfill_holder_.valid() && gpu.reserved_for == backfill_holder_));
}

int Scheduler::FreeWholeGpus(const ModelState& m, const std::vector<GpuRef>& gpus, JobId job) const {
  return static_cast<int>(
      std::count_if(gpus.begin(), gpus.end(), [&](GpuRef ref) { return WholeFreeFor(m, ref, job); }));
}

bool Scheduler::PlaceWhole(ModelState& m, const std::vector<GpuRef>* only, Tentative& t) {
  auto free_for_job = [&](GpuRef ref) { return WholeFreeFor(m, ref, t.job); };
  std::optional<GpuRef> pick;
  if (only == nullptr) {
    if (!m.free_whole.empty()) pick = *m.free_whole.begin();
  } else {
    for (GpuRef ref : *only) {
      if (free_for_job(ref)) {
        pick = ref;
        break;
      }
    }
  }
  if (pick) {
    const GpuRef ref = *pick;
    m.free_whole.erase(ref);
    gpus_[ref].whole_job = t.job;
    usage_.busy_slices += WholeSlices(*m.model);
    t.wholes.push_back(ref);
    t.bindings.push_back({ref, InstanceId(), t.cost});
    t.decisions.push_back({Decision::Kind::kBind, ref, InstanceId(), {}, t.job, {}});
    return true;
  }
  return false;
}

void Scheduler::Rollback(Tentative& t) {
  for (auto it = t.wholes.rbegin(); it != t.wholes.rend(); ++it) FreeWhole(*it);
  // Unbind everything bound (reused instances get their warm time back), then undo creations,
  // then put the destroyed idle instances back as they were.
  for (const Binding& b : t.bindings) {
    if (!b.instance.valid()) continue;
    std::int64_t idle_since = 0;
    for (const auto& [ref, id, since] : t.reused) {
      if (ref == b.gpu && id == b.instance) idle_since = since;
    }
    SetIdle(b.gpu, b.instance, idle_since);
  }
  for (auto it = t.created.rbegin(); it != t.created.rend(); ++it) DestroyInstance(it->first, it->second);
  for (auto it = t.destroyed.rbegin(); it != t.destroyed.rend(); ++it) AddIdleInstance(it->first, it->second);
  Unevict(t);
  t = Tentative{t.job, t.cost};  // keep job and cost, forget the rest
}

}  // namespace gpuslice::sched
