// Property: from any reachable actual state (instances made through the backend, some with
// processes on them) the reconciler reaches any valid desired layout in a bounded number of
// passes, and never even tries to destroy an instance with processes on it.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "agent/reconciler_testing.h"

namespace gpuslice::agent {
// One try to make an instance: indexes into the GPUs, profiles and placements, taken modulo.
struct Attempt {
  int gpu = 0, profile = 0, start = 0;
};
}  // namespace gpuslice::agent

namespace rc {
template <>
struct Arbitrary<gpuslice::agent::Attempt> {
  static Gen<gpuslice::agent::Attempt> arbitrary() {
    return gen::build<gpuslice::agent::Attempt>(
        gen::set(&gpuslice::agent::Attempt::gpu, gen::inRange(0, 64)),
        gen::set(&gpuslice::agent::Attempt::profile, gen::inRange(0, 64)),
        gen::set(&gpuslice::agent::Attempt::start, gen::inRange(0, 64)));
  }
};
}  // namespace rc

namespace gpuslice::agent {
namespace {

// Forwards to a SimBackend and checks, before every destroy, that the instance has no processes.
class GuardBackend final : public gpu::GpuBackend {
 public:
  explicit GuardBackend(gpu::SimBackend& b) : b_(b) {}
  std::string_view kind() const override { return b_.kind(); }
  bool read_only() const override { return b_.read_only(); }
  gpu::GpuResult<std::vector<gpu::GpuInfo>> ListGpus() override { return b_.ListGpus(); }
  gpu::GpuResult<gpu::GpuGeometry> Geometry(int g) override { return b_.Geometry(g); }
  gpu::GpuResult<std::vector<gpu::Instance>> Instances(int g) override { return b_.Instances(g); }
  gpu::GpuResult<gpu::Instance> CreateInstance(int g, const gpu::InstanceRequest& r) override {
    return b_.CreateInstance(g, r);
  }
  gpu::GpuResult<void> DestroyInstance(int g, int gi) override {
    auto procs = b_.InstanceProcesses(g, gi);
    if (!procs || !procs->empty()) ++busy_destroys;
    return b_.DestroyInstance(g, gi);
  }
  gpu::GpuResult<gpu::InstanceUsage> Usage(int g, int gi) override { return b_.Usage(g, gi); }
  gpu::GpuResult<std::vector<gpu::GpuProcess>> Processes(int g) override { return b_.Processes(g); }
  gpu::GpuResult<gpu::GpuHealth> Health(int g) override { return b_.Health(g); }
  gpu::GpuResult<gpu::MigMode> SetMigMode(int g, bool on) override { return b_.SetMigMode(g, on); }
  gpu::GpuResult<void> ResetGpu(int g) override { return b_.ResetGpu(g); }

  int busy_destroys = 0;

