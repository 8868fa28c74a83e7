#include "cli/sim_workloads.h"

#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>

namespace gpuslice::cli {
namespace {

// FNV-1a: stable across builds and restarts, unlike std::hash.
std::uint64_t Fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (const unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

bool Alive(std::uint32_t pid) {
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

struct Placement {
  int gpu = 0;
  int gi = -1;
  int ci = -1;
  MiB memory;  // the instance's, or the whole GPU's
};

}  // namespace

SimProcessChanges SyncSimWorkloadProcesses(gpu::SimBackend& sim,
                                           const std::vector<agent::WorkloadStatus>& workloads) {
  SimProcessChanges changes;
  const gpu::GpuResult<std::vector<gpu::GpuInfo>> gpus = sim.ListGpus();
  if (!gpus) return changes;
  // Where each device UUID lives now.
  std::map<std::string, Placement, std::less<>> where;
  for (const gpu::GpuInfo& g : *gpus) {
    if (g.health.state == gpu::HealthState::kLost) continue;
    if (!(g.mig_capable && g.mig.current)) {
      where[g.uuid] = {g.index, -1, -1, g.memory_total};
      continue;
    }
    const auto instances = sim.Instances(g.index);
    if (!instances) continue;
    for (const gpu::Instance& in : *instances) {
      if (in.mig_uuid.empty()) continue;
      const auto usage = sim.Usage(g.index, in.gpu_instance_id);
      if (usage)
        where[in.mig_uuid] = {g.index, in.gpu_instance_id, in.compute_instance_id, usage->memory_total};
    }
  }
  // What should be attached: (gpu, pid) -> the process.
  std::map<std::pair<int, std::uint32_t>, gpu::SimProcess> want;
  std::set<std::uint32_t> not_running;  // pids of workloads that ended
  for (const agent::WorkloadStatus& w : workloads) {
    if (!w.pid || *w.pid <= 0) continue;
    const auto pid = static_cast<std::uint32_t>(*w.pid);
    if (w.state != api::WorkloadState::kRunning) {
      not_running.insert(pid);
      continue;
    }
    const std::uint64_t h = Fnv1a(w.job_id);
    for (const std::string& uuid : w.device_uuids) {
      const auto it = where.find(uuid);
      if (it == where.end()) continue;
      const Placement& p = it->second;
      if (want.contains({p.gpu, pid})) continue;  // one process per GPU, as CUDA shows it
      want[{p.gpu, pid}] =
          gpu::SimProcess{.pid = pid,
                          .gpu_instance_id = p.gi,
                          .compute_instance_id = p.ci,
                          .memory_used = MiB(p.memory.value() * static_cast<std::int64_t>(30 + h % 50) / 100),
                          .activity_percent = static_cast<int>(15 + (h / 50) % 80)};
    }
  }
  for (const gpu::GpuInfo& g : *gpus) {
    const auto procs = sim.Processes(g.index);
    if (!procs) continue;
    for (const gpu::GpuProcess& p : *procs) {
      const auto it = want.find({g.index, p.pid});
      if (it != want.end() && it->second.gpu_instance_id == p.gpu_instance_id) {
        want.erase(it);  // already there
        continue;
      }
      if (it != want.end() || not_running.contains(p.pid) || !Alive(p.pid)) {
        if (sim.DetachProcess(g.index, p.pid)) ++changes.detached;
      }
    }
  }
  for (const auto& [key, process] : want) {
    if (sim.AttachProcess(key.first, process)) ++changes.attached;
  }
  return changes;
}

}  // namespace gpuslice::cli
