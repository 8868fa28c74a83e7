#include "agent/reconciler.h"

#include <fstream>
#include <functional>
#include <sstream>

#include "agent/reconciler_testing.h"

namespace gpuslice::agent {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::ReconcilerTestBase;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Forwards to a SimBackend, counts Usage calls and can make Usage fail for one GI id; `edit_gpus`
// may change what ListGpus answers (a state the sim cannot reach).
class UsageProbeBackend final : public gpu::GpuBackend {
 public:
  explicit UsageProbeBackend(gpu::SimBackend& b) : b_(b) {}
  std::string_view kind() const override { return b_.kind(); }
  bool read_only() const override { return b_.read_only(); }
  gpu::GpuResult<std::vector<gpu::GpuInfo>> ListGpus() override {
    auto gpus = b_.ListGpus();
    if (gpus && edit_gpus) edit_gpus(*gpus);
    return gpus;
  }
  gpu::GpuResult<gpu::GpuGeometry> Geometry(int g) override { return b_.Geometry(g); }
  gpu::GpuResult<std::vector<gpu::Instance>> Instances(int g) override { return b_.Instances(g); }
  gpu::GpuResult<gpu::Instance> CreateInstance(int g, const gpu::InstanceRequest& r) override {
    return b_.CreateInstance(g, r);
  }
  gpu::GpuResult<void> DestroyInstance(int g, int gi) override { return b_.DestroyInstance(g, gi); }
  gpu::GpuResult<gpu::InstanceUsage> Usage(int g, int gi) override {
    ++usage_calls;
    if (fail_gi == gi) return gpu::GpuFail(fail_kind, "GPU {} instance {}: injected usage failure", g, gi);
    if (bad_reply)
      return gpu::InstanceUsage{.memory_used = MiB(50), .memory_total = MiB(10), .activity_percent = 300};
    return b_.Usage(g, gi);
  }
  gpu::GpuResult<std::vector<gpu::GpuProcess>> Processes(int g) override { return b_.Processes(g); }
  gpu::GpuResult<gpu::GpuHealth> Health(int g) override { return b_.Health(g); }
  gpu::GpuResult<gpu::MigMode> SetMigMode(int g, bool on) override { return b_.SetMigMode(g, on); }
  gpu::GpuResult<void> ResetGpu(int g) override { return b_.ResetGpu(g); }

  std::function<void(std::vector<gpu::GpuInfo>&)> edit_gpus;
  int usage_calls = 0;
  int fail_gi = -1;
  gpu::GpuErrorKind fail_kind = gpu::GpuErrorKind::kDriver;
  bool bad_reply = false;

