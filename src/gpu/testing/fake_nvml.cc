// A fake libnvidia-ml.so.1 for tests: answers the NVML calls NvmlBackend makes from a SimBackend,
// so the NVML code path (dlopen, symbol versions, struct layouts, two-step create/destroy, MIG
// device handles, error codes) runs end to end without a GPU.
//
// Built only with the tests, as build-dir/src/gpu/fake-nvml/libnvidia-ml.so.1. nvmlInit_v2 opens
// the simulated hardware from the state file named by $GPUSLICE_FAKE_NVML_STATE (a SimBackend
// state file, sim_state.h); a test drives the same file through its own SimBackend (attach
// processes, lose a GPU) and the fake sees the changes on its next call.
//
// GPM: nvmlGpmQueryDeviceSupport says yes on Hopper and later only; a sample taken with
// nvmlGpmMigSampleGet records the GI's activity at that moment (the sum over its processes, as
// SimBackend's Usage computes it), and nvmlGpmMetricsGet answers SM_UTIL with the activity of
// the later sample (other metrics: NOT_SUPPORTED per metric). Time plays no part. A test makes
// the reply misbehave with $GPUSLICE_FAKE_NVML_GPM_REPLY, read on each nvmlGpmMetricsGet:
// "call-error" fails the call, "metric-error" fails SM_UTIL's own status, and a number ("nan",
// "150") is reported as SM_UTIL's value.
//
// Limits (deliberate; the fake serves gpuslice's own calls): compute-instance profiles are only
// the full-size one of each GI; the unversioned profile-info call and everything NvmlBackend does
// not use are absent. Profile indices follow NVML's constants (_1_SLICE = 0 … _3_SLICE_GFX =
// 0x11); catalog profiles without a constant get indices from 0x12 on.
//
// Only the NVML entry points are exported (everything else is hidden), so the copy of gpuslice's
// sim code inside this library never clashes with the test binary's.
// Thread-safety: one global mutex around every call.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gpu/nvml_api.h"
#include "gpu/sim_backend.h"
#include "gpu/sim_driver.h"

