// NvmlBackend: the state-changing calls (create, destroy, MIG mode, reset).
#include <algorithm>

#include "gpu/nvml_backend.h"
#include "gpu/nvml_reply.h"

namespace gpuslice::gpu {

GpuResult<void> NvmlBackend::RefuseIfReadOnly(std::string_view what) const {
  if (!read_only_) return {};
  return GpuFail(GpuErrorKind::kReadOnly,
                 "{}: the NVML backend was opened read-only; nothing was sent to the driver", what);
}

// The CI profile covering the whole GI: the first CI profile index whose slice count equals the
// GI's (index order puts the plain profiles before the _REV1 and _NVL variants).
GpuResult<unsigned> NvmlBackend::FullComputeProfile(nvml::GpuInstance gi, int slices) const {
  const NvmlApi& api = lib_->api();
  for (unsigned index = 0; index < nvml::kComputeProfileCount; ++index) {
    nvml::ComputeInstanceProfileInfo info{};
    const nvml::Return rc = api.gi_get_ci_profile_info(gi, index, nvml::kComputeEngineProfileShared, &info);
    if (rc == nvml::kErrorNotSupported || rc == nvml::kErrorInvalidArgument) continue;
    if (rc != nvml::kSuccess) return GpuFail(Nvml(rc, "nvmlGpuInstanceGetComputeInstanceProfileInfo"));
    if (static_cast<int>(info.slice_count) == slices) return info.id;
  }
  return GpuFail(GpuErrorKind::kNotSupported, "no compute-instance profile covers a {}-slice GPU instance",
                 slices);
}

GpuResult<Instance> NvmlBackend::CreateInstance(int gpu, const InstanceRequest& request) {
  if (auto ok = RefuseIfReadOnly("create instance"); !ok) return GpuFail(ok.error());
  const NvmlApi& api = lib_->api();
  if (api.create_gi_with_placement == nullptr || api.gi_get_info == nullptr ||
      api.gi_get_ci_profile_info == nullptr || api.gi_create_ci == nullptr || api.gi_destroy == nullptr) {
    return GpuFail(GpuErrorKind::kNotSupported, "the driver cannot create MIG instances at a placement");
  }
  std::lock_guard<std::mutex> lock(change_mu_);
  GpuResult<nvml::Device> dev = Handle(gpu);
  if (!dev) return GpuFail(dev.error());
  if (auto ok = RequireMigOn(*dev, gpu); !ok) return GpuFail(ok.error());
  GpuResult<GpuGeometry> geo = ReadGeometry(*dev, gpu);
  if (!geo) return GpuFail(geo.error());
  const GpuProfile* profile = geo->FindProfile(request.profile_id);
  if (profile == nullptr) {
    return GpuFail(GpuErrorKind::kInvalidArgument, "GPU {} has no GPU-instance profile id {}", gpu,
                   request.profile_id);
  }
  const auto placement = std::find_if(profile->placements.begin(), profile->placements.end(),
                                      [&](const UnitRange& r) { return r.start == request.start; });
  if (placement == profile->placements.end()) {
    return GpuFail(GpuErrorKind::kInvalidArgument, "start {} is not a placement of {} on GPU {}",
                   request.start, profile->name, gpu);
  }
  const nvml::GpuInstancePlacement where{static_cast<unsigned>(placement->start),
                                         static_cast<unsigned>(placement->size)};
  nvml::GpuInstance gi = nullptr;
  if (nvml::Return rc =
          api.create_gi_with_placement(*dev, static_cast<unsigned>(profile->profile_id), &where, &gi);
      rc != nvml::kSuccess) {
    return GpuFail(Nvml(rc, fmt::format("creating {} at {} on GPU {}", profile->name, request.start, gpu)));
  }
  nvml::GpuInstanceInfo info{};
  if (gi == nullptr || api.gi_get_info(gi, &info) != nvml::kSuccess) {
    return GpuFail(GpuErrorKind::kBadReply, "GPU {}: the new GPU instance cannot be read back", gpu);
  }
  ForgetGpmSamples(gpu, static_cast<int>(info.id));  // a sample of an earlier GI with this id
  GpuResult<unsigned> ci_profile = FullComputeProfile(gi, profile->compute_slices);
  nvml::ComputeInstance ci = nullptr;
  nvml::Return rc = ci_profile ? api.gi_create_ci(gi, *ci_profile, &ci) : nvml::kErrorNotSupported;
  if (rc != nvml::kSuccess) {
    (void)api.gi_destroy(gi);  // leave nothing half-made
    if (!ci_profile) return GpuFail(ci_profile.error());
    return GpuFail(Nvml(rc, fmt::format("creating the compute instance of GPU instance {}", info.id)));
  }
  GpuResult<std::vector<Instance>> all = Instances(gpu);
  if (!all) return GpuFail(all.error());
  for (const Instance& in : *all) {
    if (in.gpu_instance_id == static_cast<int>(info.id)) return in;
  }
  return GpuFail(GpuErrorKind::kBadReply, "GPU {}: GPU instance {} vanished after creation", gpu, info.id);
}

GpuResult<void> NvmlBackend::DestroyInstance(int gpu, int gpu_instance_id) {
  if (auto ok = RefuseIfReadOnly("destroy instance"); !ok) return ok;
  const NvmlApi& api = lib_->api();
  if (api.get_gpu_instance_by_id == nullptr || api.ci_destroy == nullptr || api.gi_destroy == nullptr) {
    return GpuFail(GpuErrorKind::kNotSupported, "the driver cannot destroy MIG instances");
  }
  std::lock_guard<std::mutex> lock(change_mu_);
  GpuResult<nvml::Device> dev = Handle(gpu);
  if (!dev) return GpuFail(dev.error());
  if (auto ok = RequireMigOn(*dev, gpu); !ok) return ok;
  if (gpu_instance_id < 0)
    return GpuFail(GpuErrorKind::kNotFound, "GPU {} has no GPU instance {}", gpu, gpu_instance_id);
  nvml::GpuInstance gi = nullptr;
  if (nvml::Return rc = api.get_gpu_instance_by_id(*dev, static_cast<unsigned>(gpu_instance_id), &gi);
      rc != nvml::kSuccess) {
    return GpuFail(Nvml(rc, fmt::format("GPU {} instance {}", gpu, gpu_instance_id)));
  }
  GpuResult<std::vector<nvml::ComputeInstance>> cis = ComputeInstancesOf(gi);
  if (!cis) return GpuFail(cis.error());
  for (nvml::ComputeInstance ci : *cis) {
    if (nvml::Return rc = api.ci_destroy(ci); rc != nvml::kSuccess) {
      return GpuFail(Nvml(
          rc, fmt::format("destroying the compute instance of GPU {} instance {}", gpu, gpu_instance_id)));
    }
  }
  if (nvml::Return rc = api.gi_destroy(gi); rc != nvml::kSuccess) {
    return GpuFail(Nvml(rc, fmt::format("destroying GPU {} instance {}", gpu, gpu_instance_id)));
  }
  ForgetGpmSamples(gpu, gpu_instance_id);
  return {};
}

GpuResult<MigMode> NvmlBackend::SetMigMode(int gpu, bool enabled) {
  if (auto ok = RefuseIfReadOnly("set MIG mode"); !ok) return GpuFail(ok.error());
  if (lib_->api().set_mig_mode == nullptr)
    return GpuFail(GpuErrorKind::kNotSupported, "the driver has no MIG API");
  std::lock_guard<std::mutex> lock(change_mu_);
  GpuResult<nvml::Device> dev = Handle(gpu);
  if (!dev) return GpuFail(dev.error());
  GpuResult<MigMode> before = ReadMigMode(*dev, gpu);
  if (!before) return GpuFail(before.error());
  if (before->current == enabled && before->pending == enabled) return *before;
  nvml::Return activation = nvml::kSuccess;
  const nvml::Return rc =
      lib_->api().set_mig_mode(*dev, enabled ? nvml::kMigEnable : nvml::kMigDisable, &activation);
  if (rc != nvml::kSuccess) return GpuFail(Nvml(rc, fmt::format("nvmlDeviceSetMigMode(GPU {})", gpu)));
  // A non-success activation status (in use, reset required) leaves the change pending; the
  // returned mode shows it.
  return ReadMigMode(*dev, gpu);
}

GpuResult<void> NvmlBackend::ResetGpu(int gpu) {
  if (auto ok = RefuseIfReadOnly("reset GPU"); !ok) return ok;
  return GpuFail(
      GpuErrorKind::kNotSupported,
      "NVML offers no GPU reset; run `nvidia-smi -r -i {}` on the idle GPU to apply a pending MIG mode", gpu);
}

}  // namespace gpuslice::gpu
