// The part of the NVML C API that NvmlBackend uses, declared here so that gpuslice builds
// without NVIDIA's header or library (DESIGN.md §9: NVML is loaded with dlopen at run time).
//
// These are gpuslice's own declarations of the documented ABI (reference/mig-facts.md §4):
// return-code values, struct field order and widths, and the symbol names with their versions.
// Names are ours; only the C symbol names passed to dlsym and the layouts must match NVIDIA's.
// Handles are opaque pointers. Nothing here is called directly: NvmlLibrary (nvml_library.h)
// resolves the symbols, and every reply is validated (nvml_reply.h) before it is believed.
//
// Thread-safety: declarations only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gpuslice::gpu::nvml {

// nvmlReturn_t: a C enum, int-sized on every Linux ABI.
using Return = int;
inline constexpr Return kSuccess = 0;
inline constexpr Return kErrorUninitialized = 1;
inline constexpr Return kErrorInvalidArgument = 2;
inline constexpr Return kErrorNotSupported = 3;
inline constexpr Return kErrorNoPermission = 4;
inline constexpr Return kErrorNotFound = 6;
inline constexpr Return kErrorInsufficientSize = 7;
inline constexpr Return kErrorDriverNotLoaded = 9;
inline constexpr Return kErrorGpuIsLost = 15;
inline constexpr Return kErrorResetRequired = 16;
inline constexpr Return kErrorInUse = 19;
inline constexpr Return kErrorInsufficientResources = 23;
inline constexpr Return kErrorArgumentVersionMismatch = 25;
inline constexpr Return kErrorUnknown = 999;

// Opaque handles (nvmlDevice_t, nvmlGpuInstance_t, nvmlComputeInstance_t).
struct DeviceTag;
struct GpuInstanceTag;
struct ComputeInstanceTag;
using Device = DeviceTag*;
using GpuInstance = GpuInstanceTag*;
using ComputeInstance = ComputeInstanceTag*;

inline constexpr unsigned kMigDisable = 0;
inline constexpr unsigned kMigEnable = 1;
inline constexpr unsigned kComputeEngineProfileShared = 0;   // NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED
inline constexpr unsigned kInvalidInstanceId = 0xFFFFFFFFu;  // process not on a MIG instance
inline constexpr unsigned long long kValueNotAvailable = ~0ULL;
inline constexpr unsigned kNameBufferSize = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE
inline constexpr unsigned kUuidBufferSize = 96;  // NVML_DEVICE_UUID_V2_BUFFER_SIZE
inline constexpr unsigned kComputeProfileCount =
    9;  // CI profile indices 0..8 (1,2,3,4,7,8,6 slices, 1 rev1, 7 NVL)

// nvmlPciInfo_t (nvmlDeviceGetPciInfo_v3).
struct PciInfo {
  char bus_id_legacy[16];
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pci_device_id;  // device id << 16 | vendor id
  unsigned int pci_subsystem_id;
  char bus_id[32];
};

