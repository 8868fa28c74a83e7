// The GpuBackend contract: the same behaviour tests against every implementation (STYLE.md §10).
//
// Each harness puts three simulated GPUs (A100-SXM4-80GB, H100-80GB, L4) in a state file and
// opens the backend under test over them:
//  * SimBackend over the state file;
//  * NvmlBackend over the fake libnvidia-ml.so.1 (src/gpu/testing/fake_nvml.cc) backed by the
//    same file — the NVML code path end to end.
// The test drives the "hardware" (attach a process, lose a GPU, arm a fault) through a second
// SimBackend on the same file, as a real GPU would change under the backend.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <type_traits>

#include "common/clock.h"
#include "common/temp_dir_testing.h"
#include "gpu/gpu_backend.h"
#include "gpu/nvml_backend.h"
#include "gpu/sim_backend.h"
#include "mig/catalog.h"

namespace gpuslice::gpu {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kSpec = "A100-SXM4-80GB:1,H100-80GB:1,L4:1";
constexpr int kA100 = 0, kH100 = 1, kL4 = 2;
// A100-80GB / H100-80GB device profile ids (reference mig-facts.md §2.3).
constexpr int k1g = 19, k2g = 14, k3g = 9, k7g = 0;

// Open(state, read_only, clock): the backend under test; `clock` paces NvmlBackend's GPM samples.
class SimHarness {
 public:
  GpuResult<std::unique_ptr<GpuBackend>> Open(const std::string& state, bool read_only, const Clock&) {
    SimOptions o;
    o.state_file = state;
    o.read_only = read_only;
    GpuResult<std::unique_ptr<SimBackend>> b = SimBackend::Open(o);
    if (!b) return GpuFail(b.error());
    return std::unique_ptr<GpuBackend>(std::move(*b));
  }
};

class NvmlHarness {
 public:
  GpuResult<std::unique_ptr<GpuBackend>> Open(const std::string& state, bool read_only, const Clock& clock) {
    ::setenv("GPUSLICE_FAKE_NVML_STATE", state.c_str(), 1);
    GpuResult<std::unique_ptr<NvmlBackend>> b =
        NvmlBackend::Open({.library_path = GPUSLICE_FAKE_NVML_PATH, .read_only = read_only, .clock = &clock});
    if (!b) return GpuFail(b.error());
    return std::unique_ptr<GpuBackend>(std::move(*b));
  }
};

template <typename Harness>
class BackendContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = dir_.File("state.json");
    SimOptions o{.gpus = kSpec, .state_file = state_, .seed = 7};
    GpuResult<std::unique_ptr<SimBackend>> hw = SimBackend::Open(o);
    ASSERT_TRUE(hw) << hw.error().error.message;
    hardware_ = std::move(*hw);
    GpuResult<std::unique_ptr<GpuBackend>> b = harness_.Open(state_, /*read_only=*/false, clock_);
    ASSERT_TRUE(b) << b.error().error.message;
    backend_ = std::move(*b);
  }

  GpuBackend& backend() { return *backend_; }
  SimBackend& hardware() { return *hardware_; }
  Instance Create(int gpu, int profile_id, int start) {
    GpuResult<Instance> in = backend().CreateInstance(gpu, {profile_id, start});
    EXPECT_TRUE(in) << in.error().error.message;
    return in ? *in : Instance{};
  }

  static constexpr bool kNvml = std::is_same_v<Harness, NvmlHarness>;

  TempDir dir_{"gpuslice-gpu"};
  std::string state_;
  FakeClock clock_;  // outlives the backends
  Harness harness_;
  std::unique_ptr<SimBackend> hardware_;
  std::unique_ptr<GpuBackend> backend_;
};

using Harnesses = ::testing::Types<SimHarness, NvmlHarness>;
class HarnessNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, SimHarness> ? "Sim" : "NvmlOverFake";
  }
};
TYPED_TEST_SUITE(BackendContractTest, Harnesses, HarnessNames);

