// GpuBackend: the node agent's view of its GPUs and their MIG instances (DESIGN.md §5).
//
// Two implementations: NvmlBackend (nvml_backend.h) talks to the NVIDIA driver through
// libnvidia-ml.so.1, loaded at run time; SimBackend (sim_backend.h) is a faithful model of the
// driver for development, tests and demos. One contract test suite (backend_contract_test.cc)
// runs the same behaviour against both.
//
// Model. A GPU (addressed by its NVML index) in MIG mode holds GPU instances (GIs), each placed at
// a start unit of the GPU's memory-slice grid with a device profile (nvidia-smi's "ID": 19, 9, 0
// …). gpuslice gives every GI exactly one compute instance (CI) covering the whole GI, so "an
// instance" here is a GI plus its CI, addressed by the GI id; the CI carries the MIG UUID that
// workloads use (CUDA_VISIBLE_DEVICES=MIG-<uuid>). Instances found without a CI (left over by
// someone else) are reported with compute_instance_id == -1 and no UUID.
//
// Errors. Every call returns GpuResult<T>; the GpuErrorKind keeps the driver's meaning (in use,
// insufficient resources, reset required, GPU lost, not supported, no permission). A GPU index
// that does not exist is kNotFound. On a lost GPU every call but ListGpus and Health fails with
// kGpuLost. A read-only backend refuses CreateInstance, DestroyInstance, SetMigMode and ResetGpu
// with kReadOnly before anything reaches the driver.
//
// Thread-safety: both implementations are safe to call from several threads; state-changing calls
// are serialised inside the backend. Results are snapshots: another process (nvidia-smi, a
// second agent) may change the hardware between two calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/units.h"
#include "gpu/gpu_error.h"

namespace gpuslice::gpu {

// MIG mode of one GPU: `current` is in force; `pending` takes effect at the next GPU reset (Ampere)
// and equals `current` when nothing is pending.
struct MigMode {
  bool current = false;
  bool pending = false;
  friend bool operator==(const MigMode&, const MigMode&) = default;
};

enum class HealthState {
  kHealthy,
  kResetRequired,  // the GPU needs a reset before it can be used as configured
  kLost,           // NVML_ERROR_GPU_IS_LOST: unusable until the node is repaired
};
std::string_view HealthStateName(HealthState state);

struct GpuHealth {
  HealthState state = HealthState::kHealthy;
  std::string detail;  // why, when not healthy
};

struct GpuInfo {
  int index = 0;                    // NVML index
  std::string uuid;                 // "GPU-<uuid>"; empty when the driver did not answer
  std::string name;                 // as NVML reports it: "NVIDIA A100-SXM4-80GB"
  std::string pci_bus_id;           // "00000000:07:00.0"
  std::uint32_t pci_device_id = 0;  // device and vendor id as mig-parted writes it: 0x20B210DE
  MiB memory_total;                 // whole-GPU memory
  bool mig_capable = false;
  MigMode mig;  // meaningful when mig_capable
  GpuHealth health;
};

// One place a profile may go: `size` units from `start` (nvidia-smi -lgipp "{start}:size").
struct UnitRange {
  int start = 0;
  int size = 0;
  friend bool operator==(const UnitRange&, const UnitRange&) = default;
};

// A GPU-instance profile as the driver describes it.
struct GpuProfile {
  int profile_id = 0;      // device profile id (NVML info.id), what CreateInstance takes
  std::string name;        // "3g.40gb", "1g.10gb+me"
  int compute_slices = 0;  // NVML sliceCount
  int max_count = 0;       // NVML instanceCount
  int sm_count = 0;        // multiprocessors
  int copy_engines = 0;
  int decoders = 0, encoders = 0, jpeg = 0, ofa = 0;
  MiB memory;                         // instance memory
  std::vector<UnitRange> placements;  // every legal placement, ascending start
};

struct GpuGeometry {
  int memory_units = 0;  // grid size: the end of the furthest placement of any profile
  // Ordered by compute slices, then placement size, then name (the catalog's order), whatever
  // order the driver lists them in.
  std::vector<GpuProfile> profiles;

