// Scheduler: changes to the cluster itself — GPU modes (cordon, drain, dynamic <-> whole),
// static layouts, nodes that go away — and the warm pool's expiry.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "sched/scheduler.h"
#include "sched/scheduler_internal.h"

namespace gpuslice::sched {
namespace {

bool IsBaseMode(GpuMode mode) {
  return mode == GpuMode::kDynamic || mode == GpuMode::kStatic || mode == GpuMode::kWhole;
}

bool IsHeld(GpuMode mode) {
  return mode == GpuMode::kCordoned || mode == GpuMode::kDraining;
}

// The GPU's instances are exactly `layout`, in any order.
bool HasLayout(const Gpu& gpu, mig::Layout layout) {
  mig::Layout have;
  for (const Instance& inst : gpu.instances) have.push_back(inst.placement);
  std::sort(have.begin(), have.end());
  std::sort(layout.begin(), layout.end());
  return have == layout;
}

}  // namespace

void Scheduler::UnindexGpu(GpuRef ref) {
  ModelState& m = *models_[static_cast<std::size_t>(model_of_gpu_[ref])];
  if (m.slots) m.slots->Erase(ref);
  m.free_whole.erase(ref);
}

void Scheduler::IndexGpu(GpuRef ref) {
  const Gpu& gpu = gpus_[ref];
  if (gpu.removed || gpu.reserved_for.valid()) return;
  ModelState& m = *models_[static_cast<std::size_t>(model_of_gpu_[ref])];
  if (gpu.mode == GpuMode::kDynamic && m.slots) m.slots->Upsert(ref, gpu.occupancy);
  if (gpu.mode == GpuMode::kWhole && !gpu.whole_job.valid()) m.free_whole.insert(ref);
}

Result<void> Scheduler::UpsertQuotaNode(const QuotaNodeSpec& spec, bool dry_run) {
  QuotaTree tree = quota_;
  QuotaNodeId parent;
  if (!spec.parent.empty()) {
    Result<QuotaNodeId> p = tree.Find(spec.parent);
    if (!p) return Fail(ErrorCode::kNotFound, "{}: no cohort '{}'", spec.name, spec.parent);
    parent = *p;
  }
  QuotaNodeId id;
  if (Result<QuotaNodeId> existing = tree.Find(spec.name)) {
    id = *existing;
    if (tree.is_team(id) != spec.team) {
      return Fail(ErrorCode::kInvalidArgument, "'{}' is a {}; it cannot become a {}", spec.name,
                  tree.is_team(id) ? "team" : "cohort", spec.team ? "team" : "cohort");
    }
    if (tree.parent(id) != parent) {
      if (Result<void> r = tree.SetParent(id, parent); !r) return Fail(r.error().WithContext(spec.name));
    }
  } else {
    Result<QuotaNodeId> added =
        spec.team ? tree.AddTeam(spec.name, parent) : tree.AddCohort(spec.name, parent);
    if (!added) return Fail(added.error());
    id = *added;
  }
  if (Result<void> r = tree.SetWeight(id, spec.weight); !r) return Fail(r.error().WithContext(spec.name));
  for (const auto& [class_name, q] : spec.quotas) {
    Result<ClassId> c = tree.AddClass(class_name);
    if (!c) return Fail(c.error().WithContext(spec.name));
    if (Result<void> r = tree.SetQuota(id, *c, q); !r) return Fail(r.error().WithContext(spec.name));
  }
  if (!dry_run) quota_ = std::move(tree);
  return {};
}

Result<std::vector<Decision>> Scheduler::SetGpuMode(GpuRef ref, GpuMode mode, std::int64_t now_ms) {
  if (ref >= gpus_.size()) return Fail(ErrorCode::kNotFound, "no GPU {}", ref);
  Gpu& gpu = gpus_[ref];
  const std::string where = fmt::format("node {} GPU {}", node(gpu.node).name, gpu.index);
  if (gpu.removed) return Fail(ErrorCode::kFailedPrecondition, "{}: the node has been removed", where);
  std::vector<Decision> out;
  if (mode == gpu.mode) return out;
  if (mode == GpuMode::kCordoned || mode == GpuMode::kDraining) {
    DropReservation(gpu.reserved_for);
    UnindexGpu(ref);
    gpu.mode = mode;
    if (mode == GpuMode::kDraining && gpu.base_mode == GpuMode::kDynamic) {
      const std::vector<Instance> all = gpu.instances;
      for (const Instance& inst : all) {
        if (inst.job.valid()) continue;
        DestroyInstance(ref, inst.id);
        ++usage_.instances_destroyed;
        out.push_back({Decision::Kind::kDestroyInstance, ref, inst.id, inst.placement, {}, {}});
      }
    }
    return out;
  }
  if (mode == gpu.base_mode) {  // uncordon
    gpu.mode = mode;
    IndexGpu(ref);
    return out;
  }
  // A change of kind: dynamic <-> whole on an empty GPU; static -> dynamic or whole on a GPU
  // without jobs (its layout is what the switch removes, and nothing else ever destroys it).
  if (mode == GpuMode::kStatic) {
    return Fail(ErrorCode::kInvalidArgument, "{}: a static layout is set with SetStaticLayout, not a mode",
                where);
  }
  if (mode == GpuMode::kDynamic && gpu.geometry == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "{}: {} has no MIG, so it cannot be dynamic", where,
                gpu.model->name);
  }
  if (!IsBaseMode(mode)) return Fail(ErrorCode::kInvalidArgument, "{}: unknown mode", where);
  if (gpu.base_mode == GpuMode::kStatic) {
    if (const int jobs = JobsOn(gpu); jobs > 0) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "{}: switching static -> {} needs a GPU without jobs ({} running)", where,
                  GpuModeName(mode), jobs);
    }
  } else if (!gpu.instances.empty() || gpu.whole_job.valid()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "{}: switching {} -> {} needs an empty GPU ({} instances, {} running whole-GPU jobs)", where,
                GpuModeName(gpu.base_mode), GpuModeName(mode), gpu.instances.size(),
                gpu.whole_job.valid() ? 1 : 0);
  }
  Rebase(ref, mode, nullptr, /*keep_hold=*/false, now_ms, out);
  return out;
}

