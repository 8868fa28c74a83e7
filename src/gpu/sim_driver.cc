#include "gpu/sim_driver.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace gpuslice::gpu::sim {
namespace {

GpuResult<const SimGpu*> Find(const SimState& s, int gpu, bool allow_lost) {
  if (gpu < 0 || gpu >= static_cast<int>(s.gpus.size())) {
    return GpuFail(GpuErrorKind::kNotFound, "no GPU {} (the node has {})", gpu, s.gpus.size());
  }
  const SimGpu& g = s.gpus[static_cast<std::size_t>(gpu)];
  if (g.lost && !allow_lost) return GpuFail(GpuErrorKind::kGpuLost, "GPU {} ({}) is lost", gpu, g.uuid);
  return &g;
}

GpuResult<SimGpu*> FindMutable(SimState& s, int gpu) {
  GpuResult<const SimGpu*> g = Find(s, gpu, /*allow_lost=*/false);
  if (!g) return GpuFail(g.error());
  return &s.gpus[static_cast<std::size_t>(gpu)];
}

GpuResult<void> RequireMig(const SimGpu& g, int gpu) {
  if (!g.model->mig_capable)
    return GpuFail(GpuErrorKind::kNotSupported, "GPU {} ({}) has no MIG", gpu, g.model->name);
  if (!g.mig.current) return GpuFail(GpuErrorKind::kNotSupported, "MIG mode is off on GPU {}", gpu);
  return {};
}

template <typename G>
auto FindInstance(G& g, int gi) -> decltype(&g.instances.front()) {
  for (auto& in : g.instances) {
    if (in.gpu_instance_id == gi) return &in;
  }
  return nullptr;
}

bool HasProcesses(const SimGpu& g, int gi) {
  return std::any_of(g.processes.begin(), g.processes.end(),
                     [&](const SimProcess& p) { return p.gpu_instance_id == gi; });
}

// A destroy that the armed busy_destroys fault turns into kInUse.
GpuResult<void> ConsumeBusyFault(SimState& s, int gpu, int gi) {
  if (s.faults.busy_destroys <= 0) return {};
  --s.faults.busy_destroys;
  return GpuFail(GpuErrorKind::kInUse, "GPU {} instance {} is in use (injected fault)", gpu, gi);
}

const mig::Profile& ProfileOf(const SimGpu& g, const SimInstance& in) {
  return g.model->profiles[static_cast<std::size_t>(SimProfileIndex(*g.model, in.profile_id))];
}

Instance ToInstance(const SimGpu& g, const SimInstance& in) {
  const mig::Profile& p = ProfileOf(g, in);
  return Instance{.gpu_instance_id = in.gpu_instance_id,
                  .compute_instance_id = in.compute_instance_id,
                  .profile_id = in.profile_id,
                  .profile = p.name,
                  .placement = {in.start, p.size_units},
                  .mig_uuid = in.mig_uuid};
}

GpuProfile ToProfile(const mig::GpuModel& m, int index) {
  const mig::Profile& p = m.profiles[static_cast<std::size_t>(index)];
  GpuProfile out{.profile_id = SimProfileId(m, index),
                 .name = p.name,
                 .compute_slices = p.compute_slices,
                 .max_count = p.max_count,
                 .sm_count = p.sm_count.value_or(0),
                 .copy_engines = p.copy_engines.value_or(0),
                 .memory = SimProfileMemory(m, p)};
  if (p.media_engines) {
    out.decoders = p.media_engines->decoders;
    out.encoders = p.media_engines->encoders;
    out.jpeg = p.media_engines->jpeg;
    out.ofa = p.media_engines->ofa;
  }
  for (const int start : p.starts) out.placements.push_back({start, p.size_units});
  return out;
}

}  // namespace

GpuResult<GpuInfo> Info(const SimState& s, int gpu) {
  GpuResult<const SimGpu*> found = Find(s, gpu, /*allow_lost=*/true);
  if (!found) return GpuFail(found.error());
  const SimGpu& g = **found;
  GpuInfo info{.index = gpu,
               .uuid = g.uuid,
               .name = g.sku->name,
               .pci_bus_id = g.pci_bus_id,
               .pci_device_id = g.sku->pci_id.value_or(0),
               .memory_total = SimGpuMemory(*g.model),
               .mig_capable = g.model->mig_capable,
               .mig = g.mig};
  GpuResult<GpuHealth> health = Health(s, gpu);
  if (health) info.health = *health;
  return info;
}