TYPED_TEST(BackendContractTest, EnumeratesGpus) {
  GpuResult<std::vector<GpuInfo>> gpus = this->backend().ListGpus();
  ASSERT_TRUE(gpus) << gpus.error().error.message;
  ASSERT_EQ(gpus->size(), 3u);
  const SimState hw = *this->hardware().Snapshot();
  EXPECT_EQ((*gpus)[kA100].name, "NVIDIA A100-SXM4-80GB");
  EXPECT_EQ((*gpus)[kA100].pci_device_id, 0x20B210DEu);
  EXPECT_EQ((*gpus)[kH100].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ((*gpus)[kL4].name, "NVIDIA L4");
  for (int i = 0; i < 3; ++i) {
    const GpuInfo& g = (*gpus)[static_cast<std::size_t>(i)];
    EXPECT_EQ(g.index, i);
    EXPECT_EQ(g.uuid, hw.gpus[static_cast<std::size_t>(i)].uuid);
    EXPECT_THAT(g.uuid, StartsWith("GPU-"));
    EXPECT_EQ(g.pci_bus_id, hw.gpus[static_cast<std::size_t>(i)].pci_bus_id);
    EXPECT_GT(g.memory_total, MiB(0));
    EXPECT_EQ(g.health.state, HealthState::kHealthy) << g.health.detail;
  }
  EXPECT_TRUE((*gpus)[kA100].mig_capable);
  EXPECT_EQ((*gpus)[kA100].mig, (MigMode{true, true}));
  EXPECT_FALSE((*gpus)[kL4].mig_capable);
}

TYPED_TEST(BackendContractTest, ProfilesMatchCatalog) {
  for (const int gpu : {kA100, kH100}) {
    GpuResult<GpuGeometry> geo = this->backend().Geometry(gpu);
    ASSERT_TRUE(geo) << geo.error().error.message;
    const mig::GpuModel& m =
        *mig::Catalog::BuiltIn().Resolve(gpu == kA100 ? "A100-80GB" : "H100-80GB")->model;
    EXPECT_EQ(geo->memory_units, m.memory_units);
    ASSERT_EQ(geo->profiles.size(), m.profiles.size());
    for (const mig::Profile& cp : m.profiles) {
      const GpuProfile* p = geo->FindProfile(*cp.device_profile_id);
      ASSERT_NE(p, nullptr) << cp.name;
      EXPECT_EQ(p->name, cp.name);
      EXPECT_EQ(p->compute_slices, cp.compute_slices);
      EXPECT_EQ(p->max_count, cp.max_count) << cp.name;
      EXPECT_EQ(p->memory, *cp.memory) << cp.name;
      EXPECT_EQ(p->sm_count, *cp.sm_count) << cp.name;
      ASSERT_EQ(p->placements.size(), cp.starts.size()) << cp.name;
      for (std::size_t i = 0; i < cp.starts.size(); ++i) {
        EXPECT_EQ(p->placements[i], (UnitRange{cp.starts[i], cp.size_units})) << cp.name;
      }
    }
  }
  GpuResult<GpuGeometry> none = this->backend().Geometry(kL4);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind, GpuErrorKind::kNotSupported);
  EXPECT_EQ(this->backend().Geometry(9).error().kind, GpuErrorKind::kNotFound);
}

TYPED_TEST(BackendContractTest, CreatesAtExplicitPlacement) {
  const Instance big = this->Create(kA100, k3g, 4);
  EXPECT_EQ(big.gpu_instance_id, 1);  // as the driver numbers a 4-unit GI (mig-facts.md §2.5)
  EXPECT_EQ(big.compute_instance_id, 0);
  EXPECT_EQ(big.profile, "3g.40gb");
  EXPECT_EQ(big.placement, (UnitRange{4, 4}));
  EXPECT_THAT(big.mig_uuid, StartsWith("MIG-"));
  const Instance small = this->Create(kA100, k1g, 0);
  EXPECT_EQ(small.gpu_instance_id, 7);
  GpuResult<std::vector<Instance>> all = this->backend().Instances(kA100);
  ASSERT_TRUE(all) << all.error().error.message;
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].gpu_instance_id, 7);  // ordered by start
  EXPECT_EQ((*all)[1].mig_uuid, big.mig_uuid);
  EXPECT_EQ(this->backend().Instances(kH100)->size(), 0u);
}

TYPED_TEST(BackendContractTest, OverlappingCreateIsInsufficientResources) {
  this->Create(kA100, k3g, 4);
  for (const auto& [profile, start] : {std::pair{k2g, 4}, std::pair{k7g, 0}, std::pair{k3g, 4}}) {
    GpuResult<Instance> in = this->backend().CreateInstance(kA100, {profile, start});
    ASSERT_FALSE(in) << profile << "@" << start;
    EXPECT_EQ(in.error().kind, GpuErrorKind::kInsufficientResources) << in.error().error.message;
  }
  GpuResult<Instance> bad_start = this->backend().CreateInstance(kA100, {k3g, 2});
  ASSERT_FALSE(bad_start);
  EXPECT_EQ(bad_start.error().kind, GpuErrorKind::kInvalidArgument);
  EXPECT_EQ(this->backend().Instances(kA100)->size(), 1u);
}