 private:
  gpu::SimBackend& b_;
};

const api::ActualInstance* FindKey(const api::ActualNodeState& a, std::string_view key) {
  for (const api::ActualInstance& in : a.instances) {
    if (in.key == key) return &in;
  }
  return nullptr;
}

class ReconcilerTest : public ReconcilerTestBase {
 protected:
  api::DesiredWorkload Workload(std::string job, std::string key, std::string script) {
    return {.job_id = std::move(job),
            .instance_keys = {std::move(key)},
            .argv = {"/bin/sh", "-c", std::move(script)},
            .grace_period_ms = 200};
  }
  api::DesiredWorkload WholeGpuWorkload(std::string job, std::vector<int> gpus, std::string script) {
    return {.job_id = std::move(job),
            .gpu_indices = std::move(gpus),
            .argv = {"/bin/sh", "-c", std::move(script)},
            .grace_period_ms = 200};
  }
  // Simulated hardware whose MIG-capable GPUs start with MIG off, then Open() on it.
  void OpenWithMigOff(const std::string& gpus) {
    auto b = gpu::SimBackend::Open({.gpus = gpus, .state_file = dir_ + "/sim.json", .mig_enabled = false});
    ASSERT_TRUE(b) << b.error().error.message;
    b->reset();
    Open(gpus);
  }
  std::string GpuUuid(int gpu) {
    auto gpus = backend_->ListGpus();
    EXPECT_TRUE(gpus) << gpus.error().error.message;
    return gpus ? gpus->at(static_cast<std::size_t>(gpu)).uuid : "";
  }
};

TEST_F(ReconcilerTest, CreatesMissingInstancesAtTheirExactPlacement) {
  Open();
  desired_.instances = {{0, "3g.40gb", 4, "k-a"}, {0, "1g.10gb", 0, "k-b"}, {1, "7g.80gb", 0, "k-c"}};
  ReconcileReport r = Pass();
  EXPECT_EQ(r.created, 3);
  EXPECT_TRUE(r.converged) << ::testing::PrintToString(r.blocked);
  EXPECT_EQ(r.actual.generation_applied, 1u);
  std::vector<gpu::Instance> g0 = Instances(0);
  ASSERT_EQ(g0.size(), 2u);
  EXPECT_EQ(g0[0].profile, "1g.10gb");
  EXPECT_EQ(g0[0].placement.start, 0);
  EXPECT_EQ(g0[1].profile, "3g.40gb");
  EXPECT_EQ(g0[1].placement.start, 4);
  ASSERT_EQ(Instances(1).size(), 1u);
  ASSERT_EQ(r.actual.instances.size(), 3u);
  for (const api::ActualInstance& in : r.actual.instances) {
    EXPECT_FALSE(in.key.empty());
    EXPECT_THAT(in.mig_uuid, HasSubstr("MIG-"));
  }
  // Level-triggered: a second pass finds nothing to do.
  ReconcileReport again = Pass();
  EXPECT_EQ(again.created, 0);
  EXPECT_TRUE(again.converged);
  EXPECT_EQ(again.actual.instances, r.actual.instances);
}

TEST_F(ReconcilerTest, DestroysUnneededIdleInstances) {
  Open();
  ASSERT_TRUE(backend_->CreateInstance(0, {ProfileId(0, "1g.10gb"), 6}));
  ASSERT_TRUE(backend_->CreateInstance(0, {ProfileId(0, "1g.10gb"), 0}));
  desired_.instances = {{0, "1g.10gb", 0, "k-keep"}};
  ReconcileReport r = Pass();
  EXPECT_EQ(r.destroyed, 1);
  EXPECT_TRUE(r.converged);
  std::vector<gpu::Instance> g0 = Instances(0);
  ASSERT_EQ(g0.size(), 1u);
  EXPECT_EQ(g0[0].placement.start, 0);
}

TEST_F(ReconcilerTest, NeverDestroysAnInstanceWithProcesses) {
  Open();
  auto made = backend_->CreateInstance(0, {ProfileId(0, "2g.20gb"), 2});
  ASSERT_TRUE(made);
  ASSERT_TRUE(backend_->AttachProcess(
      0, {.pid = 4242, .gpu_instance_id = made->gpu_instance_id, .memory_used = MiB(100)}));
  ReconcileReport r = Pass();
  EXPECT_EQ(r.destroyed, 0);
  EXPECT_FALSE(r.converged);
  ASSERT_EQ(r.blocked.size(), 1u);
  EXPECT_THAT(r.blocked[0], HasSubstr("processes run on it"));
  ASSERT_EQ(r.actual.instances.size(), 1u);
  EXPECT_TRUE(r.actual.instances[0].busy);
  EXPECT_EQ(r.actual.generation_applied, 0u);
  ASSERT_EQ(Instances(0).size(), 1u);
  // Once the process is gone the instance goes too.
  ASSERT_TRUE(backend_->DetachProcess(0, 4242));
  ReconcileReport later = Pass();
  EXPECT_EQ(later.destroyed, 1);
  EXPECT_TRUE(later.converged);
  EXPECT_TRUE(Instances(0).empty());
}

TEST_F(ReconcilerTest, StartsWorkloadsWithTheirMigUuids) {
  Open();
  const std::string out = dir_ + "/cvd.txt";
  desired_.instances = {{0, "3g.40gb", 0, "k-a"}, {1, "1g.10gb", 3, "k-b"}};
  desired_.workloads = {
      Workload("rec-start-a", "k-a", "echo $CUDA_VISIBLE_DEVICES > " + out + "; exec sleep 30")};
  desired_.workloads[0].instance_keys.push_back("k-b");
  ReconcileReport r = Pass();
  EXPECT_EQ(r.created, 2);
  EXPECT_EQ(r.started, 1);
  EXPECT_TRUE(r.converged) << ::testing::PrintToString(r.blocked);
  const std::string want = Instances(0)[0].mig_uuid + "," + Instances(1)[0].mig_uuid + "\n";
  ASSERT_TRUE(WaitFor([&] { return Slurp(out) == want; })) << Slurp(out) << " vs " << want;
  std::optional<WorkloadStatus> s = sup_->Get("rec-start-a");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, api::WorkloadState::kRunning);
  // Already running: the next pass leaves it alone, and its instances are not destroyed.
  ReconcileReport again = Pass();
  EXPECT_EQ(again.started, 0);
  EXPECT_TRUE(again.converged);
  EXPECT_EQ(sup_->Get("rec-start-a")->pid, s->pid);
}

