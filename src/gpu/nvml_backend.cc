// NvmlBackend: opening, enumeration, geometry, instances, usage, processes and health.
// State-changing calls are in nvml_backend_change.cc, GPM activity in nvml_backend_gpm.cc.
#include "gpu/nvml_backend.h"

#include <algorithm>
#include <array>
#include <tuple>
#include <vector>

#include "gpu/nvml_reply.h"

namespace gpuslice::gpu {

#define GPUSLICE_NVML_CALL(rc_expr, what)                       \
  do {                                                          \
    const nvml::Return rc_ = (rc_expr);                         \
    if (rc_ != nvml::kSuccess) return GpuFail(Nvml(rc_, what)); \
  } while (0)

GpuResult<std::unique_ptr<NvmlBackend>> NvmlBackend::Open(const NvmlOptions& options) {
  GpuResult<std::unique_ptr<NvmlLibrary>> lib = NvmlLibrary::Load(options.library_path);
  if (!lib) return GpuFail(lib.error());
  return std::unique_ptr<NvmlBackend>(new NvmlBackend(std::move(*lib), options.read_only, options.clock));
}

GpuResult<nvml::Device> NvmlBackend::Handle(int gpu) const {
  unsigned count = 0;
  GPUSLICE_NVML_CALL(lib_->api().get_count(&count), "nvmlDeviceGetCount_v2");
  if (count > kNvmlMaxGpus) return GpuFail(GpuErrorKind::kBadReply, "NVML reports {} GPUs", count);
  if (gpu < 0 || static_cast<unsigned>(gpu) >= count) {
    return GpuFail(GpuErrorKind::kNotFound, "no GPU {} (the node has {})", gpu, count);
  }
  nvml::Device dev = nullptr;
  GPUSLICE_NVML_CALL(lib_->api().get_handle_by_index(static_cast<unsigned>(gpu), &dev),
                     "nvmlDeviceGetHandleByIndex_v2");
  if (dev == nullptr) return GpuFail(GpuErrorKind::kBadReply, "NVML returned a null handle for GPU {}", gpu);
  return dev;
}

GpuResult<MigMode> NvmlBackend::ReadMigMode(nvml::Device dev, int gpu) const {
  if (lib_->api().get_mig_mode == nullptr)
    return GpuFail(GpuErrorKind::kNotSupported, "the driver has no MIG API");
  unsigned current = 0, pending = 0;
  const nvml::Return rc = lib_->api().get_mig_mode(dev, &current, &pending);
  if (rc != nvml::kSuccess) return GpuFail(Nvml(rc, fmt::format("nvmlDeviceGetMigMode(GPU {})", gpu)));
  if (current > 1 || pending > 1) {
    return GpuFail(GpuErrorKind::kBadReply, "GPU {}: MIG mode {}/{} is neither 0 nor 1", gpu, current,
                   pending);
  }
  return MigMode{current == nvml::kMigEnable, pending == nvml::kMigEnable};
}

GpuResult<void> NvmlBackend::RequireMigOn(nvml::Device dev, int gpu) const {
  GpuResult<MigMode> mode = ReadMigMode(dev, gpu);
  if (!mode) return GpuFail(mode.error());
  if (!mode->current) return GpuFail(GpuErrorKind::kNotSupported, "MIG mode is off on GPU {}", gpu);
  return {};
}

GpuInfo NvmlBackend::ReadGpuInfo(int gpu) const {
  GpuInfo info{.index = gpu};
  const auto lost = [&](const GpuError& e) {
    // Lost, or unreadable for another reason: either way the GPU cannot be used.
    info.health = {HealthState::kLost, e.error.message};
    return info;
  };
  GpuResult<nvml::Device> dev = Handle(gpu);
  if (!dev) return lost(dev.error());
  const NvmlApi& api = lib_->api();
  std::array<char, nvml::kNameBufferSize> buf{};
  if (nvml::Return rc = api.get_name(*dev, buf.data(), buf.size()); rc == nvml::kSuccess) {
    info.name = BoundedString(buf.data(), buf.size());
  } else if (rc == nvml::kErrorGpuIsLost) {
    return lost(Nvml(rc, "nvmlDeviceGetName"));
  }
  buf.fill(0);
  if (api.get_uuid(*dev, buf.data(), buf.size()) == nvml::kSuccess)
    info.uuid = BoundedString(buf.data(), buf.size());
  if (nvml::PciInfo pci{}; api.get_pci_info != nullptr && api.get_pci_info(*dev, &pci) == nvml::kSuccess) {
    info.pci_bus_id = BoundedString(pci.bus_id, sizeof pci.bus_id);
    info.pci_device_id = pci.pci_device_id;
  }
  if (nvml::Memory mem{}; api.get_memory_info != nullptr) {
    const nvml::Return rc = api.get_memory_info(*dev, &mem);
    if (rc == nvml::kErrorGpuIsLost) return lost(Nvml(rc, "nvmlDeviceGetMemoryInfo"));
    if (rc == nvml::kSuccess) info.memory_total = MibFromBytes(mem.total);
  }
  GpuResult<MigMode> mode = ReadMigMode(*dev, gpu);
  if (!mode && mode.error().kind == GpuErrorKind::kGpuLost) return lost(mode.error());
  info.mig_capable = mode.has_value();
  if (mode) info.mig = *mode;
  if (info.mig_capable && info.mig.current != info.mig.pending) {
    info.health = {HealthState::kResetRequired,
                   fmt::format("MIG mode {} is pending a GPU reset", info.mig.pending ? "on" : "off")};
  }
  return info;
}

GpuResult<std::vector<GpuInfo>> NvmlBackend::ListGpus() {
  unsigned count = 0;
  GPUSLICE_NVML_CALL(lib_->api().get_count(&count), "nvmlDeviceGetCount_v2");
  if (count > kNvmlMaxGpus) return GpuFail(GpuErrorKind::kBadReply, "NVML reports {} GPUs", count);
  std::vector<GpuInfo> out;
  for (unsigned i = 0; i < count; ++i) out.push_back(ReadGpuInfo(static_cast<int>(i)));
  return out;
}

GpuResult<GpuProfile> NvmlBackend::ReadProfile(nvml::Device dev, unsigned index) const {
  const NvmlApi& api = lib_->api();
  nvml::GpuInstanceProfileInfoV2 info{};
  nvml::Return rc = nvml::kErrorNotSupported;
  if (api.get_gi_profile_info_v != nullptr) {
    info.version = nvml::kGpuInstanceProfileInfoV2Version;
    rc = api.get_gi_profile_info_v(dev, index, &info);
  }
  const bool v_failed =
      rc != nvml::kSuccess && rc != nvml::kErrorInvalidArgument && rc != nvml::kErrorNotSupported;
  if ((api.get_gi_profile_info_v == nullptr || v_failed) && api.get_gi_profile_info != nullptr) {
    nvml::GpuInstanceProfileInfo v1{};
    rc = api.get_gi_profile_info(dev, index, &v1);
    info = {.id = v1.id,
            .is_p2p_supported = v1.is_p2p_supported,
            .slice_count = v1.slice_count,
            .instance_count = v1.instance_count,
            .multiprocessor_count = v1.multiprocessor_count,
            .copy_engine_count = v1.copy_engine_count,
            .decoder_count = v1.decoder_count,
            .encoder_count = v1.encoder_count,
            .jpeg_count = v1.jpeg_count,
            .ofa_count = v1.ofa_count,
            .memory_size_mb = v1.memory_size_mb};
  }
  if (rc != nvml::kSuccess) return GpuFail(Nvml(rc, fmt::format("GPU-instance profile index {}", index)));
  GpuResult<GpuProfile> p = ProfileFromNvml(info, {}, 0);
  if (!p) return GpuFail(p.error());
  if (auto ok = ReadPlacements(dev, *p); !ok) return GpuFail(ok.error());
  return p;
}

GpuResult<void> NvmlBackend::ReadPlacements(nvml::Device dev, GpuProfile& profile) const {
  const NvmlApi& api = lib_->api();
  if (api.get_gi_placements == nullptr) return {};
  const unsigned id = static_cast<unsigned>(profile.profile_id);
  unsigned count = 0;
  GPUSLICE_NVML_CALL(api.get_gi_placements(dev, id, nullptr, &count),
                     "nvmlDeviceGetGpuInstancePossiblePlacements_v2");
  if (count > kNvmlMaxPlacements) {
    return GpuFail(GpuErrorKind::kBadReply, "profile {}: {} placements reported", profile.name, count);
  }
  // The buffer always has room for the most we believe, whatever the second call says.
  std::array<nvml::GpuInstancePlacement, kNvmlMaxPlacements> buf{};
  GPUSLICE_NVML_CALL(api.get_gi_placements(dev, id, buf.data(), &count),
                     "nvmlDeviceGetGpuInstancePossiblePlacements_v2");
  nvml::GpuInstanceProfileInfoV2 info{.id = id,
                                      .slice_count = static_cast<unsigned>(profile.compute_slices),
                                      .instance_count = static_cast<unsigned>(profile.max_count)};
  GpuResult<GpuProfile> checked = ProfileFromNvml(info, buf, count);
  if (!checked) return GpuFail(checked.error().WithContext(profile.name));
  profile.placements = std::move(checked->placements);
  return {};
}

GpuResult<GpuGeometry> NvmlBackend::ReadGeometry(nvml::Device dev, int gpu) const {
  if (lib_->api().get_gi_profile_info_v == nullptr && lib_->api().get_gi_profile_info == nullptr) {
    return GpuFail(GpuErrorKind::kNotSupported, "the driver has no MIG profile API");
  }
  if (GpuResult<MigMode> mode = ReadMigMode(dev, gpu); !mode) return GpuFail(mode.error());
  GpuGeometry geo;
  for (unsigned index = 0; index < kNvmlMaxProfiles; ++index) {
    GpuResult<GpuProfile> p = ReadProfile(dev, index);
    if (!p && p.error().kind == GpuErrorKind::kInvalidArgument) break;  // past the last profile index
    if (!p && p.error().kind == GpuErrorKind::kNotSupported) continue;  // not on this GPU
    if (!p) return GpuFail(p.error().WithContext(fmt::format("GPU {}", gpu)));
    if (geo.FindProfile(p->profile_id) != nullptr) continue;
    for (const UnitRange& r : p->placements) geo.memory_units = std::max(geo.memory_units, r.start + r.size);
    geo.profiles.push_back(std::move(*p));
  }
  if (geo.profiles.empty())
    return GpuFail(GpuErrorKind::kNotSupported, "GPU {} reports no MIG profiles", gpu);
  const auto size = [](const GpuProfile& p) { return p.placements.empty() ? 0 : p.placements.front().size; };
  std::sort(geo.profiles.begin(), geo.profiles.end(), [&](const GpuProfile& a, const GpuProfile& b) {
    return std::tuple(a.compute_slices, size(a), a.name) < std::tuple(b.compute_slices, size(b), b.name);
  });
  return geo;
}

GpuResult<GpuGeometry> NvmlBackend::Geometry(int gpu) {
  GpuResult<nvml::Device> dev = Handle(gpu);
  if (!dev) return GpuFail(dev.error());
  return ReadGeometry(*dev, gpu);
}

GpuResult<std::vector<nvml::ComputeInstance>> NvmlBackend::ComputeInstancesOf(nvml::GpuInstance gi) const {
  const NvmlApi& api = lib_->api();
  std::vector<nvml::ComputeInstance> out;
  if (api.gi_get_ci_profile_info == nullptr || api.gi_get_cis == nullptr) return out;
  std::vector<unsigned> seen;
  for (unsigned index = 0; index < nvml::kComputeProfileCount; ++index) {
    nvml::ComputeInstanceProfileInfo info{};
    const nvml::Return rc = api.gi_get_ci_profile_info(gi, index, nvml::kComputeEngineProfileShared, &info);
    if (rc == nvml::kErrorNotSupported || rc == nvml::kErrorInvalidArgument) continue;
    if (rc != nvml::kSuccess) return GpuFail(Nvml(rc, "nvmlGpuInstanceGetComputeInstanceProfileInfo"));
    if (std::find(seen.begin(), seen.end(), info.id) != seen.end()) continue;
    seen.push_back(info.id);
    std::array<nvml::ComputeInstance, kNvmlMaxInstances> buf{};
    unsigned count = 0;
    GPUSLICE_NVML_CALL(api.gi_get_cis(gi, info.id, buf.data(), &count), "nvmlGpuInstanceGetComputeInstances");
    if (count > buf.size()) return GpuFail(GpuErrorKind::kBadReply, "{} compute instances reported", count);
    out.insert(out.end(), buf.begin(), buf.begin() + count);
  }
  return out;
}

GpuResult<std::vector<NvmlBackend::GpuInstanceEntry>> NvmlBackend::ReadGpuInstances(nvml::Device dev,
                                                                                    int gpu) const {
  const NvmlApi& api = lib_->api();
  if (api.get_gpu_instances == nullptr || api.gi_get_info == nullptr) {
    return GpuFail(GpuErrorKind::kNotSupported, "the driver has no GPU-instance API");
  }
  if (auto ok = RequireMigOn(dev, gpu); !ok) return GpuFail(ok.error());
  GpuResult<GpuGeometry> geo = ReadGeometry(dev, gpu);
  if (!geo) return GpuFail(geo.error());
  std::vector<GpuInstanceEntry> out;
  for (const GpuProfile& p : geo->profiles) {
    std::array<nvml::GpuInstance, kNvmlMaxInstances> buf{};
    unsigned count = 0;
    GPUSLICE_NVML_CALL(api.get_gpu_instances(dev, static_cast<unsigned>(p.profile_id), buf.data(), &count),
                       "nvmlDeviceGetGpuInstances");
    if (count > buf.size()) return GpuFail(GpuErrorKind::kBadReply, "{} GPU instances reported", count);
    for (unsigned i = 0; i < count; ++i) {
      nvml::GpuInstanceInfo info{};
      GPUSLICE_NVML_CALL(api.gi_get_info(buf[i], &info), "nvmlGpuInstanceGetInfo");
      if (info.id >= 1024 || info.placement.start >= kNvmlMaxUnits || info.placement.size > kNvmlMaxUnits) {
        return GpuFail(GpuErrorKind::kBadReply, "GPU {}: GPU instance {} at {}:{} is implausible", gpu,
                       info.id, info.placement.start, info.placement.size);
      }
      GpuInstanceEntry e{buf[i], Instance{.gpu_instance_id = static_cast<int>(info.id),
                                          .profile_id = p.profile_id,
                                          .profile = p.name,
                                          .placement = {static_cast<int>(info.placement.start),
                                                        static_cast<int>(info.placement.size)}}};
      GpuResult<std::vector<nvml::ComputeInstance>> cis = ComputeInstancesOf(buf[i]);
      if (!cis) return GpuFail(cis.error());
      for (nvml::ComputeInstance ci : *cis) {
        nvml::ComputeInstanceInfo ci_info{};
        if (api.ci_get_info == nullptr || api.ci_get_info(ci, &ci_info) != nvml::kSuccess ||
            ci_info.id >= 1024)
          continue;
        const int id = static_cast<int>(ci_info.id);
        if (e.instance.compute_instance_id < 0 || id < e.instance.compute_instance_id)
          e.instance.compute_instance_id = id;
      }
      out.push_back(std::move(e));
    }
  }
  std::sort(out.begin(), out.end(), [](const GpuInstanceEntry& a, const GpuInstanceEntry& b) {
    return a.instance.placement.start < b.instance.placement.start;
  });
  return out;
}

GpuResult<void> NvmlBackend::AddMigUuids(nvml::Device dev, std::vector<GpuInstanceEntry>& entries) const {
  const NvmlApi& api = lib_->api();
  if (api.get_max_mig_device_count == nullptr || api.get_mig_device_handle == nullptr ||
      api.get_gpu_instance_id == nullptr || api.get_compute_instance_id == nullptr) {
    return {};
  }
  unsigned max = 0;
  GPUSLICE_NVML_CALL(api.get_max_mig_device_count(dev, &max), "nvmlDeviceGetMaxMigDeviceCount");
  for (unsigned i = 0; i < std::min(max, kNvmlMaxInstances); ++i) {
    nvml::Device mig = nullptr;
    const nvml::Return rc = api.get_mig_device_handle(dev, i, &mig);
    if (rc == nvml::kErrorNotFound) continue;
    if (rc != nvml::kSuccess) return GpuFail(Nvml(rc, "nvmlDeviceGetMigDeviceHandleByIndex"));
    unsigned gi = 0, ci = 0;
    GPUSLICE_NVML_CALL(api.get_gpu_instance_id(mig, &gi), "nvmlDeviceGetGpuInstanceId");
    GPUSLICE_NVML_CALL(api.get_compute_instance_id(mig, &ci), "nvmlDeviceGetComputeInstanceId");
    std::array<char, nvml::kUuidBufferSize> uuid{};
    GPUSLICE_NVML_CALL(api.get_uuid(mig, uuid.data(), uuid.size()), "nvmlDeviceGetUUID(MIG device)");
    for (GpuInstanceEntry& e : entries) {
      if (static_cast<unsigned>(e.instance.gpu_instance_id) == gi &&
          static_cast<unsigned>(e.instance.compute_instance_id) == ci) {
        e.instance.mig_uuid = BoundedString(uuid.data(), uuid.size());
      }
    }
  }
  return {};
}

GpuResult<std::vector<Instance>> NvmlBackend::Instances(int gpu) {
  GpuResult<nvml::Device> dev = Handle(gpu);
  if (!dev) return GpuFail(dev.error());
  GpuResult<std::vector<GpuInstanceEntry>> entries = ReadGpuInstances(*dev, gpu);
  if (!entries) return GpuFail(entries.error());
  if (auto ok = AddMigUuids(*dev, *entries); !ok) return GpuFail(ok.error());
  std::vector<Instance> out;
  for (GpuInstanceEntry& e : *entries) out.push_back(std::move(e.instance));
  return out;
}

GpuResult<nvml::Device> NvmlBackend::MigDeviceOf(nvml::Device dev, int gpu_instance_id) const {
  const NvmlApi& api = lib_->api();
  if (api.get_max_mig_device_count == nullptr || api.get_mig_device_handle == nullptr ||
      api.get_gpu_instance_id == nullptr) {
    return GpuFail(GpuErrorKind::kNotSupported, "the driver has no MIG device API");
  }
  unsigned max = 0;
  GPUSLICE_NVML_CALL(api.get_max_mig_device_count(dev, &max), "nvmlDeviceGetMaxMigDeviceCount");
  for (unsigned i = 0; i < std::min(max, kNvmlMaxInstances); ++i) {
    nvml::Device mig = nullptr;
    unsigned gi = 0;
    if (api.get_mig_device_handle(dev, i, &mig) != nvml::kSuccess || mig == nullptr) continue;
    if (api.get_gpu_instance_id(mig, &gi) == nvml::kSuccess && static_cast<int>(gi) == gpu_instance_id)
      return mig;
  }
  return GpuFail(GpuErrorKind::kNotFound, "no MIG device for GPU instance {}", gpu_instance_id);
}

GpuResult<InstanceUsage> NvmlBackend::Usage(int gpu, int gpu_instance_id) {
  GpuResult<nvml::Device> dev = Handle(gpu);
  if (!dev) return GpuFail(dev.error());
  GpuResult<InstanceUsage> u = InstanceMemory(*dev, gpu, gpu_instance_id);
  if (!u) return u;
  MeasureActivity(*dev, gpu, gpu_instance_id, *u);  // never fails: a note says what is missing
  return u;
}

// The agent asks this for every instance it reports, so the common case is kept cheap: an instance
// with a compute instance has a MIG device whose memory info holds both numbers (a few calls).
// Only without one (a GI without CI, an unknown id, MIG off, a lost GPU) does it read the instance
// list and the geometry, which find the total or the precise error (~hundreds of calls).
GpuResult<InstanceUsage> NvmlBackend::InstanceMemory(nvml::Device dev, int gpu, int gpu_instance_id) {
  InstanceUsage u;
  if (lib_->api().get_memory_info != nullptr) {
    if (GpuResult<nvml::Device> mig = MigDeviceOf(dev, gpu_instance_id); mig) {
      nvml::Memory mem{};
      GPUSLICE_NVML_CALL(lib_->api().get_memory_info(*mig, &mem), "nvmlDeviceGetMemoryInfo(MIG device)");
      u.memory_total = MibFromBytes(mem.total);
      u.memory_used = MibFromBytes(mem.used);
      return u;
    }
  }
  GpuResult<std::vector<Instance>> all = Instances(gpu);
  if (!all) return GpuFail(all.error());
  const auto it = std::find_if(all->begin(), all->end(),
                               [&](const Instance& in) { return in.gpu_instance_id == gpu_instance_id; });
  if (it == all->end())
    return GpuFail(GpuErrorKind::kNotFound, "GPU {} has no GPU instance {}", gpu, gpu_instance_id);
  GpuResult<GpuGeometry> geo = ReadGeometry(dev, gpu);
  if (!geo) return GpuFail(geo.error());
  if (const GpuProfile* p = geo->FindProfile(it->profile_id); p != nullptr) u.memory_total = p->memory;
  GpuResult<nvml::Device> mig = MigDeviceOf(dev, gpu_instance_id);
  if (!mig) return u;  // a GI without a compute instance has no MIG device: nothing can use memory
  nvml::Memory mem{};
  if (lib_->api().get_memory_info != nullptr) {
    GPUSLICE_NVML_CALL(lib_->api().get_memory_info(*mig, &mem), "nvmlDeviceGetMemoryInfo(MIG device)");
    u.memory_total = MibFromBytes(mem.total);
    u.memory_used = MibFromBytes(mem.used);
  }
  return u;
}

GpuResult<std::vector<GpuProcess>> NvmlBackend::Processes(int gpu) {
  GpuResult<nvml::Device> dev = Handle(gpu);
  if (!dev) return GpuFail(dev.error());
  if (lib_->api().get_compute_processes == nullptr) {
    return GpuFail(GpuErrorKind::kNotSupported, "the driver has no running-process API");
  }
  unsigned capacity = 16;
  for (int attempt = 0; attempt < 4; ++attempt) {
    // Room for the widest record layout; `count` tells NVML how many records fit.
    std::vector<unsigned char> buf(std::size_t{capacity} * nvml::kProcessInfoMaxStride);
    unsigned count = capacity;
    const nvml::Return rc = lib_->api().get_compute_processes(*dev, &count, buf.data());
    if (rc == nvml::kErrorInsufficientSize && count > capacity && count <= kNvmlMaxProcesses) {
      capacity = count + 8;  // processes may start between the calls
      continue;
    }
    if (rc != nvml::kSuccess) return GpuFail(Nvml(rc, "nvmlDeviceGetComputeRunningProcesses"));
    if (count > capacity)
      return GpuFail(GpuErrorKind::kBadReply, "{} processes reported for room for {}", count, capacity);
    return DecodeProcesses(buf.data(), buf.size(), count);
  }
  return GpuFail(GpuErrorKind::kBadReply, "the running-process list kept growing");
}

GpuResult<GpuHealth> NvmlBackend::Health(int gpu) {
  GpuResult<nvml::Device> dev = Handle(gpu);
  if (!dev && dev.error().kind == GpuErrorKind::kNotFound) return GpuFail(dev.error());
  return ReadGpuInfo(gpu).health;
}

}  // namespace gpuslice::gpu
