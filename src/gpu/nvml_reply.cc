#include "gpu/nvml_reply.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace gpuslice::gpu {
namespace {

constexpr unsigned long long kMaxMemoryMib = 1ULL << 30;  // 1 PiB
constexpr unsigned kMaxPid = 1u << 22;                    // Linux PID_MAX_LIMIT

// A record at `stride` bytes read sensibly: a pid and instance ids that are "none" or small.
bool Sensible(const nvml::ProcessInfo& p) {
  const auto ok_id = [](unsigned id) { return id == nvml::kInvalidInstanceId || id < kNvmlMaxInstances; };
  return p.pid != 0 && p.pid <= kMaxPid && ok_id(p.gpu_instance_id) && ok_id(p.compute_instance_id);
}

nvml::ProcessInfo ReadRecord(const unsigned char* buf, std::size_t stride, unsigned i) {
  nvml::ProcessInfo p;
  std::memcpy(&p, buf + stride * i, sizeof p);  // memcpy: the buffer need not be aligned for it
  return p;
}

int InstanceId(unsigned id) {
  return id == nvml::kInvalidInstanceId ? -1 : static_cast<int>(id);
}

}  // namespace

std::string BoundedString(const char* buf, std::size_t capacity) {
  if (buf == nullptr) return {};
  const std::size_t n = strnlen(buf, capacity);
  std::string s(buf, n);
  for (char& c : s) {
    if (c < 0x20 || c > 0x7E) c = '?';
  }
  return s;
}

std::string ProfileNameFromNvml(const char* name, std::size_t capacity, unsigned slices,
                                unsigned long long memory_mib) {
  std::string s = BoundedString(name, capacity);
  if (s.rfind("MIG ", 0) == 0) s.erase(0, 4);
  if (s.empty()) s = fmt::format("{}g.{}gb", slices, (memory_mib + 1023) / 1024);
  return s;
}

MiB MibFromBytes(unsigned long long bytes) {
  if (bytes == nvml::kValueNotAvailable) return MiB(0);
  return MiB(static_cast<std::int64_t>(std::min(bytes / (1024ULL * 1024ULL), kMaxMemoryMib)));
}

GpuResult<GpuProfile> ProfileFromNvml(const nvml::GpuInstanceProfileInfoV2& info,
                                      std::span<const nvml::GpuInstancePlacement> buffer, unsigned count) {
  if (info.slice_count == 0 || info.slice_count > kNvmlMaxUnits || info.instance_count == 0 ||
      info.instance_count > kNvmlMaxInstances || info.memory_size_mb > kMaxMemoryMib || info.id > 0xFFFF) {
    return GpuFail(GpuErrorKind::kBadReply,
                   "profile id {}: implausible info (slices {}, instances {}, memory {} MiB)", info.id,
                   info.slice_count, info.instance_count, info.memory_size_mb);
  }
  if (count > buffer.size()) {
    return GpuFail(GpuErrorKind::kBadReply, "profile id {}: {} placements reported for a buffer of {}",
                   info.id, count, buffer.size());
  }
  GpuProfile p{
      .profile_id = static_cast<int>(info.id),
      .name = ProfileNameFromNvml(info.name, sizeof info.name, info.slice_count, info.memory_size_mb),
      .compute_slices = static_cast<int>(info.slice_count),
      .max_count = static_cast<int>(info.instance_count),
      .sm_count = static_cast<int>(std::min(info.multiprocessor_count, 100000u)),
      .copy_engines = static_cast<int>(std::min(info.copy_engine_count, 1000u)),
      .decoders = static_cast<int>(std::min(info.decoder_count, 1000u)),
      .encoders = static_cast<int>(std::min(info.encoder_count, 1000u)),
      .jpeg = static_cast<int>(std::min(info.jpeg_count, 1000u)),
      .ofa = static_cast<int>(std::min(info.ofa_count, 1000u)),
      .memory = MiB(static_cast<std::int64_t>(info.memory_size_mb))};
  for (unsigned i = 0; i < count; ++i) {
    const nvml::GpuInstancePlacement& pl = buffer[i];
    if (pl.size == 0 || pl.size > kNvmlMaxUnits || pl.start >= kNvmlMaxUnits ||
        pl.start + pl.size > kNvmlMaxUnits) {
      return GpuFail(GpuErrorKind::kBadReply, "profile {}: placement {}:{} is outside a {}-unit grid", p.name,
                     pl.start, pl.size, kNvmlMaxUnits);
    }
    if (!p.placements.empty() && p.placements.front().size != static_cast<int>(pl.size)) {
      return GpuFail(GpuErrorKind::kBadReply, "profile {}: placements of sizes {} and {}", p.name,
                     p.placements.front().size, pl.size);
    }
    p.placements.push_back({static_cast<int>(pl.start), static_cast<int>(pl.size)});
  }
  std::sort(p.placements.begin(), p.placements.end(),
            [](const UnitRange& a, const UnitRange& b) { return a.start < b.start; });
  p.placements.erase(std::unique(p.placements.begin(), p.placements.end()), p.placements.end());
  return p;
}

GpuResult<std::vector<GpuProcess>> DecodeProcesses(const unsigned char* buf, std::size_t buf_bytes,
                                                   unsigned count) {
  if (count > kNvmlMaxProcesses) {
    return GpuFail(GpuErrorKind::kBadReply, "{} processes reported (limit {})", count, kNvmlMaxProcesses);
  }
  for (const std::size_t stride : {sizeof(nvml::ProcessInfo), std::size_t{nvml::kProcessInfoMaxStride}}) {
    if (count > 0 && (buf == nullptr || stride * (count - 1) + sizeof(nvml::ProcessInfo) > buf_bytes))
      continue;
    std::vector<GpuProcess> out;
    bool sensible = true;
    for (unsigned i = 0; i < count && sensible; ++i) {
      const nvml::ProcessInfo p = ReadRecord(buf, stride, i);
      sensible = Sensible(p);
      out.push_back({p.pid, MibFromBytes(p.used_gpu_memory), InstanceId(p.gpu_instance_id),
                     InstanceId(p.compute_instance_id)});
    }
    if (sensible) return out;
  }
  return GpuFail(GpuErrorKind::kBadReply, "the running-process list ({} entries) does not decode", count);
}

}  // namespace gpuslice::gpu