TYPED_TEST(BackendContractTest, DestroysComputeThenGpuInstance) {
  const Instance in = this->Create(kH100, k2g, 2);
  ASSERT_TRUE(this->backend().DestroyInstance(kH100, in.gpu_instance_id));
  EXPECT_EQ(this->backend().Instances(kH100)->size(), 0u);
  GpuResult<void> again = this->backend().DestroyInstance(kH100, in.gpu_instance_id);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, GpuErrorKind::kNotFound);
}

TYPED_TEST(BackendContractTest, DestroyWithProcessIsInUse) {
  const Instance in = this->Create(kA100, k2g, 0);
  ASSERT_TRUE(this->hardware().AttachProcess(kA100, {.pid = 4242,
                                                     .gpu_instance_id = in.gpu_instance_id,
                                                     .memory_used = MiB(1000),
                                                     .activity_percent = 40}));
  GpuResult<std::vector<GpuProcess>> procs = this->backend().InstanceProcesses(kA100, in.gpu_instance_id);
  ASSERT_TRUE(procs) << procs.error().error.message;
  ASSERT_EQ(procs->size(), 1u);
  EXPECT_EQ((*procs)[0].pid, 4242u);
  EXPECT_EQ((*procs)[0].memory_used, MiB(1000));
  EXPECT_EQ((*procs)[0].compute_instance_id, in.compute_instance_id);
  GpuResult<InstanceUsage> usage = this->backend().Usage(kA100, in.gpu_instance_id);
  ASSERT_TRUE(usage) << usage.error().error.message;
  EXPECT_EQ(usage->memory_used, MiB(1000));
  EXPECT_EQ(usage->memory_total, MiB(19968));  // 2g.20gb: 19.50 GiB

  GpuResult<void> busy = this->backend().DestroyInstance(kA100, in.gpu_instance_id);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().kind, GpuErrorKind::kInUse) << busy.error().error.message;
  EXPECT_EQ(this->backend().Instances(kA100)->size(), 1u);
  ASSERT_TRUE(this->hardware().DetachProcess(kA100, 4242));
  EXPECT_TRUE(this->backend().DestroyInstance(kA100, in.gpu_instance_id));
}

// NvmlBackend answers an instance with a MIG device from its memory info and everything else from
// the instance list and geometry: both paths must agree with the sim.
TYPED_TEST(BackendContractTest, UsageOfInstancesWithAndWithoutComputeInstance) {
  const Instance in = this->Create(kA100, k1g, 0);
  GpuResult<InstanceUsage> usage = this->backend().Usage(kA100, in.gpu_instance_id);
  ASSERT_TRUE(usage) << usage.error().error.message;
  EXPECT_EQ(usage->memory_used, MiB(0));
  EXPECT_EQ(usage->memory_total, MiB(9728));  // 1g.10gb: 9.50 GiB
  GpuResult<int> bare = this->hardware().CreateGpuInstance(kA100, k1g, 1);
  ASSERT_TRUE(bare) << bare.error().error.message;
  usage = this->backend().Usage(kA100, *bare);
  ASSERT_TRUE(usage) << usage.error().error.message;
  EXPECT_EQ(usage->memory_used, MiB(0));
  EXPECT_EQ(usage->memory_total, MiB(9728));
  GpuResult<InstanceUsage> unknown = this->backend().Usage(kA100, 999);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, GpuErrorKind::kNotFound) << unknown.error().error.message;
  GpuResult<InstanceUsage> no_mig = this->backend().Usage(kL4, 0);
  ASSERT_FALSE(no_mig);
  EXPECT_EQ(no_mig.error().kind, GpuErrorKind::kNotSupported) << no_mig.error().error.message;
  ASSERT_TRUE(this->hardware().InjectFaults({.lose_gpus = {kA100}}));
  GpuResult<InstanceUsage> lost = this->backend().Usage(kA100, in.gpu_instance_id);
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().kind, GpuErrorKind::kGpuLost) << lost.error().error.message;
}

