// The simulated driver: every SimBackend operation as a function over a SimState (no locks, no
// files). SimBackend wraps these with its mutex and state file; tests and the fuzz target can call
// them directly. The rules they implement are described in sim_backend.h.
//
// Each function checks the GPU index (kNotFound) and, except the views that must work on a lost
// GPU, that the GPU is not lost (kGpuLost) before anything else.
// Thread-safety: plain functions; the caller owns the state.
#pragma once

#include <cstdint>
#include <vector>

#include "gpu/gpu_backend.h"
#include "gpu/sim_state.h"

namespace gpuslice::gpu::sim {

// Views.
GpuResult<GpuInfo> Info(const SimState& s, int gpu);
GpuResult<GpuGeometry> Geometry(const SimState& s, int gpu);
GpuResult<std::vector<Instance>> Instances(const SimState& s, int gpu);
GpuResult<InstanceUsage> Usage(const SimState& s, int gpu, int gpu_instance_id);
GpuResult<std::vector<GpuProcess>> Processes(const SimState& s, int gpu);
GpuResult<GpuHealth> Health(const SimState& s, int gpu);

// Activity, as the driver can measure it: NVML attributes utilisation to a MIG instance only
// through GPM, which exists on Hopper and later — so Usage reports an activity only on those
// models (on Ampere none, with kNoMigActivityNote). The fake NVML library's GPM answers use the
// same two functions.
bool MeasuresMigActivity(const mig::GpuModel& model);
// The activity of one GPU instance: the sum of its processes' activity, capped at 100.
int InstanceActivity(const SimGpu& g, int gpu_instance_id);

// Changes.
GpuResult<int> CreateGpuInstance(SimState& s, int gpu, int profile_id, int start);
GpuResult<int> CreateComputeInstance(SimState& s, int gpu, int gpu_instance_id);
GpuResult<void> DestroyComputeInstance(SimState& s, int gpu, int gpu_instance_id, int compute_instance_id);
GpuResult<void> DestroyGpuInstance(SimState& s, int gpu, int gpu_instance_id);
GpuResult<MigMode> SetMigMode(SimState& s, int gpu, bool enabled);
GpuResult<void> ResetGpu(SimState& s, int gpu);
GpuResult<void> AttachProcess(SimState& s, int gpu, SimProcess process);
GpuResult<void> DetachProcess(SimState& s, int gpu, std::uint32_t pid);
GpuResult<void> InjectFaults(SimState& s, const SimFaults& faults);
void Reboot(SimState& s);

}  // namespace gpuslice::gpu::sim
