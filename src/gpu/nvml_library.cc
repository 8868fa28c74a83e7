#include "gpu/nvml_library.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

#include "gpu/nvml_reply.h"

namespace gpuslice::gpu {
namespace {

constexpr const char* kDefaultLibrary = "libnvidia-ml.so.1";
constexpr const char* kLibraryEnv = "GPUSLICE_NVML_LIBRARY";

std::string_view ReturnName(nvml::Return rc) {
  switch (rc) {
    case nvml::kSuccess: return "NVML_SUCCESS";
    case nvml::kErrorUninitialized: return "NVML_ERROR_UNINITIALIZED";
    case nvml::kErrorInvalidArgument: return "NVML_ERROR_INVALID_ARGUMENT";
    case nvml::kErrorNotSupported: return "NVML_ERROR_NOT_SUPPORTED";
    case nvml::kErrorNoPermission: return "NVML_ERROR_NO_PERMISSION";
    case nvml::kErrorNotFound: return "NVML_ERROR_NOT_FOUND";
    case nvml::kErrorInsufficientSize: return "NVML_ERROR_INSUFFICIENT_SIZE";
    case nvml::kErrorDriverNotLoaded: return "NVML_ERROR_DRIVER_NOT_LOADED";
    case nvml::kErrorGpuIsLost: return "NVML_ERROR_GPU_IS_LOST";
    case nvml::kErrorResetRequired: return "NVML_ERROR_RESET_REQUIRED";
    case nvml::kErrorInUse: return "NVML_ERROR_IN_USE";
    case nvml::kErrorInsufficientResources: return "NVML_ERROR_INSUFFICIENT_RESOURCES";
    case nvml::kErrorArgumentVersionMismatch: return "NVML_ERROR_ARGUMENT_VERSION_MISMATCH";
    case nvml::kErrorUnknown: return "NVML_ERROR_UNKNOWN";
    default: return "NVML error";
  }
}

template <typename Fn>
void Resolve(void* handle, const char* symbol, Fn* out) {
  // POSIX guarantees that a data pointer from dlsym converts to a function pointer.
  *out = reinterpret_cast<Fn>(::dlsym(handle, symbol));
}

void ResolveAll(void* h, NvmlApi& a) {
  Resolve(h, "nvmlInit_v2", &a.init);
  Resolve(h, "nvmlShutdown", &a.shutdown);
  Resolve(h, "nvmlErrorString", &a.error_string);
  Resolve(h, "nvmlDeviceGetCount_v2", &a.get_count);
  Resolve(h, "nvmlDeviceGetHandleByIndex_v2", &a.get_handle_by_index);
  Resolve(h, "nvmlDeviceGetName", &a.get_name);
  Resolve(h, "nvmlDeviceGetUUID", &a.get_uuid);
  Resolve(h, "nvmlDeviceGetPciInfo_v3", &a.get_pci_info);
  Resolve(h, "nvmlDeviceGetMemoryInfo", &a.get_memory_info);
  Resolve(h, "nvmlDeviceGetMigMode", &a.get_mig_mode);
  Resolve(h, "nvmlDeviceSetMigMode", &a.set_mig_mode);
  Resolve(h, "nvmlDeviceGetGpuInstanceProfileInfoV", &a.get_gi_profile_info_v);
  Resolve(h, "nvmlDeviceGetGpuInstanceProfileInfo", &a.get_gi_profile_info);
  Resolve(h, "nvmlDeviceGetGpuInstancePossiblePlacements_v2", &a.get_gi_placements);
  Resolve(h, "nvmlDeviceCreateGpuInstanceWithPlacement", &a.create_gi_with_placement);
  Resolve(h, "nvmlDeviceGetGpuInstances", &a.get_gpu_instances);
  Resolve(h, "nvmlDeviceGetGpuInstanceById", &a.get_gpu_instance_by_id);
  Resolve(h, "nvmlGpuInstanceGetInfo", &a.gi_get_info);
  Resolve(h, "nvmlGpuInstanceGetComputeInstanceProfileInfo", &a.gi_get_ci_profile_info);
  Resolve(h, "nvmlGpuInstanceCreateComputeInstance", &a.gi_create_ci);
  Resolve(h, "nvmlGpuInstanceGetComputeInstances", &a.gi_get_cis);
  Resolve(h, "nvmlComputeInstanceGetInfo_v2", &a.ci_get_info);
  Resolve(h, "nvmlComputeInstanceDestroy", &a.ci_destroy);
  Resolve(h, "nvmlGpuInstanceDestroy", &a.gi_destroy);
  Resolve(h, "nvmlDeviceGetMaxMigDeviceCount", &a.get_max_mig_device_count);
  Resolve(h, "nvmlDeviceGetMigDeviceHandleByIndex", &a.get_mig_device_handle);
  Resolve(h, "nvmlDeviceGetGpuInstanceId", &a.get_gpu_instance_id);
  Resolve(h, "nvmlDeviceGetComputeInstanceId", &a.get_compute_instance_id);
  Resolve(h, "nvmlDeviceGetComputeRunningProcesses_v3", &a.get_compute_processes);
  if (a.get_compute_processes == nullptr) {
    Resolve(h, "nvmlDeviceGetComputeRunningProcesses_v2", &a.get_compute_processes);
  }
  Resolve(h, "nvmlGpmQueryDeviceSupport", &a.gpm_query_device_support);
  Resolve(h, "nvmlGpmSampleAlloc", &a.gpm_sample_alloc);
  Resolve(h, "nvmlGpmSampleFree", &a.gpm_sample_free);
  Resolve(h, "nvmlGpmMigSampleGet", &a.gpm_mig_sample_get);
  Resolve(h, "nvmlGpmMetricsGet", &a.gpm_metrics_get);
}

const char* MissingRequired(const NvmlApi& a) {
  if (a.init == nullptr) return "nvmlInit_v2";
  if (a.shutdown == nullptr) return "nvmlShutdown";
  if (a.error_string == nullptr) return "nvmlErrorString";
  if (a.get_count == nullptr) return "nvmlDeviceGetCount_v2";
  if (a.get_handle_by_index == nullptr) return "nvmlDeviceGetHandleByIndex_v2";
  if (a.get_name == nullptr) return "nvmlDeviceGetName";
  if (a.get_uuid == nullptr) return "nvmlDeviceGetUUID";
  return nullptr;
}

}  // namespace

GpuErrorKind KindForNvml(nvml::Return rc) {
  switch (rc) {
    case nvml::kErrorInUse: return GpuErrorKind::kInUse;
    case nvml::kErrorInsufficientResources: return GpuErrorKind::kInsufficientResources;
    case nvml::kErrorResetRequired: return GpuErrorKind::kResetRequired;
    case nvml::kErrorGpuIsLost: return GpuErrorKind::kGpuLost;
    case nvml::kErrorNotSupported: return GpuErrorKind::kNotSupported;
    case nvml::kErrorNoPermission: return GpuErrorKind::kNoPermission;
    case nvml::kErrorNotFound: return GpuErrorKind::kNotFound;
    case nvml::kErrorInvalidArgument: return GpuErrorKind::kInvalidArgument;
    default: return GpuErrorKind::kDriver;
  }
}

std::string NvmlLibrary::DefaultPath() {
  const char* env = std::getenv(kLibraryEnv);
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(kDefaultLibrary);
}

GpuResult<std::unique_ptr<NvmlLibrary>> NvmlLibrary::Load(const std::string& path) {
  std::unique_ptr<NvmlLibrary> lib(new NvmlLibrary());
  lib->path_ = path.empty() ? DefaultPath() : path;
  lib->handle_ = ::dlopen(lib->path_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib->handle_ == nullptr) {
    const char* why = ::dlerror();
    return GpuFail(GpuErrorKind::kLibraryUnavailable,
                   "cannot load the NVIDIA management library {} ({}); is the NVIDIA driver installed?",
                   lib->path_, why != nullptr ? why : "unknown reason");
  }
  ResolveAll(lib->handle_, lib->api_);
  if (const char* missing = MissingRequired(lib->api_); missing != nullptr) {
    return GpuFail(GpuErrorKind::kLibraryUnavailable, "{} has no symbol {}: driver too old or not NVML",
                   lib->path_, missing);
  }
  const nvml::Return rc = lib->api_.init();
  if (rc != nvml::kSuccess) return GpuFail(lib->ErrorFor(rc, "nvmlInit_v2"));
  lib->initialised_ = true;
  return lib;
}

NvmlLibrary::~NvmlLibrary() {
  if (initialised_) (void)api_.shutdown();
  if (handle_ != nullptr) ::dlclose(handle_);
}

GpuError NvmlLibrary::ErrorFor(nvml::Return rc, std::string_view what) const {
  std::string text;
  if (api_.error_string != nullptr) {
    const char* s = api_.error_string(rc);
    // The text is the library's; bound it and keep it printable.
    if (s != nullptr) text = BoundedString(s, 256);
  }
  const GpuErrorKind kind = KindForNvml(rc);
  std::string message = fmt::format("{}: {} ({})", what, ReturnName(rc), rc);
  if (!text.empty()) message += ": " + text;
  return GpuError{kind, Error{GpuErrorCode(kind), std::move(message)}};
}

}  // namespace gpuslice::gpu