TEST_F(ReconcilerTest, StopsWorkloadsNoLongerDesiredThenForgetsThem) {
  Open();
  desired_.instances = {{0, "1g.10gb", 1, "k-a"}};
  desired_.workloads = {Workload("rec-stop-a", "k-a", "exec sleep 30")};
  ASSERT_EQ(Pass().started, 1);
  desired_.workloads.clear();
  desired_.generation = 2;
  ReconcileReport r = Pass();
  EXPECT_EQ(r.stopped, 1);
  EXPECT_FALSE(r.converged);
  ASSERT_TRUE(WaitFor([&] { return sup_->Get("rec-stop-a")->state == api::WorkloadState::kStopped; }));
  ReconcileReport later = Pass();
  EXPECT_EQ(later.removed, 1);
  EXPECT_TRUE(later.converged);
  EXPECT_EQ(later.actual.generation_applied, 2u);
  EXPECT_TRUE(sup_->List().empty());
  EXPECT_EQ(Instances(0).size(), 1u);  // the instance is still desired
}

TEST_F(ReconcilerTest, AWorkloadDesiredAgainAfterItsStopStartsAfresh) {
  Open();
  desired_.instances = {{0, "1g.10gb", 1, "k-a"}};
  desired_.workloads = {Workload("rec-again-a", "k-a", "exec sleep 30")};
  const api::DesiredNodeState with = desired_;
  ASSERT_EQ(Pass().started, 1);
  const int first = *sup_->Get("rec-again-a")->pid;
  desired_.workloads.clear();
  ASSERT_EQ(Pass().stopped, 1);
  ASSERT_TRUE(WaitFor([&] { return sup_->Get("rec-again-a")->state == api::WorkloadState::kStopped; }));
  desired_ = with;
  ReconcileReport r = Pass();
  EXPECT_EQ(r.started, 1);
  EXPECT_TRUE(r.converged);
  ASSERT_TRUE(sup_->Get("rec-again-a")->pid);
  EXPECT_NE(*sup_->Get("rec-again-a")->pid, first);
}

TEST_F(ReconcilerTest, KeepsAnUndesiredInstanceWhileItsWorkloadRuns) {
  Open();
  desired_.instances = {{0, "1g.10gb", 2, "k-a"}};
  desired_.workloads = {Workload("rec-keep-a", "k-a", "trap '' TERM; exec sleep 30")};
  desired_.workloads[0].grace_period_ms = 60'000;
  ASSERT_EQ(Pass().started, 1);
  desired_ = {.node = "n1", .generation = 2};
  ReconcileReport r = Pass();
  EXPECT_EQ(r.stopped, 1);
  EXPECT_EQ(r.destroyed, 0);
  EXPECT_THAT(::testing::PrintToString(r.blocked), HasSubstr("rec-keep-a still uses it"));
  EXPECT_EQ(Instances(0).size(), 1u);
}

TEST_F(ReconcilerTest, FailedCreateIsReportedAndRetriedWithBackoff) {
  Open("A100-SXM4-80GB:1", {.backoff_initial = 1s, .backoff_max = 60s});
  ASSERT_TRUE(backend_->InjectFaults({.fail_creates = 2}));
  desired_.instances = {{0, "4g.40gb", 0, "k-a"}};
  ReconcileReport r = Pass();
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.created, 0);
  EXPECT_FALSE(r.converged);
  EXPECT_THAT(::testing::PrintToString(log_), HasSubstr("retry in 1000 ms"));
  EXPECT_EQ(Pass().deferred, 1);  // not due yet
  clock_.Advance(1s);
  r = Pass();
  EXPECT_EQ(r.failed, 1);  // second failure: now 2 s
  EXPECT_THAT(::testing::PrintToString(log_), HasSubstr("retry in 2000 ms"));
  clock_.Advance(1s);
  r = Pass();
  EXPECT_EQ(r.deferred, 1);
  EXPECT_EQ(r.created, 0);
  clock_.Advance(1s);
  r = Pass();
  EXPECT_EQ(r.created, 1);
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(Instances(0).size(), 1u);
}