namespace {

using namespace gpuslice;       // NOLINT(google-build-using-namespace): a test fixture
using namespace gpuslice::gpu;  // NOLINT(google-build-using-namespace)
namespace nv = gpuslice::gpu::nvml;

constexpr int kMaxGpus = kSimMaxGpus;
constexpr int kMaxIds = 32;  // GI ids per GPU (an 8-unit grid uses 0..14)

struct FakeDevice {
  int gpu = 0;
  int gi = -1;  // MIG device handles: the GI and CI they stand for
  int ci = -1;
};
struct FakeGi {
  int gpu = 0;
  int gi = 0;
};

// What nvmlGpmSampleAlloc hands out (as nvmlGpmSample_t); gpu < 0 until sampled.
struct FakeGpmSample {
  int gpu = -1;
  int gi = -1;
  int activity = 0;
};

std::mutex g_mu;
int g_refs = 0;
std::unique_ptr<SimBackend> g_sim;
FakeDevice g_devices[kMaxGpus];
FakeDevice g_mig_devices[kMaxGpus][kMaxIds];
FakeGi g_gis[kMaxGpus][kMaxIds];
FakeGi g_cis[kMaxGpus][kMaxIds];  // one CI per GI: the CI handle of GI g is g_cis[gpu][g]

nv::Return CodeFor(GpuErrorKind kind) {
  switch (kind) {
    case GpuErrorKind::kInUse: return nv::kErrorInUse;
    case GpuErrorKind::kInsufficientResources: return nv::kErrorInsufficientResources;
    case GpuErrorKind::kResetRequired: return nv::kErrorResetRequired;
    case GpuErrorKind::kGpuLost: return nv::kErrorGpuIsLost;
    case GpuErrorKind::kNotSupported: return nv::kErrorNotSupported;
    case GpuErrorKind::kNoPermission: return nv::kErrorNoPermission;
    case GpuErrorKind::kNotFound: return nv::kErrorNotFound;
    case GpuErrorKind::kInvalidArgument: return nv::kErrorInvalidArgument;
    default: return nv::kErrorUnknown;
  }
}

template <typename T>
nv::Return CodeOf(const GpuResult<T>& r) {
  return r ? nv::kSuccess : CodeFor(r.error().kind);
}

// NVML's constant for a catalog profile, or -1 when it has none.
int NvmlConstant(const mig::Profile& p) {
  const int g = p.compute_slices;
  if (p.double_memory) return g == 1 ? 0x9 : -1;
  if (p.media == mig::MediaAttr::kMe) return g == 1 ? 0x7 : g == 2 ? 0x8 : -1;
  if (p.media == mig::MediaAttr::kMeAll) return g == 1 ? 0xF : g == 2 ? 0x10 : -1;
  if (p.media == mig::MediaAttr::kNoMe) return g == 1 ? 0xD : g == 2 ? 0xE : -1;
  if (p.gfx) return g == 1 ? 0xA : g == 2 ? 0xB : g == 4 ? 0xC : g == 3 ? 0x11 : -1;
  switch (g) {
    case 1: return 0x0;
    case 2: return 0x1;
    case 3: return 0x2;
    case 4: return 0x3;
    case 7: return 0x4;
    case 8: return 0x5;
    case 6: return 0x6;
    default: return -1;
  }
}

// Profile index (NVML constant) -> catalog profile index, for one model; -1 entries are gaps.
std::vector<int> ProfileIndexTable(const mig::GpuModel& m) {
  std::vector<int> table(0x12, -1);
  for (int i = 0; i < static_cast<int>(m.profiles.size()); ++i) {
    const int c = NvmlConstant(m.profiles[static_cast<std::size_t>(i)]);
    if (c >= 0 && table[static_cast<std::size_t>(c)] < 0) {
      table[static_cast<std::size_t>(c)] = i;
    } else {
      table.push_back(i);
    }
  }
  return table;
}

const FakeDevice* AsDevice(nv::Device d) {
  return reinterpret_cast<const FakeDevice*>(d);
}
const FakeGi* AsGi(nv::GpuInstance g) {
  return reinterpret_cast<const FakeGi*>(g);
}
const FakeGi* AsCi(nv::ComputeInstance c) {
  return reinterpret_cast<const FakeGi*>(c);
}
nv::Device DeviceHandle(int gpu) {
  return reinterpret_cast<nv::Device>(&g_devices[gpu]);
}
nv::GpuInstance GiHandle(int gpu, int gi) {
  g_gis[gpu][gi] = {gpu, gi};
  return reinterpret_cast<nv::GpuInstance>(&g_gis[gpu][gi]);
}
nv::ComputeInstance CiHandle(int gpu, int gi) {
  g_cis[gpu][gi] = {gpu, gi};
  return reinterpret_cast<nv::ComputeInstance>(&g_cis[gpu][gi]);
}

// The state, or an error code: uninitialised, or a GPU index out of range.
struct View {
  nv::Return rc = nv::kSuccess;
  SimState state;
  const SimGpu* gpu = nullptr;
};

View Load(int gpu, bool allow_lost) {
  View v;
  if (!g_sim) return {nv::kErrorUninitialized};
  GpuResult<SimState> s = g_sim->Snapshot();
  if (!s) return {nv::kErrorUnknown};
  v.state = std::move(*s);
  if (gpu < 0) return v;
  if (gpu >= static_cast<int>(v.state.gpus.size())) return {nv::kErrorInvalidArgument};
  v.gpu = &v.state.gpus[static_cast<std::size_t>(gpu)];
  if (v.gpu->lost && !allow_lost) v.rc = nv::kErrorGpuIsLost;
  return v;
}

const SimInstance* FindGi(const SimGpu& g, int gi) {
  for (const SimInstance& in : g.instances) {
    if (in.gpu_instance_id == gi) return &in;
  }
  return nullptr;
}

const mig::Profile& ProfileOf(const SimGpu& g, const SimInstance& in) {
  return g.model->profiles[static_cast<std::size_t>(SimProfileIndex(*g.model, in.profile_id))];
}

nv::Return CopyString(const std::string& s, char* buf, unsigned len) {
  if (buf == nullptr) return nv::kErrorInvalidArgument;
  if (s.size() + 1 > len) return nv::kErrorInsufficientSize;
  std::memcpy(buf, s.c_str(), s.size() + 1);
  return nv::kSuccess;
}

// CI profile index -> compute slices (NVML_COMPUTE_INSTANCE_PROFILE_*).
constexpr int kCiSlices[nv::kComputeProfileCount] = {1, 2, 3, 4, 7, 8, 6, 1, 7};

}  // namespace

