// Scheduler: placement with quota, warm reuse, repartition of idle space, gangs and reasons.
// Policies are in scheduler_policy_test.cc, the stateful property in scheduler_property_test.cc.
#include "sched/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "mig/catalog.h"
#include "sched/scheduler_testing.h"

namespace gpuslice::sched {
namespace {

using ::testing::HasSubstr;

TEST(SchedulerTest, CutsASliceAtTheBestStartAndChargesItsCost) {
  Scheduler s(Teams({{"nlp", 1000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const JobId id = s.Submit(SliceJob(s, "nlp", "1g.5gb")).value();
  EXPECT_EQ(Describe(s, s.Schedule(0)), (std::vector<std::string>{"create 1g.5gb@6", "bind job 1"}));
  const Job* job = s.FindJob(id);
  EXPECT_EQ(job->state, JobState::kRunning);
  ASSERT_EQ(job->bindings.size(), 1u);
  EXPECT_EQ(job->bindings[0].cost, MilliGpu(143));
  EXPECT_EQ(UsageOf(s, "nlp", "A100-40GB"), 143);
  EXPECT_EQ(s.usage().busy_slices, 1);
  EXPECT_EQ(s.usage().total_slices, 7);
}

TEST(SchedulerTest, FinishedSliceStaysWarmAndIsReusedWithoutRepartition) {
  Scheduler s(Teams({{"nlp", 1000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const JobId a = s.Submit(SliceJob(s, "nlp", "2g.10gb")).value();
  s.Schedule(0);
  ASSERT_TRUE(s.Finish(a, 1000));
  EXPECT_EQ(UsageOf(s, "nlp", "A100-40GB"), 0);
  EXPECT_EQ(s.usage().idle_slices, 2);
  s.Submit(SliceJob(s, "nlp", "2g.10gb"));
  EXPECT_EQ(Describe(s, s.Schedule(2000)), (std::vector<std::string>{"bind job 2"}));
  EXPECT_EQ(s.usage().instances_created, 1);
}

TEST(SchedulerTest, IdleSlicesAreMergedForABigJobButBusyOnesAreNeverTouched) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const JobId a = s.Submit(SliceJob(s, "nlp", "1g.5gb")).value();
  const JobId b = s.Submit(SliceJob(s, "nlp", "1g.5gb")).value();
  s.Schedule(0);
  ASSERT_TRUE(s.Finish(a, 10));
  // One idle and one busy 1g: a 7g cannot be cut.
  const JobId big = s.Submit(SliceJob(s, "nlp", "7g.40gb")).value();
  EXPECT_TRUE(s.Schedule(20).empty());
  EXPECT_EQ(s.FindJob(big)->pending.kind, PendingKind::kNoLegalSlot);
  EXPECT_THAT(s.FindJob(big)->pending.message,
              HasSubstr("no A100-40GB GPU has a legal free slot for 7g.40gb"));
  // Once the busy one finishes, both idle slices go and the 7g is cut.
  ASSERT_TRUE(s.Finish(b, 30));
  EXPECT_EQ(Describe(s, s.Schedule(40)), (std::vector<std::string>{"destroy 1g.5gb@6", "destroy 1g.5gb@4",
                                                                   "create 7g.40gb@0", "bind job 3"}));
  EXPECT_EQ(s.FindJob(big)->state, JobState::kRunning);
}

TEST(SchedulerTest, QuotaReasonCarriesTheNumbersAndCohortLends) {
  // Without preemption nlp cannot take back what vision borrowed.
  Scheduler s(Teams({{"nlp", 143}, {"vision", 0}}, {"A100-40GB"}, /*borrowing_limit=*/150),
              SchedulerOptions{.preemption = false});
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  Job borrower = SliceJob(s, "vision", "1g.5gb");  // borrows nlp's idle quota: must be preemptible
  borrower.preemptible = true;
  const JobId a = s.Submit(borrower).value();
  const JobId b = s.Submit(SliceJob(s, "nlp", "1g.5gb")).value();
  s.Schedule(0);
  EXPECT_EQ(s.FindJob(a)->state, JobState::kRunning);
  EXPECT_EQ(s.FindJob(b)->state, JobState::kPending);
  EXPECT_EQ(s.FindJob(b)->pending.kind, PendingKind::kQuota);
  EXPECT_THAT(s.FindJob(b)->pending.message, HasSubstr("over quota: team nlp needs 143 mGPU of A100-40GB"));
}

TEST(SchedulerTest, HigherPriorityGoesFirst) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const JobId low = s.Submit(SliceJob(s, "nlp", "7g.40gb", 0, 0)).value();
  const JobId high = s.Submit(SliceJob(s, "nlp", "7g.40gb", 5, 10)).value();
  s.Schedule(20);
  EXPECT_EQ(s.FindJob(high)->state, JobState::kRunning);
  EXPECT_EQ(s.FindJob(low)->state, JobState::kPending);
}

TEST(SchedulerTest, UnschedulableSaysWhy) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const JobId a = s.Submit(SliceJob(s, "nlp", "3g.71gb")).value();  // an H200 profile
  Job by_size = SliceJob(s, "nlp", "");
  by_size.request.size.memory = MiB(64 * 1024);
  const JobId b = s.Submit(by_size).value();
  Job elsewhere = SliceJob(s, "nlp", "1g.10gb");
  elsewhere.request.gpu_model = "H100-80GB";
  const JobId c = s.Submit(elsewhere).value();
  s.Schedule(0);
  EXPECT_EQ(s.FindJob(a)->pending.kind, PendingKind::kUnschedulable);
  EXPECT_THAT(s.FindJob(a)->pending.message, HasSubstr("'3g.71gb'"));
  EXPECT_THAT(s.FindJob(b)->pending.message, HasSubstr("has at least 64.00 GiB"));
  EXPECT_THAT(s.FindJob(c)->pending.message, HasSubstr("no H100-80GB GPU in the cluster"));
}

TEST(SchedulerTest, SizeRequestResolvesPerModel) {
  Scheduler s(Teams({{"nlp", 7000}}, {"H100-80GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("H100-80GB"), 1, GpuMode::kDynamic));
  Job j = SliceJob(s, "nlp", "");
  j.request.size.memory = MiB(15 * 1024);
  s.Submit(j);
  EXPECT_EQ(Describe(s, s.Schedule(0)), (std::vector<std::string>{"create 1g.20gb@6", "bind job 1"}));
}

TEST(SchedulerTest, SameNodeGangOfWholeGpus) {
  Scheduler s(Teams({{"nlp", 8000}}, {"H100-80GB"}));
  ASSERT_TRUE(s.AddNode("a", Model("H100-80GB"), 2, GpuMode::kWhole));
  ASSERT_TRUE(s.AddNode("b", Model("H100-80GB"), 4, GpuMode::kWhole));
  Job gang = SliceJob(s, "nlp", "whole");
  gang.count = 3;
  gang.same_node = true;
  const JobId g = s.Submit(gang).value();
  gang.count = 5;
  const JobId too_big = s.Submit(gang).value();
  s.Schedule(0);
  const Job* placed = s.FindJob(g);
  ASSERT_EQ(placed->state, JobState::kRunning);
  ASSERT_EQ(placed->bindings.size(), 3u);
  for (const Binding& b : placed->bindings) EXPECT_EQ(s.node(s.gpu(b.gpu).node).name, "b");
  EXPECT_EQ(s.FindJob(too_big)->pending.kind, PendingKind::kNoLegalSlot);
  EXPECT_EQ(UsageOf(s, "nlp", "H100-80GB"), 3000);
}

TEST(SchedulerTest, GangThatDoesNotFitLeavesNothingBehind) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  Job gang = SliceJob(s, "nlp", "4g.20gb");
  gang.count = 2;  // one GPU holds one 4g
  const JobId id = s.Submit(gang).value();
  EXPECT_TRUE(s.Schedule(0).empty());
  EXPECT_EQ(s.FindJob(id)->state, JobState::kPending);
  EXPECT_TRUE(s.gpu(0).instances.empty());
  EXPECT_EQ(s.gpu(0).occupancy, mig::Occupancy{});
  EXPECT_EQ(UsageOf(s, "nlp", "A100-40GB"), 0);
}

TEST(SchedulerTest, WarmIdleInstancesExpire) {
  Scheduler s(Teams({{"nlp", 1000}}, {"A100-40GB"}), SchedulerOptions{.warm_idle_ms = 60'000});
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const JobId a = s.Submit(SliceJob(s, "nlp", "1g.5gb")).value();
  s.Schedule(0);
  ASSERT_TRUE(s.Finish(a, 1000));
  EXPECT_TRUE(s.Schedule(30'000).empty());
  EXPECT_EQ(Describe(s, s.Schedule(61'000)), (std::vector<std::string>{"destroy 1g.5gb@6"}));
  EXPECT_EQ(s.usage().instances_destroyed, 1);
}

TEST(SchedulerTest, CancelPendingAndRunning) {
  Scheduler s(Teams({{"nlp", 1000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const JobId a = s.Submit(SliceJob(s, "nlp", "1g.5gb")).value();
  s.Schedule(0);
  const JobId b = s.Submit(SliceJob(s, "nlp", "7g.40gb")).value();
  ASSERT_TRUE(s.Cancel(b, 1));
  ASSERT_TRUE(s.Cancel(a, 2));
  EXPECT_EQ(s.FindJob(a)->state, JobState::kCancelled);
  EXPECT_EQ(s.num_pending(), 0u);
  EXPECT_EQ(UsageOf(s, "nlp", "A100-40GB"), 0);
  EXPECT_FALSE(s.Cancel(a, 3));
  EXPECT_FALSE(s.Finish(JobId(99), 3));
}

TEST(SchedulerTest, StaticLayoutOnlyBindsAndNeverChanges) {
  const mig::GpuModel& a100 = Model("A100-40GB");
  const mig::Geometry g = mig::Geometry::Build(a100).value();
  const mig::Layout balanced{{a100.ProfileIndex("2g.10gb"), 0},
                             {a100.ProfileIndex("1g.5gb"), 2},
                             {a100.ProfileIndex("1g.5gb"), 3},
                             {a100.ProfileIndex("3g.20gb"), 4}};
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}), SchedulerOptions{.warm_idle_ms = 0});
  ASSERT_TRUE(s.AddNode("n1", a100, 1, GpuMode::kStatic, {balanced}));
  EXPECT_FALSE(s.AddNode("n2", a100, 1, GpuMode::kStatic, {}));  // a layout per GPU is required
  const JobId small = s.Submit(SliceJob(s, "nlp", "1g.5gb")).value();
  const JobId big = s.Submit(SliceJob(s, "nlp", "4g.20gb")).value();
  EXPECT_EQ(Describe(s, s.Schedule(0)), (std::vector<std::string>{"bind job 1"}));
  EXPECT_EQ(s.FindJob(big)->pending.kind, PendingKind::kNoLegalSlot);
  ASSERT_TRUE(s.Finish(small, 10));
  EXPECT_TRUE(s.Schedule(1'000'000).empty());  // a static layout's idle instances do not expire
  EXPECT_EQ(s.gpu(0).instances.size(), 4u);
}

TEST(SchedulerTest, FirstFitTakesTheFirstGpuAndLowestStart) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}),
              SchedulerOptions{.warm_idle_ms = 0, .placement = SchedulerOptions::Placement::kFirstFit});
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 2, GpuMode::kDynamic));
  s.Submit(SliceJob(s, "nlp", "1g.5gb"));
  s.Submit(SliceJob(s, "nlp", "4g.20gb"));
  // 1g at GPU 0 start 0 kills GPU 0's only 4g slot, so the 4g goes to GPU 1.
  EXPECT_EQ(Describe(s, s.Schedule(0)),
            (std::vector<std::string>{"create 1g.5gb@0", "bind job 1", "create 4g.20gb@0", "bind job 2"}));
  EXPECT_EQ(s.FindJob(JobId(2))->bindings[0].gpu, 1u);
}

TEST(SchedulerTest, QuotaChangesAtRuntimeAreAllOrNothingAndTheNextPassSeesThem) {
  Scheduler s(Teams({{"nlp", 0}}, {"A100-40GB"}, /*borrowing_limit=*/0));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const JobId id = s.Submit(SliceJob(s, "nlp", "1g.5gb")).value();
  s.Schedule(0);
  EXPECT_EQ(s.FindJob(id)->pending.kind, PendingKind::kQuota);

  // A new team under the cohort, and nlp raised: the waiting job runs at the next pass.
  ASSERT_TRUE(s.UpsertQuotaNode({"vision", true, "research", 2, {{"A100-40GB", ClassQuota{MilliGpu(500)}}}}));
  EXPECT_EQ(s.quota().weight(s.quota().Find("vision").value()), 2);
  ASSERT_TRUE(s.UpsertQuotaNode({"nlp", true, "research", 1, {{"A100-40GB", ClassQuota{MilliGpu(1000)}}}}));
  s.Schedule(1);
  EXPECT_EQ(s.FindJob(id)->state, JobState::kRunning);

  // Refused changes change nothing, not even the steps before the failing one.
  const QuotaTree before = s.quota();
  EXPECT_EQ(s.UpsertQuotaNode({"nlp", false, "", 1, {}}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.UpsertQuotaNode({"ml", true, "nlp", 1, {}}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.UpsertQuotaNode({"ml", true, "nowhere", 1, {}}).error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(s.UpsertQuotaNode({"vision", true, "", 5, {{"A100-40GB", ClassQuota{MilliGpu(-1)}}}}));
  EXPECT_EQ(s.quota().weight(s.quota().Find("vision").value()), 2);
  EXPECT_EQ(s.quota().parent(s.quota().Find("vision").value()), s.quota().Find("research").value());
  EXPECT_FALSE(s.quota().Find("ml"));
  EXPECT_TRUE(s.UpsertQuotaNode({"ml", true, "", 1, {}}, /*dry_run=*/true));
  EXPECT_FALSE(s.quota().Find("ml"));
  EXPECT_EQ(s.quota().node_count(), before.node_count());
}

}  // namespace
}  // namespace gpuslice::sched