Result<std::vector<Decision>> Scheduler::SetStaticLayout(GpuRef ref, std::optional<mig::Layout> layout,
                                                         std::int64_t now_ms) {
  if (ref >= gpus_.size()) return Fail(ErrorCode::kNotFound, "no GPU {}", ref);
  const Gpu& gpu = gpus_[ref];
  const std::string where = fmt::format("node {} GPU {}", node(gpu.node).name, gpu.index);
  if (gpu.removed) return Fail(ErrorCode::kFailedPrecondition, "{}: the node has been removed", where);
  if (gpu.geometry == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "{}: {} has no MIG, so it cannot be {}", where, gpu.model->name,
                layout ? "static" : "dynamic");
  }
  // Occupy checks what AddNode checks: profiles, starts, overlaps, maxima, media rules.
  if (layout) {
    if (Result<mig::Occupancy> occ = gpu.geometry->Occupy(*layout); !occ) {
      return Fail(ErrorCode::kInvalidArgument, "{}: static layout is not legal on {}: {}", where,
                  gpu.model->name, occ.error().message);
    }
  }
  std::vector<Decision> out;
  if (!layout && gpu.base_mode == GpuMode::kDynamic) return out;
  if (layout && gpu.base_mode == GpuMode::kStatic && HasLayout(gpu, *layout)) return out;
  if (const int jobs = JobsOn(gpu); jobs > 0) {
    return Fail(ErrorCode::kFailedPrecondition, "{}: {} job{} run{} on it: drain it and wait for {} first",
                where, jobs, jobs == 1 ? "" : "s", jobs == 1 ? "s" : "", jobs == 1 ? "it" : "them");
  }
  Rebase(ref, layout ? GpuMode::kStatic : GpuMode::kDynamic, layout ? &*layout : nullptr, /*keep_hold=*/true,
         now_ms, out);
  return out;
}

// Makes `base` the GPU's base mode, leaving it as AddNode builds a GPU of that mode. The caller
// checked that no job runs on it and that `base` (and `layout`, for kStatic) suit its model.
//   1. a reservation holding the GPU is dropped (its other GPUs go back to the pool);
//   2. the GPU leaves the pool of its old mode and the per-model counters move;
//   3. every instance (all idle) is destroyed, then the layout's instances are created idle;
//   4. it joins the pool of the new mode — the SlotIndex for dynamic, the free whole GPUs for
//      whole; static GPUs are found through the idle sets — unless a kept cordon or drain holds it.
void Scheduler::Rebase(GpuRef ref, GpuMode base, const mig::Layout* layout, bool keep_hold,
                       std::int64_t now_ms, std::vector<Decision>& out) {
  Gpu& gpu = gpus_[ref];
  ModelState& m = *models_[static_cast<std::size_t>(model_of_gpu_[ref])];
  auto counter = [&m](GpuMode mode) -> int& {
    return mode == GpuMode::kDynamic  ? m.dynamic_gpus
           : mode == GpuMode::kStatic ? m.static_gpus
                                      : m.whole_gpus;
  };
  DropReservation(gpu.reserved_for);
  UnindexGpu(ref);
  --counter(gpu.base_mode);
  ++counter(base);
  gpu.base_mode = base;
  if (!keep_hold || !IsHeld(gpu.mode)) gpu.mode = base;
  const std::vector<Instance> all = gpu.instances;
  for (const Instance& inst : all) {
    DestroyInstance(ref, inst.id);
    ++usage_.instances_destroyed;
    out.push_back({Decision::Kind::kDestroyInstance, ref, inst.id, inst.placement, {}, {}});
  }
  if (layout != nullptr) {
    for (const mig::Placement& p : *layout) {
      const InstanceId id = CreateInstance(ref, p, now_ms);
      ++usage_.instances_created;
      out.push_back({Decision::Kind::kCreateInstance, ref, id, p, {}, {}});
    }
  }
  IndexGpu(ref);
}