  const GpuProfile* FindProfile(int profile_id) const;
};

struct Instance {
  int gpu_instance_id = 0;
  int compute_instance_id = -1;  // -1: the GI has no compute instance
  int profile_id = 0;
  std::string profile;  // profile name, "" when the driver reports an id it does not list
  UnitRange placement;
  std::string mig_uuid;  // "MIG-<uuid>"; empty without a CI
};

struct InstanceRequest {
  int profile_id = 0;
  int start = 0;  // explicit placement: never left to the driver (DESIGN.md §3)
};

// Memory and activity of one instance.
struct InstanceUsage {
  MiB memory_used;
  MiB memory_total;
  // Percent of time the instance's SMs were busy (0..100), where the GPU can measure it. NVML
  // attributes utilisation to a MIG instance only through GPM, on Hopper and later: NvmlBackend
  // reports the GPM SM utilisation between this call's sample and the previous one (>= 100 ms
  // apart), so the first call for an instance has no percent yet. On Ampere there is none, and
  // SimBackend reports none either. When absent, `activity_note` says why.
  std::optional<int> activity_percent;
  std::string activity_note;
  // > 0: no percent yet, but a Usage call this much later will measure one (GPM's first sample).
  // 0: asking again sooner or later changes nothing about whether there is a percent.
  std::chrono::milliseconds activity_retry_after{0};
};

// The note for "no activity on this GPU": NVML cannot attribute utilisation to MIG instances
// except through GPM, which exists only on Hopper and later (reference/mig-facts.md §3.5).
inline constexpr std::string_view kNoMigActivityNote =
    "NVML cannot attribute activity to MIG instances on this GPU (GPM needs Hopper or later)";

struct GpuProcess {
  std::uint32_t pid = 0;
  MiB memory_used;
  int gpu_instance_id = -1;  // -1: not on a MIG instance (MIG disabled)
  int compute_instance_id = -1;
};

class GpuBackend {
 public:
  virtual ~GpuBackend() = default;

  // "nvml" or "sim".
  virtual std::string_view kind() const = 0;
  virtual bool read_only() const = 0;

  // Every GPU the driver sees, in index order. A lost GPU is listed with health kLost and the
  // fields the driver no longer answers left empty. Errors: only when the GPU count itself
  // cannot be read.
  virtual GpuResult<std::vector<GpuInfo>> ListGpus() = 0;

  // The GPU's GPU-instance profiles with their placements, read from the driver (NVML) or the
  // catalog (sim). Errors: kNotSupported for a GPU without MIG, kGpuLost.
  virtual GpuResult<GpuGeometry> Geometry(int gpu) = 0;

  // The GPU's instances, ordered by placement start. Errors: kNotSupported when MIG is off.
  virtual GpuResult<std::vector<Instance>> Instances(int gpu) = 0;

  // Creates a GI of `request.profile_id` at exactly `request.start`, then its full-size CI. When
  // the CI cannot be created the GI is destroyed again, so nothing half-made is left.
  // Errors: kInsufficientResources when the placement overlaps an instance or the profile's
  // maximum is reached; kInvalidArgument for a start the profile does not allow or an unknown
  // profile; kNotSupported when MIG is off; kReadOnly; kGpuLost.
  virtual GpuResult<Instance> CreateInstance(int gpu, const InstanceRequest& request) = 0;

  // Destroys the instance's compute instances, then the GI. Errors: kInUse when processes run on
  // it (nothing is destroyed); kNotFound for an unknown GI id; kReadOnly; kGpuLost.
  virtual GpuResult<void> DestroyInstance(int gpu, int gpu_instance_id) = 0;

  // Memory used/total of one instance and, where offered, its activity (see InstanceUsage: a
  // missing activity is never an error). Errors: kNotFound.
  virtual GpuResult<InstanceUsage> Usage(int gpu, int gpu_instance_id) = 0;

  // Compute processes on the GPU, each with the instance it runs on.
  virtual GpuResult<std::vector<GpuProcess>> Processes(int gpu) = 0;

  // Health of one GPU; a lost GPU is a successful answer with state kLost.
  virtual GpuResult<GpuHealth> Health(int gpu) = 0;

  // Asks for MIG mode on or off and returns the resulting mode. Ampere: the change waits in
  // `pending` until a GPU reset, which happens at once only when the GPU is idle; Hopper and
  // later: immediate. Errors: kInUse when instances exist (disable) or processes run (Hopper+);
  // kNotSupported on a GPU without MIG; kReadOnly; kGpuLost. No-op when already in that mode.
  virtual GpuResult<MigMode> SetMigMode(int gpu, bool enabled) = 0;

  // Resets the GPU so a pending MIG mode takes effect. Errors: kInUse when processes run;
  // kNotSupported where the backend cannot reset (NVML has no reset call: use nvidia-smi -r);
  // kReadOnly; kGpuLost.
  virtual GpuResult<void> ResetGpu(int gpu) = 0;

  // Convenience over Processes(): the processes on one instance.
  GpuResult<std::vector<GpuProcess>> InstanceProcesses(int gpu, int gpu_instance_id);
};

}  // namespace gpuslice::gpu