TEST_F(ReconcilerTest, LostGpuIsUnhealthyAndItsWorkloadsFailed) {
  Open();
  desired_.instances = {{0, "1g.10gb", 0, "k-a"}, {1, "1g.10gb", 0, "k-b"}};
  desired_.workloads = {Workload("rec-lost-a", "k-a", "exec sleep 30"),
                        Workload("rec-lost-b", "k-b", "exec sleep 30")};
  ASSERT_EQ(Pass().started, 2);
  ASSERT_TRUE(backend_->InjectFaults({.lose_gpus = {1}}));
  ReconcileReport r = Pass();
  EXPECT_FALSE(r.converged);
  ASSERT_EQ(r.actual.gpus.size(), 2u);
  EXPECT_EQ(r.actual.gpus[0].health, api::GpuHealth::kOk);
  EXPECT_EQ(r.actual.gpus[1].health, api::GpuHealth::kLost);
  EXPECT_FALSE(r.actual.gpus[1].message.empty());
  ASSERT_EQ(r.actual.workloads.size(), 2u);
  EXPECT_EQ(r.actual.workloads[0].state, api::WorkloadState::kRunning);
  EXPECT_EQ(r.actual.workloads[1].state, api::WorkloadState::kFailed);
  EXPECT_THAT(r.actual.workloads[1].message, HasSubstr("GPU 1 lost"));
  EXPECT_EQ(r.created + r.destroyed + r.started, 0);
}

TEST_F(ReconcilerTest, LeavesGpusWithoutMigAlone) {
  auto b = gpu::SimBackend::Open(
      {.gpus = "A100-SXM4-80GB:1", .state_file = dir_ + "/sim.json", .mig_enabled = false});
  ASSERT_TRUE(b);
  b->reset();
  Open("A100-SXM4-80GB:1");
  desired_.instances = {{0, "1g.10gb", 0, "k-a"}};
  ReconcileReport r = Pass();
  EXPECT_EQ(r.created, 0);
  EXPECT_FALSE(r.converged);
  EXPECT_THAT(::testing::PrintToString(r.blocked), HasSubstr("not in MIG mode"));
  auto gpus = backend_->ListGpus();
  ASSERT_TRUE(gpus);
  EXPECT_FALSE((*gpus)[0].mig.current);
}

// ---- whole-GPU workloads ----

TEST_F(ReconcilerTest, StartsWholeGpuWorkloadsWithTheirGpuUuids) {
  // GPU 0: an A100 an admin put in whole mode (MIG off); GPU 1: an L4, which has no MIG.
  OpenWithMigOff("A100-SXM4-80GB:1,L4:1");
  const std::string out = dir_ + "/cvd.txt";
  desired_.workloads = {
      WholeGpuWorkload("rec-whole-a", {1, 0}, "echo $CUDA_VISIBLE_DEVICES > " + out + "; exec sleep 30")};
  ReconcileReport r = Pass();
  EXPECT_EQ(r.started, 1);
  EXPECT_EQ(r.created + r.destroyed, 0);
  EXPECT_TRUE(r.converged) << ::testing::PrintToString(r.blocked);
  EXPECT_EQ(r.actual.generation_applied, 1u);
  const std::string want = GpuUuid(1) + "," + GpuUuid(0) + "\n";
  ASSERT_THAT(want, ::testing::StartsWith("GPU-"));
  ASSERT_TRUE(WaitFor([&] { return Slurp(out) == want; })) << Slurp(out) << " vs " << want;
  std::optional<WorkloadStatus> s = sup_->Get("rec-whole-a");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, api::WorkloadState::kRunning);
  EXPECT_THAT(s->device_uuids, ::testing::ElementsAre(GpuUuid(1), GpuUuid(0)));
  // Level-triggered: the next pass leaves it alone; MIG mode and instances are untouched.
  ReconcileReport again = Pass();
  EXPECT_EQ(again.started, 0);
  EXPECT_TRUE(again.converged) << ::testing::PrintToString(again.blocked);
  EXPECT_EQ(sup_->Get("rec-whole-a")->pid, s->pid);
  ASSERT_EQ(again.actual.workloads.size(), 1u);
  EXPECT_EQ(again.actual.workloads[0].state, api::WorkloadState::kRunning);
  EXPECT_TRUE(again.actual.instances.empty());
  EXPECT_FALSE(backend_->ListGpus()->at(0).mig.current);
}

