#include "gpu/gpu_backend.h"

namespace gpuslice::gpu {

std::string_view HealthStateName(HealthState state) {
  switch (state) {
    case HealthState::kHealthy: return "healthy";
    case HealthState::kResetRequired: return "reset-required";
    case HealthState::kLost: return "lost";
  }
  return "lost";
}

const GpuProfile* GpuGeometry::FindProfile(int profile_id) const {
  for (const GpuProfile& p : profiles) {
    if (p.profile_id == profile_id) return &p;
  }
  return nullptr;
}

GpuResult<std::vector<GpuProcess>> GpuBackend::InstanceProcesses(int gpu, int gpu_instance_id) {
  GpuResult<std::vector<GpuProcess>> all = Processes(gpu);
  if (!all) return GpuFail(all.error());
  std::vector<GpuProcess> mine;
  for (const GpuProcess& p : *all) {
    if (p.gpu_instance_id == gpu_instance_id) mine.push_back(p);
  }
  return mine;
}

}  // namespace gpuslice::gpu
