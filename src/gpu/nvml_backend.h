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
//    nvmlDeviceGetComputeRunningProcesses_v3 (_v2 on older drivers) on the parent GPU;
//  * activity: GPM (below).
//
// Activity. NVML has no utilisation for MIG devices (nvmlDeviceGetUtilizationRates is unsupported
// in MIG mode); only GPM, on Hopper and later, measures a GPU instance. Usage reports the GPM
// SM_UTIL metric of the GI between two samples at least 100 ms apart: nvmlGpmQueryDeviceSupport
// once per GPU (cached), then per call nvmlGpmSampleAlloc + nvmlGpmMigSampleGet(parent, GI id)
// and nvmlGpmMetricsGet(previous sample, this one). Per (GPU, GI) the backend keeps the last
// sample, when it was taken (monotonic, NvmlOptions::clock) and the last percent: the first call
// only takes a sample (no percent; the note says so and activity_retry_after when to ask again),
// a call < 100 ms after the last sample reuses the last result, and the samples of a GI are freed
// when gpuslice creates or destroys a GI with that id (ids are reused) and in the destructor. So
// the percent is the average over the interval between two Usage calls. Without the GPM symbols
// (drivers without GPM), on a GPU without GPM (Ampere) or when a GPM call or its reply fails, the
// usage has no percent and activity_note says why; activity never makes Usage fail. GPM calls only
// read, so read-only mode allows them.
//
// Not implemented: ResetGpu answers kNotSupported (NVML exposes no GPU reset; an admin runs
// nvidia-smi -r).
//
// Replies are validated (nvml_reply.h): a count larger than the buffer, an out-of-range id or
// placement, or an unterminated string is a kBadReply error, never a crash.
//
// Read-only mode (NvmlOptions::read_only) refuses CreateInstance, DestroyInstance, SetMigMode and
// ResetGpu with kReadOnly before any NVML call; `gpuslice gpu inspect` always opens it so.
//
// Thread-safety: safe from several threads; state-changing calls are serialised by a mutex (NVML
// is thread-safe itself; the mutex keeps create's GI+CI pair and destroy's CI+GI sequence whole).
// The GPM samples and support cache have their own mutex, held across one instance's sampling.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "gpu/gpu_backend.h"
#include "gpu/nvml_library.h"

namespace gpuslice::gpu {

struct NvmlOptions {
  // The library to load; empty: $GPUSLICE_NVML_LIBRARY, else "libnvidia-ml.so.1".
  std::string library_path;
  bool read_only = false;
  // Monotonic time for GPM's sample spacing; null: the real clock. Must outlive the backend.
  const Clock* clock = nullptr;
};

class NvmlBackend final : public GpuBackend {
 public:
  // Loads and initialises NVML. Errors: kLibraryUnavailable when the library cannot be loaded or
  // lacks a required symbol; the mapped NVML error when nvmlInit_v2 fails.
  static GpuResult<std::unique_ptr<NvmlBackend>> Open(const NvmlOptions& options);

  // Frees the GPM samples while the library is still loaded.
  ~NvmlBackend() override;
  NvmlBackend(const NvmlBackend&) = delete;
  NvmlBackend& operator=(const NvmlBackend&) = delete;

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

  // The last GPM sample of one GPU instance and what was measured with it.
  struct GpmEntry {
    nvml::GpmSample sample = nullptr;  // owned: freed with nvmlGpmSampleFree
    Clock::MonoTime taken;
    std::optional<int> percent;  // from the previous sample to this one
    std::string note;            // why there is no percent
  };
  using GpmKey = std::pair<int, int>;  // GPU index, GPU-instance id

  NvmlBackend(std::unique_ptr<NvmlLibrary> lib, bool read_only, const Clock* clock)
      : lib_(std::move(lib)), read_only_(read_only), clock_(clock != nullptr ? clock : &real_clock_) {}

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
  GpuResult<InstanceUsage> InstanceMemory(nvml::Device dev, int gpu, int gpu_instance_id);
  GpuInfo ReadGpuInfo(int gpu) const;
  GpuResult<void> RefuseIfReadOnly(std::string_view what) const;
  // GPM (nvml_backend_gpm.cc).
  void MeasureActivity(nvml::Device dev, int gpu, int gpu_instance_id, InstanceUsage& u);
  GpuResult<bool> GpmSupportedLocked(nvml::Device dev, int gpu);
  GpuResult<nvml::GpmSample> TakeGpmSample(nvml::Device dev, int gpu_instance_id);
  GpmEntry GpmMeasure(const GpmEntry& previous, nvml::GpmSample sample, Clock::MonoTime now);
  void ForgetGpmSamples(int gpu, int gpu_instance_id);
  GpuError Nvml(nvml::Return rc, std::string_view what) const { return lib_->ErrorFor(rc, what); }

  // The library is declared first so that it is unloaded last; the GPM samples it allocated are
  // freed in ~NvmlBackend, before any member is destroyed.
  std::unique_ptr<NvmlLibrary> lib_;
  const bool read_only_;
  RealClock real_clock_;
  const Clock* const clock_;
  std::mutex change_mu_;  // held across each state-changing sequence

  std::mutex gpm_mu_;                  // guards the GPM members below; held across one instance's sampling
  std::map<int, bool> gpm_supported_;  // GUARDED_BY(gpm_mu_): per GPU index, once known
  std::map<GpmKey, GpmEntry> gpm_samples_;  // GUARDED_BY(gpm_mu_)
};

}  // namespace gpuslice::gpu
