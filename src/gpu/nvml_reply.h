// Validation of NVML replies. The driver library is outside gpuslice's control (and in tests it is
// a fake), so nothing it returns is believed unchecked: strings are bounded and made printable,
// counts are checked against the buffers that were passed, ids and placements against sane
// ranges. A reply that fails a check is a kBadReply error naming the call, never a crash.
//
// Pure functions over bytes and structs, so the libFuzzer target can drive them.
// Thread-safety: plain functions.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "gpu/gpu_backend.h"
#include "gpu/nvml_api.h"

namespace gpuslice::gpu {

// Limits beyond which a reply is not believed.
inline constexpr unsigned kNvmlMaxGpus = 64;
inline constexpr unsigned kNvmlMaxProfiles = 64;     // profile indices tried
inline constexpr unsigned kNvmlMaxPlacements = 64;   // per profile
inline constexpr unsigned kNvmlMaxUnits = 64;        // memory-slice grid
inline constexpr unsigned kNvmlMaxInstances = 64;    // GIs per GPU, CIs per GI, MIG devices
inline constexpr unsigned kNvmlMaxProcesses = 4096;  // per GPU

// The bytes of `buf` up to the first NUL or `capacity`, with bytes outside printable ASCII
// replaced by '?'.
std::string BoundedString(const char* buf, std::size_t capacity);

// A profile name as NVML reports it ("MIG 1g.10gb", "1g.10gb") without the "MIG " prefix; when
// empty, "<slices>g.<GiB>gb" from the counts.
std::string ProfileNameFromNvml(const char* name, std::size_t capacity, unsigned slices,
                                unsigned long long memory_mib);

// One GPU-instance profile from its info and placements reply. Errors (kBadReply): zero or absurd
// slice/instance counts, memory beyond 1 PiB, a placement count larger than the buffer, a
// placement outside the grid, or placements of differing sizes.
GpuResult<GpuProfile> ProfileFromNvml(const nvml::GpuInstanceProfileInfoV2& info,
                                      std::span<const nvml::GpuInstancePlacement> buffer, unsigned count);

// Processes from a nvmlDeviceGetComputeRunningProcesses reply: `count` records in `buf` of
// `buf_bytes` bytes. The record stride is 24 bytes (nvmlProcessInfo_v2_t); when the records do not
// read sensibly at that stride (a pid of 0 or above Linux's limit, instance ids that are neither "none" nor
// small), the 32-byte variant is tried. Errors (kBadReply): count too large for the buffer, or no stride
// gives sensible records.
GpuResult<std::vector<GpuProcess>> DecodeProcesses(const unsigned char* buf, std::size_t buf_bytes,
                                                   unsigned count);

// Formats a MIB figure from NVML bytes (rounded down); kValueNotAvailable gives 0.
MiB MibFromBytes(unsigned long long bytes);

}  // namespace gpuslice::gpu
