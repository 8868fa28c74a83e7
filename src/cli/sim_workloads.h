// The agent's workloads as GPU processes on simulated GPUs.
//
// On a real GPU a workload shows up in NVML as a compute process on its MIG instance (or its
// whole GPU) once it runs CUDA, and vanishes when the process ends. On simulated GPUs nothing
// runs CUDA, so without help every slice would look idle: usage would show no memory, the
// idle-but-allocated metric would count every busy slice, and the rule that an instance with
// processes on it is never destroyed would never be exercised. SyncSimWorkloadProcesses keeps the
// simulated hardware as a real node would be:
//  * each running workload gets one synthetic process per GPU it uses, with its pid, on the
//    instance its MIG UUID names (or the whole GPU for a GPU-<uuid>), using 30-79% of the
//    instance's memory and keeping its SMs 15-94% busy, both drawn from the job id (stable across
//    agent restarts); activity is visible only where the simulated GPU can measure it (Hopper and
//    later), as on hardware;
//  * a process is removed once its pid is gone, or when it is the pid of a workload that is no
//    longer running. Processes someone else attached to a live pid are left alone.
//
// Thread-safety: none; the agent loop calls it.
#pragma once

#include <vector>

#include "agent/supervisor.h"
#include "gpu/sim_backend.h"

namespace gpuslice::cli {

struct SimProcessChanges {
  int attached = 0;
  int detached = 0;
};

SimProcessChanges SyncSimWorkloadProcesses(gpu::SimBackend& sim,
                                           const std::vector<agent::WorkloadStatus>& workloads);

}  // namespace gpuslice::cli