Result<std::vector<JobId>> Scheduler::RemoveNode(NodeId id, std::int64_t now_ms) {
  if (!id.valid() || id.value() > nodes_.size()) return Fail(ErrorCode::kNotFound, "no node {}", id.value());
  if (removed_nodes_.contains(id.value())) {
    return Fail(ErrorCode::kFailedPrecondition, "node {} has been removed already", node(id).name);
  }
  const Node& n = node(id);
  // Jobs with a slice on the node, in id order so the requeue is deterministic.
  std::set<std::uint64_t> hit;
  for (GpuRef ref : n.gpus) {
    const Gpu& gpu = gpus_[ref];
    if (gpu.whole_job.valid()) hit.insert(gpu.whole_job.value());
    for (const Instance& inst : gpu.instances) {
      if (inst.job.valid()) hit.insert(inst.job.value());
    }
  }
  std::vector<JobId> requeued;
  for (std::uint64_t j : hit) {
    Job& job = jobs_.at(j);
    ReleaseJob(job, now_ms);
    job.start_ms = -1;
    Enqueue(job);
    requeued.push_back(job.id);
  }
  for (GpuRef ref : n.gpus) {
    Gpu& gpu = gpus_[ref];
    ModelState& m = *models_[static_cast<std::size_t>(model_of_gpu_[ref])];
    DropReservation(gpu.reserved_for);
    const std::vector<Instance> all = gpu.instances;
    for (const Instance& inst : all) DestroyInstance(ref, inst.id);  // the node's state is gone with it
    UnindexGpu(ref);
    m.gpus_with_idle.erase(ref);
    if (gpu.base_mode == GpuMode::kDynamic) --m.dynamic_gpus;
    if (gpu.base_mode == GpuMode::kStatic) --m.static_gpus;
    if (gpu.base_mode == GpuMode::kWhole) --m.whole_gpus;
    m.gpus.erase(std::remove(m.gpus.begin(), m.gpus.end(), ref), m.gpus.end());
    usage_.total_slices -= WholeSlices(*gpu.model);
    gpu.removed = true;
    gpu.mode = GpuMode::kCordoned;
  }
  removed_nodes_.insert(id.value());
  return requeued;
}

