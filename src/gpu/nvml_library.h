// NvmlLibrary: libnvidia-ml.so.1 loaded with dlopen, its symbols resolved, NVML initialised.
//
// Which file is loaded: the explicit path when given, else $GPUSLICE_NVML_LIBRARY when set (the
// tests point it at the fake library built from src/gpu/testing/), else "libnvidia-ml.so.1"
// through the dynamic loader's search path. The symbols of `NvmlApi` marked required must all be
// present; the others (MIG, process, placement and GPM calls, missing on old drivers) may be null and
// the backend then answers kNotSupported for what needs them (or, for GPM, reports no activity).
//
// Load calls nvmlInit_v2; the destructor calls nvmlShutdown and dlclose. NVML reference-counts
// init/shutdown, so several NvmlLibrary objects may coexist.
// Thread-safety: immutable after Load; NVML itself is thread-safe.
#pragma once

#include <memory>
#include <string>

#include "gpu/gpu_error.h"
#include "gpu/nvml_api.h"

namespace gpuslice::gpu {

// Resolved entry points. Required ones are never null after Load.
struct NvmlApi {
  // Required.
  nvml::InitFn init = nullptr;  // nvmlInit_v2
  nvml::ShutdownFn shutdown = nullptr;
  nvml::ErrorStringFn error_string = nullptr;
  nvml::GetCountFn get_count = nullptr;                    // nvmlDeviceGetCount_v2
  nvml::GetHandleByIndexFn get_handle_by_index = nullptr;  // nvmlDeviceGetHandleByIndex_v2
  nvml::GetStringFn get_name = nullptr;
  nvml::GetStringFn get_uuid = nullptr;
  // Optional.
  nvml::GetPciInfoFn get_pci_info = nullptr;  // nvmlDeviceGetPciInfo_v3
  nvml::GetMemoryInfoFn get_memory_info = nullptr;
  nvml::GetMigModeFn get_mig_mode = nullptr;
  nvml::SetMigModeFn set_mig_mode = nullptr;
  nvml::GetGiProfileInfoVFn get_gi_profile_info_v = nullptr;
  nvml::GetGiProfileInfoFn get_gi_profile_info = nullptr;
  nvml::GetGiPlacementsFn get_gi_placements = nullptr;  // ..._v2
  nvml::CreateGiWithPlacementFn create_gi_with_placement = nullptr;
  nvml::GetGpuInstancesFn get_gpu_instances = nullptr;
  nvml::GetGpuInstanceByIdFn get_gpu_instance_by_id = nullptr;
  nvml::GiGetInfoFn gi_get_info = nullptr;
  nvml::GiGetCiProfileInfoFn gi_get_ci_profile_info = nullptr;
  nvml::GiCreateCiFn gi_create_ci = nullptr;
  nvml::GiGetCisFn gi_get_cis = nullptr;
  nvml::CiGetInfoFn ci_get_info = nullptr;  // nvmlComputeInstanceGetInfo_v2
  nvml::CiDestroyFn ci_destroy = nullptr;
  nvml::GiDestroyFn gi_destroy = nullptr;
  nvml::GetMaxMigDeviceCountFn get_max_mig_device_count = nullptr;
  nvml::GetMigDeviceHandleFn get_mig_device_handle = nullptr;
  nvml::GetInstanceIdFn get_gpu_instance_id = nullptr;
  nvml::GetInstanceIdFn get_compute_instance_id = nullptr;
  nvml::GetProcessesFn get_compute_processes = nullptr;  // _v3, else _v2
  // GPM (newer drivers only); NvmlBackend measures activity only when all five are present.
  nvml::GpmQueryDeviceSupportFn gpm_query_device_support = nullptr;
  nvml::GpmSampleAllocFn gpm_sample_alloc = nullptr;
  nvml::GpmSampleFreeFn gpm_sample_free = nullptr;
  nvml::GpmMigSampleGetFn gpm_mig_sample_get = nullptr;
  nvml::GpmMetricsGetFn gpm_metrics_get = nullptr;
};

class NvmlLibrary {
 public:
  // Errors: kLibraryUnavailable when the file cannot be loaded (dlerror's text included) or a
  // required symbol is missing; the NVML error of nvmlInit_v2 (kDriver for "driver not loaded").
  static GpuResult<std::unique_ptr<NvmlLibrary>> Load(const std::string& path);
  // The path Load("") would use.
  static std::string DefaultPath();

  ~NvmlLibrary();
  NvmlLibrary(const NvmlLibrary&) = delete;
  NvmlLibrary& operator=(const NvmlLibrary&) = delete;

  const NvmlApi& api() const { return api_; }
  const std::string& path() const { return path_; }

  // A GpuError for a failed call: the kind mapped from the return code, and a message
  // "<what>: NVML_ERROR_IN_USE (19): <nvmlErrorString text>".
  GpuError ErrorFor(nvml::Return rc, std::string_view what) const;

 private:
  NvmlLibrary() = default;
  void* handle_ = nullptr;
  bool initialised_ = false;
  std::string path_;
  NvmlApi api_;
};

// The GpuErrorKind an NVML return code means.
GpuErrorKind KindForNvml(nvml::Return rc);

}  // namespace gpuslice::gpu