// NVML attributes activity to a MIG instance only through GPM (Hopper and later), measured
// between two samples >= 100 ms apart: NvmlBackend's first Usage of an instance only takes a
// sample, the sim answers at once. On the A100 neither reports an activity, and both say why.
TYPED_TEST(BackendContractTest, ActivityOnlyWhereGpmMeasuresIt) {
  const Instance h = this->Create(kH100, k3g, 4);
  const int hgi = h.gpu_instance_id;
  ASSERT_TRUE(this->hardware().AttachProcess(
      kH100, {.pid = 100, .gpu_instance_id = hgi, .memory_used = MiB(500), .activity_percent = 30}));
  ASSERT_TRUE(this->hardware().AttachProcess(
      kH100, {.pid = 101, .gpu_instance_id = hgi, .memory_used = MiB(500), .activity_percent = 25}));
  GpuResult<InstanceUsage> u = this->backend().Usage(kH100, hgi);
  ASSERT_TRUE(u) << u.error().error.message;
  if constexpr (TestFixture::kNvml) {
    EXPECT_FALSE(u->activity_percent);
    EXPECT_THAT(u->activity_note, HasSubstr("measured from the next sample on"));
    EXPECT_EQ(u->activity_retry_after, 100ms);
    this->clock_.Advance(60ms);  // too soon for a second GPM sample: the same answer
    u = this->backend().Usage(kH100, hgi);
    ASSERT_TRUE(u) << u.error().error.message;
    EXPECT_FALSE(u->activity_percent);
    EXPECT_EQ(u->activity_retry_after, 40ms);
    this->clock_.Advance(u->activity_retry_after);
    u = this->backend().Usage(kH100, hgi);
    ASSERT_TRUE(u) << u.error().error.message;
  }
  EXPECT_EQ(u->activity_percent, 55);
  EXPECT_EQ(u->activity_note, "");
  EXPECT_EQ(u->activity_retry_after, 0ms);
  EXPECT_EQ(u->memory_used, MiB(1000));

  ASSERT_TRUE(this->hardware().DetachProcess(kH100, 101));
  if constexpr (TestFixture::kNvml) {
    EXPECT_EQ(this->backend().Usage(kH100, hgi)->activity_percent, 55);  // < 100 ms: the last one
    this->clock_.Advance(100ms);
  }
  EXPECT_EQ(this->backend().Usage(kH100, hgi)->activity_percent, 30);

  // A read-only backend measures too: GPM only reads.
  GpuResult<std::unique_ptr<GpuBackend>> ro =
      this->harness_.Open(this->state_, /*read_only=*/true, this->clock_);
  ASSERT_TRUE(ro) << ro.error().error.message;
  (void)(*ro)->Usage(kH100, hgi);
  this->clock_.Advance(100ms);
  EXPECT_EQ((*ro)->Usage(kH100, hgi)->activity_percent, 30);

  const Instance a = this->Create(kA100, k3g, 4);
  ASSERT_TRUE(this->hardware().AttachProcess(
      kA100,
      {.pid = 200, .gpu_instance_id = a.gpu_instance_id, .memory_used = MiB(100), .activity_percent = 40}));
  for (int i = 0; i < 2; ++i) {
    u = this->backend().Usage(kA100, a.gpu_instance_id);
    ASSERT_TRUE(u) << u.error().error.message;
    EXPECT_FALSE(u->activity_percent);
    EXPECT_EQ(u->activity_note, kNoMigActivityNote);
    EXPECT_EQ(u->activity_retry_after, 0ms);
    EXPECT_EQ(u->memory_used, MiB(100));
    this->clock_.Advance(1s);
  }
}

// GI ids are reused: a measurement never spans two instances that had the same id.
TYPED_TEST(BackendContractTest, ARecreatedInstanceStartsAFreshActivityMeasurement) {
  const Instance first = this->Create(kH100, k1g, 0);
  ASSERT_TRUE(this->hardware().AttachProcess(
      kH100, {.pid = 100, .gpu_instance_id = first.gpu_instance_id, .activity_percent = 70}));
  (void)this->backend().Usage(kH100, first.gpu_instance_id);
  this->clock_.Advance(100ms);
  EXPECT_EQ(this->backend().Usage(kH100, first.gpu_instance_id)->activity_percent, 70);
  ASSERT_TRUE(this->hardware().DetachProcess(kH100, 100));
  ASSERT_TRUE(this->backend().DestroyInstance(kH100, first.gpu_instance_id));
  const Instance second = this->Create(kH100, k1g, 0);
  ASSERT_EQ(second.gpu_instance_id, first.gpu_instance_id);
  this->clock_.Advance(100ms);
  GpuResult<InstanceUsage> u = this->backend().Usage(kH100, second.gpu_instance_id);
  ASSERT_TRUE(u) << u.error().error.message;
  if constexpr (TestFixture::kNvml) {
    EXPECT_FALSE(u->activity_percent);
    EXPECT_THAT(u->activity_note, HasSubstr("next sample"));
    this->clock_.Advance(100ms);
    u = this->backend().Usage(kH100, second.gpu_instance_id);
  }
  EXPECT_EQ(u->activity_percent, 0);
}