GpuResult<GpuGeometry> Geometry(const SimState& s, int gpu) {
  GpuResult<const SimGpu*> g = Find(s, gpu, false);
  if (!g) return GpuFail(g.error());
  const mig::GpuModel& m = *(*g)->model;
  if (!m.mig_capable) return GpuFail(GpuErrorKind::kNotSupported, "GPU {} ({}) has no MIG", gpu, m.name);
  GpuGeometry geo{.memory_units = m.memory_units};
  for (int i = 0; i < static_cast<int>(m.profiles.size()); ++i) geo.profiles.push_back(ToProfile(m, i));
  return geo;
}

GpuResult<std::vector<Instance>> Instances(const SimState& s, int gpu) {
  GpuResult<const SimGpu*> g = Find(s, gpu, false);
  if (!g) return GpuFail(g.error());
  if (auto ok = RequireMig(**g, gpu); !ok) return GpuFail(ok.error());
  std::vector<Instance> out;
  for (const SimInstance& in : (*g)->instances) out.push_back(ToInstance(**g, in));
  return out;
}

GpuResult<InstanceUsage> Usage(const SimState& s, int gpu, int gi) {
  GpuResult<const SimGpu*> found = Find(s, gpu, false);
  if (!found) return GpuFail(found.error());
  const SimGpu& g = **found;
  if (auto ok = RequireMig(g, gpu); !ok) return GpuFail(ok.error());
  const SimInstance* in = FindInstance(g, gi);
  if (in == nullptr) return GpuFail(GpuErrorKind::kNotFound, "GPU {} has no GPU instance {}", gpu, gi);
  InstanceUsage u{.memory_total = SimProfileMemory(*g.model, ProfileOf(g, *in))};
  for (const SimProcess& p : g.processes) {
    if (p.gpu_instance_id == gi) u.memory_used += p.memory_used;
  }
  if (MeasuresMigActivity(*g.model)) {
    u.activity_percent = InstanceActivity(g, gi);
  } else {
    u.activity_note = kNoMigActivityNote;
  }
  return u;
}

bool MeasuresMigActivity(const mig::GpuModel& model) {
  switch (model.architecture) {
    case mig::Architecture::kHopper:
    case mig::Architecture::kBlackwell: return true;
    case mig::Architecture::kVolta:
    case mig::Architecture::kTuring:
    case mig::Architecture::kAmpere:
    case mig::Architecture::kAda: return false;
  }
  return false;
}

int InstanceActivity(const SimGpu& g, int gi) {
  int sum = 0;
  for (const SimProcess& p : g.processes) {
    if (p.gpu_instance_id == gi) sum = std::min(100, sum + p.activity_percent);
  }
  return sum;
}

GpuResult<std::vector<GpuProcess>> Processes(const SimState& s, int gpu) {
  GpuResult<const SimGpu*> g = Find(s, gpu, false);
  if (!g) return GpuFail(g.error());
  std::vector<GpuProcess> out;
  for (const SimProcess& p : (*g)->processes) {
    out.push_back({p.pid, p.memory_used, p.gpu_instance_id, p.compute_instance_id});
  }
  return out;
}

GpuResult<GpuHealth> Health(const SimState& s, int gpu) {
  GpuResult<const SimGpu*> found = Find(s, gpu, /*allow_lost=*/true);
  if (!found) return GpuFail(found.error());
  const SimGpu& g = **found;
  if (g.lost) return GpuHealth{HealthState::kLost, "GPU has fallen off the bus (simulated)"};
  if (g.mig.current != g.mig.pending) {
    return GpuHealth{HealthState::kResetRequired,
                     fmt::format("MIG mode {} is pending a GPU reset", g.mig.pending ? "on" : "off")};
  }
  return GpuHealth{};
}

GpuResult<int> CreateGpuInstance(SimState& s, int gpu, int profile_id, int start) {
  GpuResult<SimGpu*> found = FindMutable(s, gpu);
  if (!found) return GpuFail(found.error());
  SimGpu& g = **found;
  if (auto ok = RequireMig(g, gpu); !ok) return GpuFail(ok.error());
  if (s.faults.fail_creates > 0) {
    --s.faults.fail_creates;
    return GpuFail(s.faults.fail_create_error, "creating a GPU instance on GPU {} failed (injected fault)",
                   gpu);
  }
  const mig::GpuModel& m = *g.model;
  const int index = SimProfileIndex(m, profile_id);
  if (index < 0)
    return GpuFail(GpuErrorKind::kInvalidArgument, "{} has no GPU-instance profile id {}", m.name,
                   profile_id);
  const mig::Profile& p = m.profiles[static_cast<std::size_t>(index)];
  if (std::find(p.starts.begin(), p.starts.end(), start) == p.starts.end()) {
    return GpuFail(GpuErrorKind::kInvalidArgument, "start {} is not a placement of {} (allowed: {})", start,
                   p.name, fmt::join(p.starts, ", "));
  }
  mig::Layout layout;
  for (const SimInstance& in : g.instances) layout.push_back({SimProfileIndex(m, in.profile_id), in.start});
  layout.push_back({index, start});
  if (auto ok = SimGeometryFor(m).Validate(layout); !ok) {
    return GpuFail(GpuErrorKind::kInsufficientResources, "{} at {} does not fit on GPU {}: {}", p.name, start,
                   gpu, ok.error().message);
  }
  const int id = SimGpuInstanceId(m, p.size_units, g.instances);
  g.instances.push_back({.gpu_instance_id = id, .profile_id = profile_id, .start = start});
  std::sort(g.instances.begin(), g.instances.end(),
            [](const SimInstance& a, const SimInstance& b) { return a.start < b.start; });
  return id;
}