// nvmlMemory_t (nvmlDeviceGetMemoryInfo), bytes.
struct Memory {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

// nvmlGpuInstancePlacement_t: memory-slice units.
struct GpuInstancePlacement {
  unsigned int start;
  unsigned int size;
};

// nvmlGpuInstanceProfileInfo_t (unversioned call).
struct GpuInstanceProfileInfo {
  unsigned int id;
  unsigned int is_p2p_supported;
  unsigned int slice_count;
  unsigned int instance_count;
  unsigned int multiprocessor_count;
  unsigned int copy_engine_count;
  unsigned int decoder_count;
  unsigned int encoder_count;
  unsigned int jpeg_count;
  unsigned int ofa_count;
  unsigned long long memory_size_mb;
};

// nvmlGpuInstanceProfileInfo_v2_t (nvmlDeviceGetGpuInstanceProfileInfoV with version 2).
struct GpuInstanceProfileInfoV2 {
  unsigned int version;
  unsigned int id;
  unsigned int is_p2p_supported;
  unsigned int slice_count;
  unsigned int instance_count;
  unsigned int multiprocessor_count;
  unsigned int copy_engine_count;
  unsigned int decoder_count;
  unsigned int encoder_count;
  unsigned int jpeg_count;
  unsigned int ofa_count;
  unsigned long long memory_size_mb;
  char name[kNameBufferSize];
};

// NVML_STRUCT_VERSION: the struct's size with the version number in the top byte.
inline constexpr unsigned kGpuInstanceProfileInfoV2Version =
    static_cast<unsigned>(sizeof(GpuInstanceProfileInfoV2)) | (2u << 24);

// nvmlGpuInstanceInfo_t.
struct GpuInstanceInfo {
  Device device;
  unsigned int id;
  unsigned int profile_id;
  GpuInstancePlacement placement;
};

// nvmlComputeInstancePlacement_t: compute-slice units inside the GI.
struct ComputeInstancePlacement {
  unsigned int start;
  unsigned int size;
};

// nvmlComputeInstanceProfileInfo_t.
struct ComputeInstanceProfileInfo {
  unsigned int id;
  unsigned int slice_count;
  unsigned int instance_count;
  unsigned int multiprocessor_count;
  unsigned int shared_copy_engine_count;
  unsigned int shared_decoder_count;
  unsigned int shared_encoder_count;
  unsigned int shared_jpeg_count;
  unsigned int shared_ofa_count;
};

// nvmlComputeInstanceInfo_t.
struct ComputeInstanceInfo {
  Device device;
  GpuInstance gpu_instance;
  unsigned int id;
  unsigned int profile_id;
  ComputeInstancePlacement placement;
};

// nvmlProcessInfo_v2_t, what nvmlDeviceGetComputeRunningProcesses_v2/_v3 fill on current drivers.
// Some R535 drivers filled a 32-byte variant (an extra usedGpuCcProtectedMemory) from _v3; the
// reply decoder (nvml_reply.h) allocates room for it and detects the stride.
struct ProcessInfo {
  unsigned int pid;
  unsigned long long used_gpu_memory;  // bytes, or kValueNotAvailable
  unsigned int gpu_instance_id;        // kInvalidInstanceId when not on MIG
  unsigned int compute_instance_id;
};
inline constexpr unsigned kProcessInfoMaxStride = 32;

// GPM (GPU performance monitoring): Hopper and later, on drivers that have the GPM API. Activity is a metric
// computed from two samples taken >= 100 ms apart; nvmlGpmMigSampleGet samples one GPU instance.
struct GpmSampleTag;
using GpmSample = GpmSampleTag*;  // nvmlGpmSample_t: opaque, from nvmlGpmSampleAlloc

inline constexpr unsigned kGpmSupportVersion = 1;     // NVML_GPM_SUPPORT_VERSION
inline constexpr unsigned kGpmMetricsGetVersion = 1;  // NVML_GPM_METRICS_GET_VERSION
// nvmlGpmMetricId_t values gpuslice knows; values are percents 0.0-100.0 for the *_UTIL ones.
inline constexpr unsigned kGpmMetricGraphicsUtil = 1;
inline constexpr unsigned kGpmMetricSmUtil = 2;
inline constexpr unsigned kGpmMetricSmOccupancy = 3;
inline constexpr unsigned kGpmMetricAnyTensorUtil = 5;
inline constexpr unsigned kGpmMetricDramBwUtil = 10;
// NVML_GPM_METRIC_MAX sizes the metrics array of nvmlGpmMetricsGet_t, yet it grew between
// headers (smaller in the first GPM headers, 333 for driver 550) while the struct version stayed 1.
// The library reads and writes only `num_metrics` entries, so declaring the larger size is safe
// with every driver: an older one sees a caller buffer longer than it needs.
inline constexpr unsigned kGpmMetricMax = 333;

// nvmlGpmSupport_t.
struct GpmSupport {
  unsigned int version;  // in: kGpmSupportVersion
  unsigned int is_supported_device;
};

// nvmlGpmMetric_t.
struct GpmMetric {
  unsigned int metric_id;  // in
  Return nvml_return;      // out: this metric's status; `value` is meaningful only on kSuccess
  double value;
  struct {
    char* short_name;
    char* long_name;
    char* unit;
  } metric_info;  // out: owned by the library, may be null
};

// nvmlGpmMetricsGet_t.
struct GpmMetricsGet {
  unsigned int version;      // in: kGpmMetricsGetVersion
  unsigned int num_metrics;  // in: entries of `metrics` to fill
  GpmSample sample1;         // in: the earlier sample
  GpmSample sample2;         // in: the later sample
  GpmMetric metrics[kGpmMetricMax];
};

#if defined(__LP64__)
// The layouts NVIDIA's header gives on LP64 Linux: a mismatch would make the driver write past
// or beside the fields read.
static_assert(sizeof(GpmSupport) == 8);
static_assert(sizeof(GpmMetric) == 40);
static_assert(offsetof(GpmMetric, nvml_return) == 4);
static_assert(offsetof(GpmMetric, value) == 8);
static_assert(offsetof(GpmMetric, metric_info) == 16);
static_assert(offsetof(GpmMetricsGet, sample1) == 8);
static_assert(offsetof(GpmMetricsGet, sample2) == 16);
static_assert(offsetof(GpmMetricsGet, metrics) == 24);
#endif

// Function types, one per symbol NvmlBackend resolves (symbol names in nvml_library.cc).
using InitFn = Return (*)();
using ShutdownFn = Return (*)();
using ErrorStringFn = const char* (*)(Return);
using GetCountFn = Return (*)(unsigned int*);
using GetHandleByIndexFn = Return (*)(unsigned int, Device*);
using GetStringFn = Return (*)(Device, char*, unsigned int);  // name, UUID
using GetPciInfoFn = Return (*)(Device, PciInfo*);
using GetMemoryInfoFn = Return (*)(Device, Memory*);
using GetMigModeFn = Return (*)(Device, unsigned int*, unsigned int*);
using SetMigModeFn = Return (*)(Device, unsigned int, Return*);
using GetGiProfileInfoVFn = Return (*)(Device, unsigned int, GpuInstanceProfileInfoV2*);
using GetGiProfileInfoFn = Return (*)(Device, unsigned int, GpuInstanceProfileInfo*);
using GetGiPlacementsFn = Return (*)(Device, unsigned int, GpuInstancePlacement*, unsigned int*);
using CreateGiWithPlacementFn = Return (*)(Device, unsigned int, const GpuInstancePlacement*, GpuInstance*);
using GetGpuInstancesFn = Return (*)(Device, unsigned int, GpuInstance*, unsigned int*);
using GetGpuInstanceByIdFn = Return (*)(Device, unsigned int, GpuInstance*);
using GiGetInfoFn = Return (*)(GpuInstance, GpuInstanceInfo*);
using GiGetCiProfileInfoFn = Return (*)(GpuInstance, unsigned int, unsigned int, ComputeInstanceProfileInfo*);
using GiCreateCiFn = Return (*)(GpuInstance, unsigned int, ComputeInstance*);
using GiGetCisFn = Return (*)(GpuInstance, unsigned int, ComputeInstance*, unsigned int*);
using CiGetInfoFn = Return (*)(ComputeInstance, ComputeInstanceInfo*);
using CiDestroyFn = Return (*)(ComputeInstance);
using GiDestroyFn = Return (*)(GpuInstance);
using GetMaxMigDeviceCountFn = Return (*)(Device, unsigned int*);
using GetMigDeviceHandleFn = Return (*)(Device, unsigned int, Device*);
using GetInstanceIdFn = Return (*)(Device, unsigned int*);  // GPU-instance / compute-instance id
using GetProcessesFn = Return (*)(Device, unsigned int*, void*);
using GpmQueryDeviceSupportFn = Return (*)(Device, GpmSupport*);
using GpmSampleAllocFn = Return (*)(GpmSample*);
using GpmSampleFreeFn = Return (*)(GpmSample);
using GpmMigSampleGetFn = Return (*)(Device, unsigned int, GpmSample);  // parent GPU, GI id
using GpmMetricsGetFn = Return (*)(GpmMetricsGet*);

}  // namespace gpuslice::gpu::nvml
