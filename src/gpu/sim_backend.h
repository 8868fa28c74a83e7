// SimBackend: a faithful model of the NVIDIA driver's MIG behaviour, without hardware
// (DESIGN.md §5). Used by `gpuslice up` on machines without GPUs, by tests, by demos, and behind
// the test-only fake libnvidia-ml.so.1 (testing/fake_nvml.cc) so NvmlBackend's code path runs in
// CI too.
//
// What it models:
//  * Geometry from the gpuslice catalog (profiles, device profile ids, allowed starts, maxima,
//    media-engine rules); placements are checked with mig::Geometry, so an overlapping create gets
//    kInsufficientResources exactly where the driver would say NVML_ERROR_INSUFFICIENT_RESOURCES.
//  * GI ids as the driver hands them out (SimGpuInstanceId, sim_state.h), CI ids from 0 per GI,
//    and MIG UUIDs drawn from the seed and a counter: deterministic, and new whenever an instance
//    is created again.
//  * MIG mode per architecture: on Ampere a change waits in `pending` and takes effect with a GPU
//    reset, which SetMigMode performs at once only if the GPU is idle (no processes) — otherwise
//    ResetGpu or Reboot applies it; the mode persists across Reboot. On Hopper and later a change
//    is immediate and Reboot turns MIG off again. Instances and processes never survive a reboot.
//  * Processes are synthetic: AttachProcess puts a "process" with a memory use and an activity on
//    an instance; Usage and Processes report them; destroying a busy instance fails with kInUse.
//    Usage reports activity only where NVML can measure it (GPM: Hopper and later); on Ampere it
//    reports none, with the note NvmlBackend gives there.
//  * Fault injection (SimFaults): fail the next N creates, report in-use on the next N destroys,
//    lose a GPU (every call but ListGpus/Health then fails with kGpuLost).
//
// State file. With `state_file` set, the simulated hardware lives in that JSON file (format in
// sim_state.h): Open loads it (or creates it from `gpus` when it does not exist), every change is
// written to a temporary file and renamed over it, and every call re-reads it when it changed, so
// several SimBackends — in one process or several, e.g. an agent and a test driving the
// "hardware" — see one machine. Changes are serialised across processes with flock on
// "<state_file>.lock". Without a state file the state lives in memory.
//
// Read-only mode refuses every state-changing call (the GpuBackend ones and the hardware controls
// below) with kReadOnly and never writes the file.
//
// Thread-safety: all calls are safe from several threads (one mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "gpu/gpu_backend.h"
#include "gpu/sim_state.h"

namespace gpuslice::gpu {

struct SimOptions {
  std::string gpus;         // "A100-SXM4-80GB:2,H100-80GB:1"; needed unless state_file exists
  std::string state_file;   // empty: in memory only
  std::uint64_t seed = 1;   // UUIDs of a new state
  bool mig_enabled = true;  // MIG mode of the MIG-capable GPUs of a new state
  bool read_only = false;
};

class SimBackend final : public GpuBackend {
 public:
  // Errors: kState for an unreadable or corrupt state file (the message names the file and the
  // field), or a state file whose GPUs differ from a non-empty `gpus`; kInvalidArgument /
  // kNotFound for a bad spec; kState when no spec and no file are given.
  static GpuResult<std::unique_ptr<SimBackend>> Open(const SimOptions& options);

  std::string_view kind() const override { return "sim"; }
  bool read_only() const override { return options_.read_only; }
  GpuResult<std::vector<GpuInfo>> ListGpus() override;
  GpuResult<GpuGeometry> Geometry(int gpu) override;
  GpuResult<std::vector<Instance>> Instances(int gpu) override;
  GpuResult<Instance> CreateInstance(int gpu, const InstanceRequest& request) override;
  GpuResult<void> DestroyInstance(int gpu, int gpu_instance_id) override;
  GpuResult<InstanceUsage> Usage(int gpu, int gpu_instance_id) override;
  GpuResult<std::vector<GpuProcess>> Processes(int gpu) override;
  GpuResult<GpuHealth> Health(int gpu) override;
  GpuResult<MigMode> SetMigMode(int gpu, bool enabled) override;
  GpuResult<void> ResetGpu(int gpu) override;

  // --- the simulated hardware -------------------------------------------------------------------
  // A synthetic process on the instance `process.gpu_instance_id` (its only compute instance
  // when compute_instance_id is -1), or on the whole GPU when MIG is off. Errors: kNotFound for
  // an unknown instance, kInvalidArgument for a pid already on the GPU or memory beyond the
  // instance's, kGpuLost.
  GpuResult<void> AttachProcess(int gpu, SimProcess process);
  // Errors: kNotFound when the pid is not on the GPU.
  GpuResult<void> DetachProcess(int gpu, std::uint32_t pid);
  // Arms faults (replacing the armed counters) and marks `lose_gpus` lost.
  GpuResult<void> InjectFaults(const SimFaults& faults);
  // Power cycle: instances and processes vanish, MIG mode follows the architecture (above).
  GpuResult<void> Reboot();
  // A copy of the whole state.
  GpuResult<SimState> Snapshot();

  // --- driver-level steps, as NVML exposes them (the fake NVML library uses these) --------------
  // Creates a GI; returns its id. Errors as CreateInstance.
  GpuResult<int> CreateGpuInstance(int gpu, int profile_id, int start);
  // Creates the GI's full-size compute instance; returns its id. Errors: kInsufficientResources
  // when the GI already has one, kNotFound.
  GpuResult<int> CreateComputeInstance(int gpu, int gpu_instance_id);
  // Errors: kInUse with processes on it, kNotFound.
  GpuResult<void> DestroyComputeInstance(int gpu, int gpu_instance_id, int compute_instance_id);
  // Errors: kInUse while it has a compute instance or processes, kNotFound.
  GpuResult<void> DestroyGpuInstance(int gpu, int gpu_instance_id);

 private:
  explicit SimBackend(SimOptions options) : options_(std::move(options)) {}

  // Runs `change` on the current state under the locks and persists what it changed (also when it
  // fails: a fault that fired is consumed).
  template <typename T, typename F>
  GpuResult<T> Mutate(F change);
  // Re-reads the state file when it changed. Requires mu_.
  GpuResult<void> SyncLocked();
  GpuResult<void> SaveLocked();

  const SimOptions options_;
  std::mutex mu_;
  // Guarded by mu_:
  SimState state_;
  std::string text_;  // the state file's content as last read or written
};

}  // namespace gpuslice::gpu