GpuResult<int> CreateComputeInstance(SimState& s, int gpu, int gi) {
  GpuResult<SimGpu*> found = FindMutable(s, gpu);
  if (!found) return GpuFail(found.error());
  if (auto ok = RequireMig(**found, gpu); !ok) return GpuFail(ok.error());
  SimInstance* in = FindInstance(**found, gi);
  if (in == nullptr) return GpuFail(GpuErrorKind::kNotFound, "GPU {} has no GPU instance {}", gpu, gi);
  if (in->compute_instance_id >= 0) {
    return GpuFail(GpuErrorKind::kInsufficientResources, "GPU instance {} already has compute instance {}",
                   gi, in->compute_instance_id);
  }
  in->compute_instance_id = 0;
  in->mig_uuid = SimMigUuid(s.seed, ++s.uuid_counter);
  return 0;
}

GpuResult<void> DestroyComputeInstance(SimState& s, int gpu, int gi, int ci) {
  GpuResult<SimGpu*> found = FindMutable(s, gpu);
  if (!found) return GpuFail(found.error());
  SimGpu& g = **found;
  if (auto ok = RequireMig(g, gpu); !ok) return GpuFail(ok.error());
  SimInstance* in = FindInstance(g, gi);
  if (in == nullptr || in->compute_instance_id < 0 || in->compute_instance_id != ci) {
    return GpuFail(GpuErrorKind::kNotFound, "GPU {} instance {} has no compute instance {}", gpu, gi, ci);
  }
  if (HasProcesses(g, gi)) {
    return GpuFail(GpuErrorKind::kInUse, "GPU {} instance {} has processes running", gpu, gi);
  }
  if (auto ok = ConsumeBusyFault(s, gpu, gi); !ok) return ok;
  in->compute_instance_id = -1;
  in->mig_uuid.clear();
  return {};
}

GpuResult<void> DestroyGpuInstance(SimState& s, int gpu, int gi) {
  GpuResult<SimGpu*> found = FindMutable(s, gpu);
  if (!found) return GpuFail(found.error());
  SimGpu& g = **found;
  if (auto ok = RequireMig(g, gpu); !ok) return GpuFail(ok.error());
  SimInstance* in = FindInstance(g, gi);
  if (in == nullptr) return GpuFail(GpuErrorKind::kNotFound, "GPU {} has no GPU instance {}", gpu, gi);
  if (in->compute_instance_id >= 0 || HasProcesses(g, gi)) {
    return GpuFail(GpuErrorKind::kInUse, "GPU {} instance {} still has a compute instance or processes", gpu,
                   gi);
  }
  if (auto ok = ConsumeBusyFault(s, gpu, gi); !ok) return ok;
  std::erase_if(g.instances, [&](const SimInstance& i) { return i.gpu_instance_id == gi; });
  return {};
}

GpuResult<MigMode> SetMigMode(SimState& s, int gpu, bool enabled) {
  GpuResult<SimGpu*> found = FindMutable(s, gpu);
  if (!found) return GpuFail(found.error());
  SimGpu& g = **found;
  if (!g.model->mig_capable)
    return GpuFail(GpuErrorKind::kNotSupported, "GPU {} ({}) has no MIG", gpu, g.model->name);
  if (g.mig.current == enabled && g.mig.pending == enabled) return g.mig;
  if (!enabled && !g.instances.empty()) {
    return GpuFail(GpuErrorKind::kInUse, "GPU {} has {} MIG instances; destroy them before turning MIG off",
                   gpu, g.instances.size());
  }
  const bool busy = !g.processes.empty();
  if (g.model->architecture == mig::Architecture::kAmpere) {
    // Ampere: the change needs a GPU reset, which the driver performs now only on an idle GPU.
    g.mig.pending = enabled;
    if (!busy) g.mig.current = enabled;
    return g.mig;
  }
  if (busy) return GpuFail(GpuErrorKind::kInUse, "GPU {} has processes running", gpu);
  g.mig.current = g.mig.pending = enabled;
  return g.mig;
}