TEST_F(ReconcilerTest, WholeGpuWorkloadWaitsWhileItsGpuHasMigEnabled) {
  Open("A100-SXM4-80GB:2");  // MIG on
  desired_.workloads = {WholeGpuWorkload("rec-whole-mig", {1}, "exec sleep 30")};
  ReconcileReport r = Pass();
  EXPECT_EQ(r.started, 0);
  EXPECT_FALSE(r.converged);
  EXPECT_THAT(r.blocked,
              ::testing::ElementsAre(
                  "workload rec-whole-mig: GPU 1 has MIG enabled; a whole-GPU job needs it disabled"));
  EXPECT_EQ(r.actual.generation_applied, 0u);
  EXPECT_TRUE(sup_->List().empty());
  EXPECT_TRUE(backend_->ListGpus()->at(1).mig.current);  // never changed by the agent
  // Once an admin turns MIG off (the sim's Ampere GPU is idle: at once), the workload starts.
  ASSERT_TRUE(backend_->SetMigMode(1, false));
  ReconcileReport later = Pass();
  EXPECT_EQ(later.started, 1);
  EXPECT_TRUE(later.converged) << ::testing::PrintToString(later.blocked);
  EXPECT_THAT(sup_->Get("rec-whole-mig")->device_uuids, ::testing::ElementsAre(GpuUuid(1)));
}

TEST_F(ReconcilerTest, WholeGpuBlockedMessageSaysWhenMigOffIsPendingAReset) {
  Open("A100-SXM4-80GB:1");
  UsageProbeBackend probe(*backend_);
  probe.edit_gpus = [](std::vector<gpu::GpuInfo>& gpus) { gpus.at(0).mig.pending = false; };
  rec_ = std::make_unique<Reconciler>(probe, *sup_, clock_, ReconcilerOptions{});
  desired_.workloads = {WholeGpuWorkload("rec-whole-pending", {0}, "exec sleep 30")};
  ReconcileReport r = Pass();
  EXPECT_EQ(r.started, 0);
  EXPECT_THAT(r.blocked,
              ::testing::ElementsAre("workload rec-whole-pending: GPU 0 has MIG enabled; a whole-GPU "
                                     "job needs it disabled (MIG off is pending a GPU reset)"));
  // The other way round, MIG on pending while it is still off, the GPU is usable whole now.
  probe.edit_gpus = [](std::vector<gpu::GpuInfo>& gpus) {
    gpus.at(0).mig = {.current = false, .pending = true};
  };
  EXPECT_EQ(Pass().started, 1);
}

TEST_F(ReconcilerTest, StopsAWholeGpuWorkloadNoLongerDesired) {
  Open("L4:2");
  desired_.workloads = {WholeGpuWorkload("rec-whole-stop", {0, 1}, "exec sleep 30")};
  ASSERT_EQ(Pass().started, 1);
  desired_.workloads.clear();
  desired_.generation = 2;
  ReconcileReport r = Pass();
  EXPECT_EQ(r.stopped, 1);
  EXPECT_FALSE(r.converged);
  ASSERT_TRUE(WaitFor([&] { return sup_->Get("rec-whole-stop")->state == api::WorkloadState::kStopped; }));
  ReconcileReport later = Pass();
  EXPECT_EQ(later.removed, 1);
  EXPECT_TRUE(later.converged) << ::testing::PrintToString(later.blocked);
  EXPECT_EQ(later.actual.generation_applied, 2u);
  EXPECT_TRUE(sup_->List().empty());
  EXPECT_TRUE(later.actual.workloads.empty());
}