Result<JobId> Scheduler::Restore(Job job, const std::vector<RestoredSlice>& slices, std::int64_t now_ms) {
  if (!quota_.is_team(job.team)) return Fail(ErrorCode::kNotFound, "job {}: unknown team", job.name);
  if (static_cast<int>(slices.size()) != job.count || job.count < 1) {
    return Fail(ErrorCode::kInvalidArgument, "job {}: {} slices for a gang of {}", job.name, slices.size(),
                job.count);
  }
  // Check everything first, on copies of the occupancies, so that an error changes nothing.
  std::map<GpuRef, mig::Occupancy> occ;
  std::set<GpuRef> wholes;
  std::vector<InstanceId> layout_instances(slices.size());  // static GPUs: the idle instance it had
  for (std::size_t k = 0; k < slices.size(); ++k) {
    const RestoredSlice& r = slices[k];
    if (r.gpu >= gpus_.size() || gpus_[r.gpu].removed) {
      return Fail(ErrorCode::kInvalidArgument, "job {}: no GPU {}", job.name, r.gpu);
    }
    const Gpu& gpu = gpus_[r.gpu];
    if (!r.placement) {
      if (gpu.base_mode != GpuMode::kWhole || gpu.whole_job.valid() || !wholes.insert(r.gpu).second) {
        return Fail(ErrorCode::kInvalidArgument, "job {}: GPU {} is not a free whole GPU", job.name, r.gpu);
      }
      continue;
    }
    if (gpu.geometry == nullptr || gpu.base_mode == GpuMode::kWhole) {
      return Fail(ErrorCode::kInvalidArgument, "job {}: GPU {} has no MIG instances", job.name, r.gpu);
    }
    if (gpu.base_mode == GpuMode::kStatic) {  // it ran on one of the layout's instances
      for (const Instance& inst : gpu.instances) {
        const bool taken =
            std::find(layout_instances.begin(), layout_instances.end(), inst.id) != layout_instances.end();
        if (!inst.job.valid() && !taken && inst.placement == *r.placement) layout_instances[k] = inst.id;
      }
      if (!layout_instances[k].valid()) {
        return Fail(ErrorCode::kInvalidArgument,
                    "job {}: GPU {} has no idle instance of its static layout there", job.name, r.gpu);
      }
      continue;
    }
    mig::Occupancy& o = occ.try_emplace(r.gpu, gpu.occupancy).first->second;
    if (r.placement->profile < 0 || r.placement->profile >= gpu.geometry->num_profiles() ||
        !gpu.geometry->CanAdd(o, *r.placement)) {
      return Fail(ErrorCode::kInvalidArgument, "job {}: placement {} is not free on GPU {}", job.name,
                  r.placement->profile >= 0 && r.placement->profile < gpu.geometry->num_profiles()
                      ? gpu.geometry->Describe(*r.placement)
                      : std::string("?"),
                  r.gpu);
    }
    gpu.geometry->Add(o, *r.placement);
  }
  job.id = JobId(next_job_++);
  job.state = JobState::kRunning;
  job.start_ms = now_ms;
  job.pending = {};
  job.bindings.clear();
  std::map<std::uint64_t, std::int64_t> per_class;
  for (std::size_t k = 0; k < slices.size(); ++k) {
    const RestoredSlice& r = slices[k];
    Gpu& gpu = gpus_[r.gpu];
    ModelState& m = *models_[static_cast<std::size_t>(model_of_gpu_[r.gpu])];
    MilliGpu cost(1000);
    if (r.placement) {
      cost = gpu.model->Cost(gpu.model->profiles[static_cast<std::size_t>(r.placement->profile)]);
      const InstanceId id =
          layout_instances[k].valid() ? layout_instances[k] : CreateInstance(r.gpu, *r.placement, now_ms);
      SetBusy(r.gpu, id, job.id);
      job.bindings.push_back({r.gpu, id, cost});
    } else {
      m.free_whole.erase(r.gpu);
      gpu.whole_job = job.id;
      usage_.busy_slices += WholeSlices(*m.model);
      job.bindings.push_back({r.gpu, InstanceId(), cost});
    }
    per_class[gpu.quota_class.value()] += cost.value();
  }
  QuotaRequest request;
  for (const auto& [cls, amount] : per_class) request.push_back({ClassId(cls), MilliGpu(amount)});
  (void)quota_.Charge(job.team, request);  // admitted before the restart
  if (job.preemptible) preemptible_[job.team.value()].insert({job.priority, -now_ms, job.id.value()});
  const JobId id = job.id;
  jobs_.emplace(id.value(), std::move(job));
  return id;
}

void Scheduler::NoteDemand(ModelState& m, int profile, std::int64_t now_ms) {
  if (profile < 0 || static_cast<std::size_t>(profile) >= m.placed_at.size()) return;
  std::deque<std::int64_t>& q = m.placed_at[static_cast<std::size_t>(profile)];
  q.push_back(now_ms);
  while (!q.empty() && q.front() <= now_ms - options_.warm_idle_ms) q.pop_front();
}

// Idle instances older than warm_idle_ms are destroyed. With demand_warm, a shape placed k times
// in the last warm window keeps up to k idle instances (young or old) of that (model, profile):
// such jobs are likely to come again soon. Static layouts never expire.
void Scheduler::ExpireIdle(std::int64_t now_ms, std::vector<Decision>& out) {
  for (const auto& m : models_) {
    std::vector<std::int64_t> keep(m->placed_at.size(), 0);
    if (options_.demand_warm) {
      for (std::size_t p = 0; p < m->placed_at.size(); ++p) {
        std::deque<std::int64_t>& q = m->placed_at[p];
        while (!q.empty() && q.front() <= now_ms - options_.warm_idle_ms) q.pop_front();
        keep[p] = static_cast<std::int64_t>(q.size());
      }
    }
    const std::vector<GpuRef> gpus(m->gpus_with_idle.begin(), m->gpus_with_idle.end());
    for (GpuRef ref : gpus) {
      if (gpus_[ref].base_mode != GpuMode::kDynamic || gpus_[ref].removed) continue;
      std::vector<Instance> expired;
      for (const Instance& inst : gpus_[ref].instances) {
        if (inst.job.valid()) continue;
        // The demand budget covers young and old idle instances alike; young ones always stay.
        if (std::int64_t& k = keep[static_cast<std::size_t>(inst.placement.profile)]; k > 0) {
          --k;
        } else if (now_ms - inst.idle_since_ms >= options_.warm_idle_ms) {
          expired.push_back(inst);
        }
      }
      for (const Instance& inst : expired) {
        DestroyInstance(ref, inst.id);
        ++usage_.instances_destroyed;
        out.push_back({Decision::Kind::kDestroyInstance, ref, inst.id, inst.placement, {}, {}});
      }
    }
  }
}

}  // namespace gpuslice::sched