#define FAKE_NVML extern "C" __attribute__((visibility("default")))
#define FAKE_LOCK std::lock_guard<std::mutex> lock(g_mu)

FAKE_NVML nv::Return nvmlInit_v2() {
  FAKE_LOCK;
  if (g_refs++ > 0) return nv::kSuccess;
  const char* path = std::getenv("GPUSLICE_FAKE_NVML_STATE");
  SimOptions options;
  options.state_file = path != nullptr ? path : "";
  GpuResult<std::unique_ptr<SimBackend>> sim =
      options.state_file.empty() ? GpuFail(GpuErrorKind::kState, "no state") : SimBackend::Open(options);
  if (!sim) {
    g_refs = 0;
    return nv::kErrorDriverNotLoaded;
  }
  g_sim = std::move(*sim);
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlShutdown() {
  FAKE_LOCK;
  if (g_refs == 0) return nv::kErrorUninitialized;
  if (--g_refs == 0) g_sim.reset();
  return nv::kSuccess;
}

FAKE_NVML const char* nvmlErrorString(nv::Return rc) {
  switch (rc) {
    case nv::kSuccess: return "Success";
    case nv::kErrorInUse: return "In use by another client";
    case nv::kErrorInsufficientResources: return "Insufficient resources";
    case nv::kErrorGpuIsLost: return "GPU is lost";
    case nv::kErrorNotSupported: return "Not Supported";
    case nv::kErrorNotFound: return "Not Found";
    case nv::kErrorInvalidArgument: return "Invalid Argument";
    case nv::kErrorArgumentVersionMismatch: return "Argument version mismatch";
    default: return "Unknown Error";
  }
}

FAKE_NVML nv::Return nvmlDeviceGetCount_v2(unsigned* count) {
  FAKE_LOCK;
  View v = Load(-1, true);
  if (v.rc != nv::kSuccess) return v.rc;
  *count = static_cast<unsigned>(v.state.gpus.size());
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlDeviceGetHandleByIndex_v2(unsigned index, nv::Device* out) {
  FAKE_LOCK;
  View v = Load(static_cast<int>(std::min(index, 1000u)), true);
  if (v.rc != nv::kSuccess) return v.rc;
  g_devices[index] = {static_cast<int>(index), -1, -1};
  *out = DeviceHandle(static_cast<int>(index));
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlDeviceGetName(nv::Device d, char* buf, unsigned len) {
  FAKE_LOCK;
  View v = Load(AsDevice(d)->gpu, true);
  return v.rc != nv::kSuccess ? v.rc : CopyString(v.gpu->sku->name, buf, len);
}

FAKE_NVML nv::Return nvmlDeviceGetUUID(nv::Device d, char* buf, unsigned len) {
  FAKE_LOCK;
  const FakeDevice* dev = AsDevice(d);
  View v = Load(dev->gpu, dev->gi < 0);
  if (v.rc != nv::kSuccess) return v.rc;
  if (dev->gi < 0) return CopyString(v.gpu->uuid, buf, len);
  const SimInstance* in = FindGi(*v.gpu, dev->gi);
  if (in == nullptr || in->compute_instance_id != dev->ci) return nv::kErrorInvalidArgument;  // stale handle
  return CopyString(in->mig_uuid, buf, len);
}

FAKE_NVML nv::Return nvmlDeviceGetPciInfo_v3(nv::Device d, nv::PciInfo* pci) {
  FAKE_LOCK;
  View v = Load(AsDevice(d)->gpu, true);
  if (v.rc != nv::kSuccess) return v.rc;
  *pci = {};
  std::snprintf(pci->bus_id, sizeof pci->bus_id, "%s", v.gpu->pci_bus_id.c_str());
  std::snprintf(pci->bus_id_legacy, sizeof pci->bus_id_legacy, "%s", v.gpu->pci_bus_id.c_str() + 4);
  pci->bus = static_cast<unsigned>(0x10 + AsDevice(d)->gpu);
  pci->pci_device_id = v.gpu->sku->pci_id.value_or(0);
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlDeviceGetMemoryInfo(nv::Device d, nv::Memory* mem) {
  FAKE_LOCK;
  const FakeDevice* dev = AsDevice(d);
  View v = Load(dev->gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  constexpr unsigned long long kMiB = 1024ULL * 1024ULL;
  if (dev->gi >= 0) {
    GpuResult<InstanceUsage> u = sim::Usage(v.state, dev->gpu, dev->gi);
    if (!u) return CodeOf(u);
    mem->total = static_cast<unsigned long long>(u->memory_total.value()) * kMiB;
    mem->used = static_cast<unsigned long long>(u->memory_used.value()) * kMiB;
  } else {
    mem->total = static_cast<unsigned long long>(SimGpuMemory(*v.gpu->model).value()) * kMiB;
    mem->used = 0;
    for (const SimProcess& p : v.gpu->processes)
      mem->used += static_cast<unsigned long long>(p.memory_used.value()) * kMiB;
  }
  mem->free = mem->total > mem->used ? mem->total - mem->used : 0;
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlDeviceGetMigMode(nv::Device d, unsigned* current, unsigned* pending) {
  FAKE_LOCK;
  View v = Load(AsDevice(d)->gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  if (!v.gpu->model->mig_capable) return nv::kErrorNotSupported;
  *current = v.gpu->mig.current ? nv::kMigEnable : nv::kMigDisable;
  *pending = v.gpu->mig.pending ? nv::kMigEnable : nv::kMigDisable;
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlDeviceSetMigMode(nv::Device d, unsigned mode, nv::Return* activation) {
  FAKE_LOCK;
  if (!g_sim) return nv::kErrorUninitialized;
  if (mode > 1) return nv::kErrorInvalidArgument;
  GpuResult<MigMode> r = g_sim->SetMigMode(AsDevice(d)->gpu, mode == nv::kMigEnable);
  if (!r) return CodeOf(r);
  *activation = r->current == r->pending ? nv::kSuccess : nv::kErrorInUse;
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlDeviceGetGpuInstanceProfileInfoV(nv::Device d, unsigned index,
                                                          nv::GpuInstanceProfileInfoV2* info) {
  FAKE_LOCK;
  View v = Load(AsDevice(d)->gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  if (info->version != nv::kGpuInstanceProfileInfoV2Version)
    return 25;  // NVML_ERROR_ARGUMENT_VERSION_MISMATCH
  const mig::GpuModel& m = *v.gpu->model;
  if (!m.mig_capable) return nv::kErrorNotSupported;
  const std::vector<int> table = ProfileIndexTable(m);
  if (index >= table.size()) return nv::kErrorInvalidArgument;
  const int p = table[index];
  if (p < 0) return nv::kErrorNotSupported;
  GpuResult<GpuGeometry> geo = sim::Geometry(v.state, AsDevice(d)->gpu);
  if (!geo) return CodeOf(geo);
  const GpuProfile& gp = geo->profiles[static_cast<std::size_t>(p)];
  *info = {.version = info->version,
           .id = static_cast<unsigned>(gp.profile_id),
           .slice_count = static_cast<unsigned>(gp.compute_slices),
           .instance_count = static_cast<unsigned>(gp.max_count),
           .multiprocessor_count = static_cast<unsigned>(gp.sm_count),
           .copy_engine_count = static_cast<unsigned>(gp.copy_engines),
           .decoder_count = static_cast<unsigned>(gp.decoders),
           .encoder_count = static_cast<unsigned>(gp.encoders),
           .jpeg_count = static_cast<unsigned>(gp.jpeg),
           .ofa_count = static_cast<unsigned>(gp.ofa),
           .memory_size_mb = static_cast<unsigned long long>(gp.memory.value())};
  std::snprintf(info->name, sizeof info->name, "MIG %s", gp.name.c_str());
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlDeviceGetGpuInstancePossiblePlacements_v2(nv::Device d, unsigned profile_id,
                                                                   nv::GpuInstancePlacement* out,
                                                                   unsigned* count) {
  FAKE_LOCK;
  View v = Load(AsDevice(d)->gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  GpuResult<GpuGeometry> geo = sim::Geometry(v.state, AsDevice(d)->gpu);
  if (!geo) return CodeOf(geo);
  const GpuProfile* p = geo->FindProfile(static_cast<int>(profile_id));
  if (p == nullptr) return nv::kErrorInvalidArgument;
  *count = static_cast<unsigned>(p->placements.size());
  if (out == nullptr) return nv::kSuccess;
  for (std::size_t i = 0; i < p->placements.size(); ++i) {
    out[i] = {static_cast<unsigned>(p->placements[i].start), static_cast<unsigned>(p->placements[i].size)};
  }
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlDeviceCreateGpuInstanceWithPlacement(nv::Device d, unsigned profile_id,
                                                              const nv::GpuInstancePlacement* where,
                                                              nv::GpuInstance* out) {
  FAKE_LOCK;
  if (!g_sim) return nv::kErrorUninitialized;
  const int gpu = AsDevice(d)->gpu;
  View v = Load(gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  const int index = SimProfileIndex(*v.gpu->model, static_cast<int>(profile_id));
  if (index >= 0 &&
      v.gpu->model->profiles[static_cast<std::size_t>(index)].size_units != static_cast<int>(where->size)) {
    return nv::kErrorInvalidArgument;
  }
  GpuResult<int> gi =
      g_sim->CreateGpuInstance(gpu, static_cast<int>(profile_id), static_cast<int>(where->start));
  if (!gi) return CodeOf(gi);
  if (*gi >= kMaxIds) return nv::kErrorUnknown;
  *out = GiHandle(gpu, *gi);
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlDeviceGetGpuInstances(nv::Device d, unsigned profile_id, nv::GpuInstance* out,
                                               unsigned* count) {
  FAKE_LOCK;
  const int gpu = AsDevice(d)->gpu;
  View v = Load(gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  if (!v.gpu->mig.current) return nv::kErrorNotSupported;
  unsigned n = 0;
  for (const SimInstance& in : v.gpu->instances) {
    if (in.profile_id == static_cast<int>(profile_id) && in.gpu_instance_id < kMaxIds)
      out[n++] = GiHandle(gpu, in.gpu_instance_id);
  }
  *count = n;
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlDeviceGetGpuInstanceById(nv::Device d, unsigned id, nv::GpuInstance* out) {
  FAKE_LOCK;
  const int gpu = AsDevice(d)->gpu;
  View v = Load(gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  if (!v.gpu->mig.current) return nv::kErrorNotSupported;
  if (id >= kMaxIds || FindGi(*v.gpu, static_cast<int>(id)) == nullptr) return nv::kErrorNotFound;
  *out = GiHandle(gpu, static_cast<int>(id));
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlGpuInstanceGetInfo(nv::GpuInstance g, nv::GpuInstanceInfo* info) {
  FAKE_LOCK;
  const FakeGi* gi = AsGi(g);
  View v = Load(gi->gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  const SimInstance* in = FindGi(*v.gpu, gi->gi);
  if (in == nullptr) return nv::kErrorInvalidArgument;
  *info = {DeviceHandle(gi->gpu),
           static_cast<unsigned>(in->gpu_instance_id),
           static_cast<unsigned>(in->profile_id),
           {static_cast<unsigned>(in->start), static_cast<unsigned>(ProfileOf(*v.gpu, *in).size_units)}};
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlGpuInstanceGetComputeInstanceProfileInfo(nv::GpuInstance g, unsigned index,
                                                                  unsigned eng,
                                                                  nv::ComputeInstanceProfileInfo* info) {
  FAKE_LOCK;
  const FakeGi* gi = AsGi(g);
  View v = Load(gi->gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  if (index >= nv::kComputeProfileCount || eng != nv::kComputeEngineProfileShared)
    return nv::kErrorInvalidArgument;
  const SimInstance* in = FindGi(*v.gpu, gi->gi);
  if (in == nullptr) return nv::kErrorInvalidArgument;
  const mig::Profile& p = ProfileOf(*v.gpu, *in);
  if (index >= 7 || kCiSlices[index] != p.compute_slices) return nv::kErrorNotSupported;  // only the full CI
  *info = {.id = index,
           .slice_count = static_cast<unsigned>(p.compute_slices),
           .instance_count = 1,
           .multiprocessor_count = static_cast<unsigned>(p.sm_count.value_or(0))};
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlGpuInstanceCreateComputeInstance(nv::GpuInstance g, unsigned profile_id,
                                                          nv::ComputeInstance* out) {
  FAKE_LOCK;
  if (!g_sim) return nv::kErrorUninitialized;
  const FakeGi* gi = AsGi(g);
  View v = Load(gi->gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  const SimInstance* in = FindGi(*v.gpu, gi->gi);
  if (in == nullptr) return nv::kErrorInvalidArgument;
  if (profile_id >= 7 || kCiSlices[profile_id] != ProfileOf(*v.gpu, *in).compute_slices)
    return nv::kErrorNotSupported;
  GpuResult<int> ci = g_sim->CreateComputeInstance(gi->gpu, gi->gi);
  if (!ci) return CodeOf(ci);
  *out = CiHandle(gi->gpu, gi->gi);
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlGpuInstanceGetComputeInstances(nv::GpuInstance g, unsigned profile_id,
                                                        nv::ComputeInstance* out, unsigned* count) {
  FAKE_LOCK;
  const FakeGi* gi = AsGi(g);
  View v = Load(gi->gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  const SimInstance* in = FindGi(*v.gpu, gi->gi);
  if (in == nullptr) return nv::kErrorInvalidArgument;
  *count = 0;
  if (in->compute_instance_id >= 0 && profile_id < 7 &&
      kCiSlices[profile_id] == ProfileOf(*v.gpu, *in).compute_slices) {
    out[0] = CiHandle(gi->gpu, gi->gi);
    *count = 1;
  }
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlComputeInstanceGetInfo_v2(nv::ComputeInstance c, nv::ComputeInstanceInfo* info) {
  FAKE_LOCK;
  const FakeGi* ci = AsCi(c);
  View v = Load(ci->gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  const SimInstance* in = FindGi(*v.gpu, ci->gi);
  if (in == nullptr || in->compute_instance_id < 0) return nv::kErrorInvalidArgument;
  const int slices = ProfileOf(*v.gpu, *in).compute_slices;
  const auto profile = static_cast<unsigned>(std::find(kCiSlices, kCiSlices + 7, slices) - kCiSlices);
  *info = {DeviceHandle(ci->gpu),
           GiHandle(ci->gpu, ci->gi),
           static_cast<unsigned>(in->compute_instance_id),
           profile,
           {0, static_cast<unsigned>(slices)}};
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlComputeInstanceDestroy(nv::ComputeInstance c) {
  FAKE_LOCK;
  if (!g_sim) return nv::kErrorUninitialized;
  const FakeGi* ci = AsCi(c);
  return CodeOf(g_sim->DestroyComputeInstance(ci->gpu, ci->gi, 0));
}

FAKE_NVML nv::Return nvmlGpuInstanceDestroy(nv::GpuInstance g) {
  FAKE_LOCK;
  if (!g_sim) return nv::kErrorUninitialized;
  return CodeOf(g_sim->DestroyGpuInstance(AsGi(g)->gpu, AsGi(g)->gi));
}

FAKE_NVML nv::Return nvmlDeviceGetMaxMigDeviceCount(nv::Device d, unsigned* count) {
  FAKE_LOCK;
  View v = Load(AsDevice(d)->gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  *count = v.gpu->mig.current ? static_cast<unsigned>(v.gpu->model->compute_slices) : 0;
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlDeviceGetMigDeviceHandleByIndex(nv::Device d, unsigned index, nv::Device* out) {
  FAKE_LOCK;
  const int gpu = AsDevice(d)->gpu;
  View v = Load(gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  unsigned n = 0;
  for (const SimInstance& in : v.gpu->instances) {
    if (in.compute_instance_id < 0) continue;
    if (n++ != index) continue;
    if (index >= kMaxIds) return nv::kErrorNotFound;
    g_mig_devices[gpu][index] = {gpu, in.gpu_instance_id, in.compute_instance_id};
    *out = reinterpret_cast<nv::Device>(&g_mig_devices[gpu][index]);
    return nv::kSuccess;
  }
  return nv::kErrorNotFound;
}

FAKE_NVML nv::Return nvmlDeviceGetGpuInstanceId(nv::Device d, unsigned* id) {
  FAKE_LOCK;
  if (AsDevice(d)->gi < 0) return nv::kErrorNotSupported;
  *id = static_cast<unsigned>(AsDevice(d)->gi);
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlDeviceGetComputeInstanceId(nv::Device d, unsigned* id) {
  FAKE_LOCK;
  if (AsDevice(d)->ci < 0) return nv::kErrorNotSupported;
  *id = static_cast<unsigned>(AsDevice(d)->ci);
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlDeviceGetComputeRunningProcesses_v3(nv::Device d, unsigned* count, void* infos) {
  FAKE_LOCK;
  View v = Load(AsDevice(d)->gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  const std::vector<SimProcess>& ps = v.gpu->processes;
  if (*count < ps.size() || (infos == nullptr && !ps.empty())) {
    *count = static_cast<unsigned>(ps.size());
    return nv::kErrorInsufficientSize;
  }
  *count = static_cast<unsigned>(ps.size());
  auto* out = static_cast<nv::ProcessInfo*>(infos);
  for (std::size_t i = 0; i < ps.size(); ++i) {
    const auto id = [](int x) { return x < 0 ? nv::kInvalidInstanceId : static_cast<unsigned>(x); };
    out[i] = {ps[i].pid, static_cast<unsigned long long>(ps[i].memory_used.value()) * 1024ULL * 1024ULL,
              id(ps[i].gpu_instance_id), id(ps[i].compute_instance_id)};
  }
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlGpmQueryDeviceSupport(nv::Device d, nv::GpmSupport* support) {
  FAKE_LOCK;
  if (support == nullptr) return nv::kErrorInvalidArgument;
  if (support->version != nv::kGpmSupportVersion) return nv::kErrorArgumentVersionMismatch;
  View v = Load(AsDevice(d)->gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  support->is_supported_device = sim::MeasuresMigActivity(*v.gpu->model) ? 1 : 0;
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlGpmSampleAlloc(nv::GpmSample* out) {
  FAKE_LOCK;
  if (out == nullptr) return nv::kErrorInvalidArgument;
  *out = reinterpret_cast<nv::GpmSample>(new FakeGpmSample());
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlGpmSampleFree(nv::GpmSample sample) {
  FAKE_LOCK;
  if (sample == nullptr) return nv::kErrorInvalidArgument;
  delete reinterpret_cast<FakeGpmSample*>(sample);
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlGpmMigSampleGet(nv::Device d, unsigned gpu_instance_id, nv::GpmSample sample) {
  FAKE_LOCK;
  if (sample == nullptr) return nv::kErrorInvalidArgument;
  const int gpu = AsDevice(d)->gpu;
  View v = Load(gpu, false);
  if (v.rc != nv::kSuccess) return v.rc;
  if (!sim::MeasuresMigActivity(*v.gpu->model) || !v.gpu->mig.current) return nv::kErrorNotSupported;
  if (gpu_instance_id >= kMaxIds || FindGi(*v.gpu, static_cast<int>(gpu_instance_id)) == nullptr)
    return nv::kErrorNotFound;
  const int gi = static_cast<int>(gpu_instance_id);
  *reinterpret_cast<FakeGpmSample*>(sample) = {gpu, gi, sim::InstanceActivity(*v.gpu, gi)};
  return nv::kSuccess;
}

FAKE_NVML nv::Return nvmlGpmMetricsGet(nv::GpmMetricsGet* get) {
  FAKE_LOCK;
  if (get == nullptr) return nv::kErrorInvalidArgument;
  if (get->version != nv::kGpmMetricsGetVersion) return nv::kErrorArgumentVersionMismatch;
  const auto* s1 = reinterpret_cast<const FakeGpmSample*>(get->sample1);
  const auto* s2 = reinterpret_cast<const FakeGpmSample*>(get->sample2);
  if (s1 == nullptr || s2 == nullptr || s1->gpu < 0 || s2->gpu < 0 || s1->gpu != s2->gpu || s1->gi != s2->gi)
    return nv::kErrorInvalidArgument;
  if (get->num_metrics == 0 || get->num_metrics > nv::kGpmMetricMax) return nv::kErrorInvalidArgument;
  const char* env = std::getenv("GPUSLICE_FAKE_NVML_GPM_REPLY");
  const std::string misreply = env != nullptr ? env : "";
  if (misreply == "call-error") return nv::kErrorUnknown;
  for (unsigned i = 0; i < get->num_metrics; ++i) {
    nv::GpmMetric& m = get->metrics[i];
    m.metric_info = {};
    if (m.metric_id == nv::kGpmMetricSmUtil) {
      m.nvml_return = misreply == "metric-error" ? nv::kErrorNotSupported : nv::kSuccess;
      m.value = misreply.empty() || misreply == "metric-error" ? s2->activity
                                                               : std::strtod(misreply.c_str(), nullptr);
    } else {
      m.nvml_return = nv::kErrorNotSupported;
      m.value = 0.0;
    }
  }
  return nv::kSuccess;
}