GpuResult<void> ResetGpu(SimState& s, int gpu) {
  GpuResult<SimGpu*> found = FindMutable(s, gpu);
  if (!found) return GpuFail(found.error());
  SimGpu& g = **found;
  if (!g.processes.empty())
    return GpuFail(GpuErrorKind::kInUse, "GPU {} has processes running; not resetting", gpu);
  g.instances.clear();  // MIG instances do not survive a GPU reset
  g.mig.current = g.mig.pending;
  return {};
}

GpuResult<void> AttachProcess(SimState& s, int gpu, SimProcess p) {
  GpuResult<SimGpu*> found = FindMutable(s, gpu);
  if (!found) return GpuFail(found.error());
  SimGpu& g = **found;
  if (p.pid == 0 || p.memory_used < MiB(0) || p.activity_percent < 0 || p.activity_percent > 100) {
    return GpuFail(GpuErrorKind::kInvalidArgument,
                   "process needs a pid > 0, memory >= 0 and activity 0..100");
  }
  if (std::any_of(g.processes.begin(), g.processes.end(),
                  [&](const SimProcess& q) { return q.pid == p.pid; })) {
    return GpuFail(GpuErrorKind::kInvalidArgument, "pid {} already runs on GPU {}", p.pid, gpu);
  }
  if (g.processes.size() >= kSimMaxProcessesPerGpu) {
    return GpuFail(GpuErrorKind::kInsufficientResources, "GPU {} has {} processes already", gpu,
                   g.processes.size());
  }
  MiB capacity = SimGpuMemory(*g.model);
  MiB used;
  if (g.mig.current) {
    const SimInstance* in = FindInstance(g, p.gpu_instance_id);
    if (in == nullptr || in->compute_instance_id < 0 ||
        (p.compute_instance_id >= 0 && p.compute_instance_id != in->compute_instance_id)) {
      return GpuFail(GpuErrorKind::kNotFound, "GPU {} has no instance {} with a compute instance", gpu,
                     p.gpu_instance_id);
    }
    p.compute_instance_id = in->compute_instance_id;
    capacity = SimProfileMemory(*g.model, ProfileOf(g, *in));
  } else {
    p.gpu_instance_id = p.compute_instance_id = -1;
  }
  for (const SimProcess& q : g.processes) {
    if (q.gpu_instance_id == p.gpu_instance_id) used += q.memory_used;
  }
  if (used + p.memory_used > capacity) {
    return GpuFail(GpuErrorKind::kInvalidArgument, "{} MiB more does not fit: {} of {} MiB in use",
                   p.memory_used.value(), used.value(), capacity.value());
  }
  g.processes.push_back(p);
  return {};
}

GpuResult<void> DetachProcess(SimState& s, int gpu, std::uint32_t pid) {
  GpuResult<SimGpu*> found = FindMutable(s, gpu);
  if (!found) return GpuFail(found.error());
  if (std::erase_if((*found)->processes, [&](const SimProcess& p) { return p.pid == pid; }) == 0) {
    return GpuFail(GpuErrorKind::kNotFound, "pid {} does not run on GPU {}", pid, gpu);
  }
  return {};
}

GpuResult<void> InjectFaults(SimState& s, const SimFaults& faults) {
  for (const int gpu : faults.lose_gpus) {
    if (gpu < 0 || gpu >= static_cast<int>(s.gpus.size())) {
      return GpuFail(GpuErrorKind::kNotFound, "cannot lose GPU {}: the node has {}", gpu, s.gpus.size());
    }
  }
  for (const int gpu : faults.lose_gpus) s.gpus[static_cast<std::size_t>(gpu)].lost = true;
  s.faults.fail_creates = faults.fail_creates;
  s.faults.fail_create_error = faults.fail_create_error;
  s.faults.busy_destroys = faults.busy_destroys;
  return {};
}

void Reboot(SimState& s) {
  for (SimGpu& g : s.gpus) {
    g.instances.clear();
    g.processes.clear();
    if (g.model->architecture == mig::Architecture::kAmpere) {
      g.mig.current = g.mig.pending;  // kept in the InfoROM; a pending change applies at boot
    } else {
      g.mig.current = g.mig.pending = false;  // Hopper+: MIG mode lives only while the driver is loaded
    }
  }
}

}  // namespace gpuslice::gpu::sim