TYPED_TEST(BackendContractTest, MigUuidChangesWhenRecreated) {
  const Instance first = this->Create(kH100, k3g, 0);
  ASSERT_TRUE(this->backend().DestroyInstance(kH100, first.gpu_instance_id));
  const Instance second = this->Create(kH100, k3g, 0);
  EXPECT_EQ(second.gpu_instance_id, first.gpu_instance_id);  // ids are reused
  EXPECT_THAT(second.mig_uuid, StartsWith("MIG-"));
  EXPECT_NE(second.mig_uuid, first.mig_uuid);
}

TYPED_TEST(BackendContractTest, ReadOnlyRefusesChanges) {
  const Instance in = this->Create(kA100, k3g, 0);
  GpuResult<std::unique_ptr<GpuBackend>> ro =
      this->harness_.Open(this->state_, /*read_only=*/true, this->clock_);
  ASSERT_TRUE(ro) << ro.error().error.message;
  EXPECT_TRUE((*ro)->read_only());
  EXPECT_EQ((*ro)->CreateInstance(kA100, {k3g, 4}).error().kind, GpuErrorKind::kReadOnly);
  EXPECT_EQ((*ro)->DestroyInstance(kA100, in.gpu_instance_id).error().kind, GpuErrorKind::kReadOnly);
  EXPECT_EQ((*ro)->SetMigMode(kH100, false).error().kind, GpuErrorKind::kReadOnly);
  EXPECT_EQ((*ro)->ResetGpu(kH100).error().kind, GpuErrorKind::kReadOnly);
  GpuResult<std::vector<Instance>> seen = (*ro)->Instances(kA100);
  ASSERT_TRUE(seen);
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0].mig_uuid, in.mig_uuid);
}

TYPED_TEST(BackendContractTest, LostGpu) {
  ASSERT_TRUE(this->hardware().InjectFaults({.lose_gpus = {kH100}}));
  GpuResult<std::vector<GpuInfo>> gpus = this->backend().ListGpus();
  ASSERT_TRUE(gpus) << gpus.error().error.message;
  ASSERT_EQ(gpus->size(), 3u);
  EXPECT_EQ((*gpus)[kH100].health.state, HealthState::kLost);
  EXPECT_EQ((*gpus)[kA100].health.state, HealthState::kHealthy);
  EXPECT_EQ(this->backend().Health(kH100)->state, HealthState::kLost);
  GpuResult<Instance> in = this->backend().CreateInstance(kH100, {k1g, 0});
  ASSERT_FALSE(in);
  EXPECT_EQ(in.error().kind, GpuErrorKind::kGpuLost) << in.error().error.message;
  EXPECT_EQ(this->backend().Geometry(kH100).error().kind, GpuErrorKind::kGpuLost);
  this->Create(kA100, k1g, 0);  // the other GPUs carry on
}

TYPED_TEST(BackendContractTest, InjectedFaultsReachTheCaller) {
  ASSERT_TRUE(this->hardware().InjectFaults({.fail_creates = 1, .busy_destroys = 1}));
  GpuResult<Instance> failed = this->backend().CreateInstance(kA100, {k1g, 0});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, GpuErrorKind::kInsufficientResources);
  const Instance in = this->Create(kA100, k1g, 0);
  GpuResult<void> busy = this->backend().DestroyInstance(kA100, in.gpu_instance_id);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().kind, GpuErrorKind::kInUse);
  EXPECT_TRUE(this->backend().DestroyInstance(kA100, in.gpu_instance_id));
}

TYPED_TEST(BackendContractTest, MigModeOnHopperIsImmediate) {
  GpuResult<MigMode> off = this->backend().SetMigMode(kH100, false);
  ASSERT_TRUE(off) << off.error().error.message;
  EXPECT_EQ(*off, (MigMode{false, false}));
  EXPECT_EQ(this->backend().Instances(kH100).error().kind, GpuErrorKind::kNotSupported);
  EXPECT_EQ(*this->backend().SetMigMode(kH100, true), (MigMode{true, true}));
  EXPECT_EQ(this->backend().SetMigMode(kL4, true).error().kind, GpuErrorKind::kNotSupported);
  this->Create(kA100, k1g, 0);
  GpuResult<MigMode> busy = this->backend().SetMigMode(kA100, false);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().kind, GpuErrorKind::kInUse);
}

}  // namespace
}  // namespace gpuslice::gpu