TEST_F(ReconcilerTest, LostWholeGpuFailsItsWorkloadAndBlocksNewOnes) {
  Open("L4:3");
  desired_.workloads = {WholeGpuWorkload("rec-whole-lost-a", {0}, "exec sleep 30"),
                        WholeGpuWorkload("rec-whole-lost-b", {1}, "exec sleep 30")};
  ASSERT_EQ(Pass().started, 2);
  ASSERT_TRUE(backend_->InjectFaults({.lose_gpus = {1, 2}}));
  desired_.workloads.push_back(WholeGpuWorkload("rec-whole-lost-c", {2}, "exec sleep 30"));
  desired_.workloads.push_back(WholeGpuWorkload("rec-whole-lost-d", {7}, "exec sleep 30"));
  ReconcileReport r = Pass();
  EXPECT_FALSE(r.converged);
  EXPECT_EQ(r.started, 0);
  EXPECT_EQ(r.actual.gpus.at(1).health, api::GpuHealth::kLost);
  EXPECT_THAT(r.blocked, ::testing::Contains("workload rec-whole-lost-c: waiting for GPU 2 (lost)"));
  EXPECT_THAT(r.blocked, ::testing::Contains("workload rec-whole-lost-d: GPU 7 does not exist on this node"));
  ASSERT_EQ(r.actual.workloads.size(), 3u);  // a, b, and c (failed before it ever started)
  EXPECT_EQ(r.actual.workloads[0].state, api::WorkloadState::kRunning);
  EXPECT_EQ(r.actual.workloads[1].state, api::WorkloadState::kFailed);
  EXPECT_THAT(r.actual.workloads[1].message, HasSubstr("GPU 1 lost"));
  EXPECT_EQ(r.actual.workloads[2].job_id, "rec-whole-lost-c");
  EXPECT_EQ(r.actual.workloads[2].state, api::WorkloadState::kFailed);
}

TEST_F(ReconcilerTest, AWholeGpuWorkloadDoesNotKeepInstancesAlive) {
  // A running whole-GPU workload names a GPU UUID, not an instance: an undesired idle instance
  // on a MIG GPU is still destroyed.
  Open("L4:1,A100-SXM4-80GB:1");
  desired_.workloads = {WholeGpuWorkload("rec-whole-inst", {0}, "exec sleep 30")};
  ASSERT_EQ(Pass().started, 1);
  ASSERT_TRUE(backend_->CreateInstance(1, {ProfileId(1, "1g.10gb"), 0}));
  ReconcileReport r = Pass();
  EXPECT_EQ(r.destroyed, 1);
  EXPECT_TRUE(r.converged) << ::testing::PrintToString(r.blocked);
  EXPECT_TRUE(Instances(1).empty());
  EXPECT_EQ(sup_->Get("rec-whole-inst")->state, api::WorkloadState::kRunning);
}

// GPU 0 is an H100, where NVML measures an instance's activity (GPM); GPU 1 an A100, where it
// cannot, which the report says.
TEST_F(ReconcilerTest, ReportsTheUsageOfEveryInstance) {
  Open("H100-80GB:1,A100-SXM4-80GB:1");
  desired_.instances = {{0, "3g.40gb", 4, "k-a"}, {0, "1g.10gb", 0, "k-b"}, {1, "7g.80gb", 0, "k-c"}};
  ASSERT_EQ(Pass().created, 3);
  const int gi = Instances(0)[1].gpu_instance_id;  // the 3g.40gb, by start
  ASSERT_TRUE(backend_->AttachProcess(
      0, {.pid = 4242, .gpu_instance_id = gi, .memory_used = MiB(2048), .activity_percent = 55}));
  ASSERT_TRUE(backend_->AttachProcess(
      0, {.pid = 4243, .gpu_instance_id = gi, .memory_used = MiB(1024), .activity_percent = 10}));
  ReconcileReport r = Pass();
  EXPECT_TRUE(r.converged) << ::testing::PrintToString(r.blocked);
  const api::ActualInstance* a = FindKey(r.actual, "k-a");
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->busy);
  EXPECT_EQ(a->processes, 2);
  EXPECT_EQ(a->memory_used_mib, 3072);
  EXPECT_EQ(a->memory_total_mib, 40448);  // 3g.40gb on an H100-80GB: 39.50 GiB
  EXPECT_EQ(a->activity_percent, 65);
  EXPECT_EQ(a->usage_message, "");
  const api::ActualInstance* b = FindKey(r.actual, "k-b");
  ASSERT_NE(b, nullptr);
  EXPECT_FALSE(b->busy);
  EXPECT_EQ(b->processes, 0);
  EXPECT_EQ(b->memory_used_mib, 0);
  EXPECT_EQ(b->memory_total_mib, 9984);  // 1g.10gb on an H100-80GB: 9.75 GiB
  EXPECT_EQ(b->activity_percent, 0);
  const api::ActualInstance* c = FindKey(r.actual, "k-c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->memory_total_mib, 80640);  // 7g.80gb on an A100-80GB: 78.75 GiB
  EXPECT_FALSE(c->activity_percent);
  EXPECT_EQ(c->usage_message, gpu::kNoMigActivityNote);
  // The report survives the wire with its usage.
  auto back = api::ParseActualNodeState(api::ToJson(r.actual).dump());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, r.actual);
}

