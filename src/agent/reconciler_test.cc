#include "agent/reconciler.h"

#include <fstream>
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

class ReconcilerTest : public ReconcilerTestBase {
 protected:
  api::DesiredWorkload Workload(std::string job, std::string key, std::string script) {
    return {.job_id = std::move(job),
            .instance_keys = {std::move(key)},
            .argv = {"/bin/sh", "-c", std::move(script)},
            .grace_period_ms = 200};
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
