// NvmlBackend: GpuBackend over the NVIDIA driver, through libnvidia-ml.so.1 loaded at run time
// (DESIGN.md §5). One gpuslice binary thus runs on GPU and non-GPU hosts alike.
//
// What it calls (all symbols resolved with dlsym, declared in nvml_api.h):
//  * enumerate: nvmlDeviceGetCount_v2, nvmlDeviceGetHandleByIndex_v2, nvmlDeviceGetName/UUID,
//    nvmlDeviceGetPciInfo_v3, nvmlDeviceGetMemoryInfo, nvmlDeviceGetMigMode;
//  * geometry: nvmlDeviceGetGpuInstanceProfileInfoV (version 2; the unversioned call on drivers
//    without it) by profile index from 0 until NVML_ERROR_INVALID_ARGUMENT, skipping
//    NVML_ERROR_NOT_SUPPORTED, and nvmlDeviceGetGpuInstancePossiblePlacements_v2 per profile id;
//  * instances: nvmlDeviceGetGpuInstances per profile, nvmlGpuInstanceGetInfo, the compute
//    instances of each GI, and the MIG UUIDs from nvmlDeviceGetMigDeviceHandleByIndex +
//    nvmlDeviceGetGpuInstanceId/ComputeInstanceId + nvmlDeviceGetUUID;
//  * create: nvmlDeviceCreateGpuInstanceWithPlacement, then nvmlGpuInstanceCreateComputeInstance
//    with the GI's full-size CI profile; the GI is destroyed again if the CI fails;
//  * destroy: nvmlComputeInstanceDestroy for each CI, then nvmlGpuInstanceDestroy;
//  * usage: nvmlDeviceGetMemoryInfo on the MIG device handle; processes:
//    nvmlDeviceGetComputeRunningProcesses_v3 (_v2 on older drivers) on the parent GPU.
//
// Not implemented: activity. NVML has no utilisation for MIG devices; on Hopper and later GPM
// (nvmlGpmMigSampleGet) could measure it, but this backend does not sample GPM, so Usage reports
// no activity_percent and says so in activity_note. ResetGpu answers kNotSupported (NVML exposes
// no GPU reset; an admin runs nvidia-smi -r).
//
// Replies are validated (nvml_reply.h): a count larger than the buffer, an out-of-range id or
// placement, or an unterminated string is a kBadReply error, never a crash.
//
// Read-only mode (NvmlOptions::read_only) refuses CreateInstance, DestroyInstance, SetMigMode and
// ResetGpu with kReadOnly before any NVML call; `gpuslice gpu inspect` always opens it so.
//
// Thread-safety: safe from several threads; state-changing calls are serialised by a mutex (NVML
// is thread-safe itself; the mutex keeps create's GI+CI pair and destroy's CI+GI sequence whole).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gpu/gpu_backend.h"
#include "gpu/nvml_library.h"

namespace gpuslice::gpu {

struct NvmlOptions {
  // The library to load; empty: $GPUSLICE_NVML_LIBRARY, else "libnvidia-ml.so.1".
  std::string library_path;
  bool read_only = false;
};

class NvmlBackend final : public GpuBackend {
 public:
  // Loads and initialises NVML. Errors: kLibraryUnavailable when the library cannot be loaded or
  // lacks a required symbol; the mapped NVML error when nvmlInit_v2 fails.
  static GpuResult<std::unique_ptr<NvmlBackend>> Open(const NvmlOptions& options);

  std::string_view kind() const override { return "nvml"; }
  bool read_only() const override { return read_only_; }
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

  const std::string& library_path() const { return lib_->path(); }

 private:
  struct GpuInstanceEntry {
    nvml::GpuInstance handle = nullptr;
    Instance instance;
  };

  NvmlBackend(std::unique_ptr<NvmlLibrary> lib, bool read_only)
      : lib_(std::move(lib)), read_only_(read_only) {}

  GpuResult<nvml::Device> Handle(int gpu) const;
  GpuResult<MigMode> ReadMigMode(nvml::Device dev, int gpu) const;
  GpuResult<void> RequireMigOn(nvml::Device dev, int gpu) const;
  GpuResult<GpuProfile> ReadProfile(nvml::Device dev, unsigned index) const;
  GpuResult<void> ReadPlacements(nvml::Device dev, GpuProfile& profile) const;
  GpuResult<GpuGeometry> ReadGeometry(nvml::Device dev, int gpu) const;
  GpuResult<std::vector<nvml::ComputeInstance>> ComputeInstancesOf(nvml::GpuInstance gi) const;
  GpuResult<std::vector<GpuInstanceEntry>> ReadGpuInstances(nvml::Device dev, int gpu) const;
  GpuResult<void> AddMigUuids(nvml::Device dev, std::vector<GpuInstanceEntry>& entries) const;
  GpuResult<nvml::Device> MigDeviceOf(nvml::Device dev, int gpu_instance_id) const;
  GpuResult<unsigned> FullComputeProfile(nvml::GpuInstance gi, int slices) const;
  GpuInfo ReadGpuInfo(int gpu) const;
  GpuResult<void> RefuseIfReadOnly(std::string_view what) const;
  GpuError Nvml(nvml::Return rc, std::string_view what) const { return lib_->ErrorFor(rc, what); }

  std::unique_ptr<NvmlLibrary> lib_;
  const bool read_only_;
  std::mutex change_mu_;  // held across each state-changing sequence
};

}  // namespace gpuslice::gpu