// The agent re-sends its report when the text changes: usage is sampled again only when due, so a
// converged node's report stays the same text between samples and passes cost no Usage calls.
TEST_F(ReconcilerTest, UsageIsSampledAgainWhenDueOrWhenTheProcessesChange) {
  Open("A100-SXM4-80GB:1");
  UsageProbeBackend probe(*backend_);
  rec_ = std::make_unique<Reconciler>(probe, *sup_, clock_, ReconcilerOptions{.usage_period = 10s});
  desired_.instances = {{0, "2g.20gb", 0, "k-a"}, {0, "1g.10gb", 6, "k-b"}};
  ASSERT_EQ(Pass().created, 2);
  const int gi = Instances(0)[0].gpu_instance_id;
  ASSERT_TRUE(backend_->AttachProcess(0, {.pid = 100, .gpu_instance_id = gi, .memory_used = MiB(1000)}));
  probe.usage_calls = 0;
  ReconcileReport first = Pass();
  EXPECT_EQ(FindKey(first.actual, "k-a")->memory_used_mib, 1000);
  EXPECT_EQ(probe.usage_calls, 1);  // the busy one: its process count changed; the idle one is cached
  // The process is replaced by one using more memory: same count, not due yet.
  ASSERT_TRUE(backend_->DetachProcess(0, 100));
  ASSERT_TRUE(backend_->AttachProcess(0, {.pid = 101, .gpu_instance_id = gi, .memory_used = MiB(3000)}));
  clock_.Advance(9s);
  ReconcileReport cached = Pass();
  EXPECT_EQ(probe.usage_calls, 1);
  EXPECT_EQ(api::ToJson(cached.actual).dump(), api::ToJson(first.actual).dump());
  clock_.Advance(1s);
  ReconcileReport due = Pass();
  EXPECT_EQ(probe.usage_calls, 3);  // both instances, 10 s after their samples
  EXPECT_EQ(FindKey(due.actual, "k-a")->memory_used_mib, 3000);
  // A second process is news: sampled at once.
  ASSERT_TRUE(backend_->AttachProcess(0, {.pid = 102, .gpu_instance_id = gi, .memory_used = MiB(500)}));
  ReconcileReport more = Pass();
  EXPECT_EQ(probe.usage_calls, 4);
  EXPECT_EQ(FindKey(more.actual, "k-a")->processes, 2);
  EXPECT_EQ(FindKey(more.actual, "k-a")->memory_used_mib, 3500);
}

TEST_F(ReconcilerTest, ARecreatedInstanceGetsAFreshSample) {
  Open("A100-SXM4-80GB:1");
  UsageProbeBackend probe(*backend_);
  rec_ = std::make_unique<Reconciler>(probe, *sup_, clock_, ReconcilerOptions{.usage_period = 10s});
  desired_.instances = {{0, "1g.10gb", 0, "k-a"}};
  ASSERT_EQ(Pass().created, 1);
  const std::string before = FindKey(Pass().actual, "k-a")->mig_uuid;
  // Somebody destroys it; the next pass makes it again (same GI id, new UUID) and samples it.
  ASSERT_TRUE(backend_->DestroyInstance(0, Instances(0)[0].gpu_instance_id));
  probe.usage_calls = 0;
  ReconcileReport r = Pass();
  EXPECT_EQ(r.created, 1);
  EXPECT_EQ(probe.usage_calls, 1);
  EXPECT_NE(FindKey(r.actual, "k-a")->mig_uuid, before);
  EXPECT_EQ(FindKey(r.actual, "k-a")->memory_total_mib, 9728);
}

TEST_F(ReconcilerTest, UsagePeriodZeroSamplesEveryPass) {
  Open("A100-SXM4-80GB:1");
  UsageProbeBackend probe(*backend_);
  rec_ = std::make_unique<Reconciler>(probe, *sup_, clock_, ReconcilerOptions{.usage_period = 0s});
  desired_.instances = {{0, "1g.10gb", 0, "k-a"}, {0, "1g.10gb", 1, "k-b"}};
  Pass();
  probe.usage_calls = 0;
  Pass();
  Pass();
  EXPECT_EQ(probe.usage_calls, 4);
}