 private:
  gpu::SimBackend& b_;
};

constexpr int kGpus = 2;
constexpr char kSpec[] = "A100-SXM4-80GB:2";
constexpr int kMaxPasses = 3;

// Makes what the attempts allow on `b`, skipping those the driver refuses.
std::vector<std::pair<int, gpu::Instance>> Make(gpu::SimBackend& b, const std::vector<Attempt>& attempts) {
  std::vector<std::pair<int, gpu::Instance>> made;
  for (const Attempt& a : attempts) {
    const int g = a.gpu % kGpus;
    const gpu::GpuGeometry geo = *b.Geometry(g);
    const gpu::GpuProfile& p = geo.profiles[a.profile % geo.profiles.size()];
    const int start = p.placements[a.start % p.placements.size()].start;
    if (auto in = b.CreateInstance(g, {p.profile_id, start}); in) made.emplace_back(g, *in);
  }
  return made;
}

class ReconcilerProperty : public testing::ReconcilerTestBase {};

TEST_F(ReconcilerProperty, ConvergesWithoutDestroyingBusyInstances) {
  Open();
  const bool ok = rc::check([&](const std::vector<Attempt>& actual_attempts,
                                const std::vector<Attempt>& desired_attempts, std::vector<bool> busy) {
    // The desired layout: whatever a fresh GPU accepts is valid.
    auto scratch = gpu::SimBackend::Open({.gpus = kSpec});
    RC_ASSERT(scratch.has_value());
    api::DesiredNodeState desired{.node = "n1", .generation = 7};
    for (const auto& [g, in] : Make(**scratch, desired_attempts)) {
      desired.instances.push_back({g, in.profile, in.placement.start,
                                   "k-" + std::to_string(g) + "-" + std::to_string(in.placement.start)});
    }
    // The actual state: instances made through the backend, some busy.
    auto sim = gpu::SimBackend::Open({.gpus = kSpec});
    RC_ASSERT(sim.has_value());
    std::vector<std::pair<int, gpu::Instance>> busy_instances;
    std::uint32_t pid = 1000;
    for (const auto& [g, in] : Make(**sim, actual_attempts)) {
      if (busy.empty()) break;
      const bool b = busy.back();
      busy.pop_back();
      if (!b) continue;
      RC_ASSERT((*sim)->AttachProcess(
          g, {.pid = pid++, .gpu_instance_id = in.gpu_instance_id, .memory_used = MiB(1)}));
      busy_instances.emplace_back(g, in);
    }
    GuardBackend guard(**sim);
    Reconciler rec(guard, *sup_, clock_, {});
    ReconcileReport r;
    for (int i = 0; i < kMaxPasses && !r.converged; ++i) r = rec.Reconcile(desired);

    RC_ASSERT(guard.busy_destroys == 0);
    bool busy_undesired = false;
    for (const auto& [g, in] : busy_instances) {
      const auto now = *(*sim)->Instances(g);
      RC_ASSERT(std::any_of(now.begin(), now.end(), [&](const gpu::Instance& x) {
        return x.gpu_instance_id == in.gpu_instance_id && x.mig_uuid == in.mig_uuid;
      }));
      busy_undesired |= std::none_of(desired.instances.begin(), desired.instances.end(), [&](const auto& d) {
        return d.gpu_index == g && d.profile == in.profile && d.start == in.placement.start;
      });
    }
    RC_ASSERT(r.converged == !busy_undesired);
    // Every desired instance a busy instance does not stand in the way of exists; nothing idle
    // and undesired is left.
    for (int g = 0; g < kGpus; ++g) {
      const auto now = *(*sim)->Instances(g);
      for (const gpu::Instance& in : now) {
        const bool is_busy = !(*sim)->InstanceProcesses(g, in.gpu_instance_id)->empty();
        const bool desired_here =
            std::any_of(desired.instances.begin(), desired.instances.end(), [&](const auto& d) {
              return d.gpu_index == g && d.profile == in.profile && d.start == in.placement.start;
            });
        RC_ASSERT(is_busy || desired_here);
      }
    }
    // The oracle: on a fresh GPU, the busy instances first, then the desired ones in order (as
    // the reconciler creates them) - whatever that makes is what the node must hold now. A desired
    // instance is missing only where the busy instances leave no room (overlap, profile maximum).
    auto oracle = gpu::SimBackend::Open({.gpus = kSpec});
    RC_ASSERT(oracle.has_value());
    for (const auto& [g, in] : busy_instances) {
      RC_ASSERT((*oracle)->CreateInstance(g, {in.profile_id, in.placement.start}).has_value());
    }
    for (const api::DesiredInstance& d : desired.instances) {
      const gpu::GpuGeometry geo = *(*oracle)->Geometry(d.gpu_index);
      const auto p = std::find_if(geo.profiles.begin(), geo.profiles.end(),
                                  [&](const gpu::GpuProfile& x) { return x.name == d.profile; });
      RC_ASSERT(p != geo.profiles.end());
      (void)(*oracle)->CreateInstance(d.gpu_index, {p->profile_id, d.start});
    }
    for (int g = 0; g < kGpus; ++g) {
      std::vector<std::pair<std::string, int>> expect, got;
      const std::vector<gpu::Instance> want = *(*oracle)->Instances(g), have = *(*sim)->Instances(g);
      for (const gpu::Instance& in : want) expect.emplace_back(in.profile, in.placement.start);
      for (const gpu::Instance& in : have) got.emplace_back(in.profile, in.placement.start);
      RC_ASSERT(expect == got);
    }
    if (r.converged) RC_ASSERT(r.actual.generation_applied == 7u);
  });
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace gpuslice::agent