TEST_F(ReconcilerTest, AUsageErrorLeavesOnlyThatInstanceWithoutUsage) {
  Open("H100-80GB:1");  // activity is measured there, so a good instance's message is empty
  UsageProbeBackend probe(*backend_);
  rec_ = std::make_unique<Reconciler>(probe, *sup_, clock_, ReconcilerOptions{});
  desired_.instances = {{0, "1g.10gb", 0, "k-a"}, {0, "1g.10gb", 1, "k-b"}};
  ASSERT_EQ(Pass().created, 2);
  rec_ = std::make_unique<Reconciler>(probe, *sup_, clock_, ReconcilerOptions{});  // nothing cached
  probe.fail_gi = Instances(0)[1].gpu_instance_id;
  ReconcileReport r = Pass();
  EXPECT_TRUE(r.converged) << ::testing::PrintToString(r.blocked);
  EXPECT_EQ(r.actual.gpus.at(0).health, api::GpuHealth::kOk);
  const api::ActualInstance* bad = FindKey(r.actual, "k-b");
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->processes, 0);
  EXPECT_FALSE(bad->memory_used_mib);
  EXPECT_FALSE(bad->memory_total_mib);
  EXPECT_FALSE(bad->activity_percent);
  EXPECT_THAT(bad->usage_message, HasSubstr("usage not read: "));
  EXPECT_THAT(bad->usage_message, HasSubstr("injected usage failure"));
  const api::ActualInstance* good = FindKey(r.actual, "k-a");
  ASSERT_NE(good, nullptr);
  EXPECT_EQ(good->memory_total_mib, 9984);  // 1g.10gb on an H100-80GB: 9.75 GiB
  EXPECT_EQ(good->usage_message, "");
}

TEST_F(ReconcilerTest, ImplausibleUsageIsLeftOutAndSaidWhy) {
  Open("A100-SXM4-80GB:1");
  UsageProbeBackend probe(*backend_);
  rec_ = std::make_unique<Reconciler>(probe, *sup_, clock_, ReconcilerOptions{});
  desired_.instances = {{0, "1g.10gb", 0, "k-a"}};
  probe.bad_reply = true;      // 50 of 10 MiB used, 300% busy
  ReconcileReport r = Pass();  // Pass() checks that the report is valid
  const api::ActualInstance* a = FindKey(r.actual, "k-a");
  ASSERT_NE(a, nullptr);
  EXPECT_FALSE(a->memory_used_mib);
  EXPECT_FALSE(a->activity_percent);
  EXPECT_THAT(a->usage_message, HasSubstr("memory not reported: implausible reply (50 of 10 MiB used)"));
  EXPECT_THAT(a->usage_message, HasSubstr("activity not reported: implausible reply (300%)"));
}

TEST_F(ReconcilerTest, AUsageCallFindingTheGpuLostMarksItLost) {
  Open("A100-SXM4-80GB:2");
  UsageProbeBackend probe(*backend_);
  rec_ = std::make_unique<Reconciler>(probe, *sup_, clock_, ReconcilerOptions{});
  desired_.instances = {{0, "1g.10gb", 0, "k-a"}, {1, "1g.10gb", 0, "k-b"}};
  ASSERT_EQ(Pass().created, 2);
  rec_ = std::make_unique<Reconciler>(probe, *sup_, clock_, ReconcilerOptions{});
  probe.fail_gi = Instances(1)[0].gpu_instance_id;  // the same GI id on both GPUs: both fail
  probe.fail_kind = gpu::GpuErrorKind::kGpuLost;
  ReconcileReport r = Pass();
  ASSERT_EQ(r.actual.gpus.size(), 2u);
  EXPECT_EQ(r.actual.gpus[0].health, api::GpuHealth::kLost);
  EXPECT_EQ(r.actual.gpus[1].health, api::GpuHealth::kLost);
  EXPECT_TRUE(r.actual.instances.empty());
}

TEST_F(ReconcilerTest, ReadOnlyChangesNothing) {
  Open("A100-SXM4-80GB:1", {.read_only = true});
  ASSERT_TRUE(backend_->CreateInstance(0, {ProfileId(0, "1g.10gb"), 6}));
  desired_.instances = {{0, "1g.10gb", 0, "k-a"}};
  desired_.workloads = {Workload("rec-ro-a", "k-a", "exec sleep 30")};
  ReconcileReport r = Pass();
  EXPECT_EQ(r.created + r.destroyed + r.started, 0);
  EXPECT_FALSE(r.converged);
  EXPECT_EQ(Instances(0).size(), 1u);
  EXPECT_TRUE(sup_->List().empty());
}

}  // namespace
}  // namespace gpuslice::agent
