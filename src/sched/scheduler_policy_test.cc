// Scheduler policies beyond plain placement: preemption (reclaim and priority, geometry-aware),
// DRF order, backfill reservations, the demand-driven warm pool, GPU modes and node loss, and
// the explanations a person gets for a waiting job.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sched/scheduler.h"
#include "sched/scheduler_testing.h"

namespace gpuslice::sched {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Job Preemptible(Job j) {
  j.preemptible = true;
  return j;
}

// Fills one A100-40GB with the given single-slice jobs (in order) and returns their ids.
std::vector<JobId> Fill(Scheduler& s, const std::vector<Job>& jobs, std::int64_t now = 0) {
  std::vector<JobId> ids;
  for (const Job& j : jobs) ids.push_back(s.Submit(j).value());
  s.Schedule(now);
  for (JobId id : ids) EXPECT_EQ(s.FindJob(id)->state, JobState::kRunning) << id.value();
  return ids;
}

// --- preemption ---------------------------------------------------------------------------------

TEST(PreemptionTest, LenderReclaimsBorrowedCapacity) {
  Scheduler s(Teams({{"nlp", 1000}, {"vision", 0}}, {"A100-40GB"}, /*borrowing_limit=*/1000));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const JobId borrowed = Fill(s, {Preemptible(SliceJob(s, "vision", "7g.40gb"))})[0];
  EXPECT_EQ(UsageOf(s, "vision", "A100-40GB"), 1000);

  const JobId lender = s.Submit(SliceJob(s, "nlp", "3g.20gb", 0, 10)).value();
  EXPECT_EQ(Describe(s, s.Schedule(20)),
            (std::vector<std::string>{"preempt job 1 for job 2", "destroy 7g.40gb@0", "create 3g.20gb@4",
                                      "bind job 2"}));
  EXPECT_EQ(s.FindJob(lender)->state, JobState::kRunning);
  const Job& victim = *s.FindJob(borrowed);
  EXPECT_EQ(victim.state, JobState::kPending);
  EXPECT_EQ(victim.preemptions, 1);
  EXPECT_EQ(victim.preempted_by, lender);
  EXPECT_EQ(UsageOf(s, "vision", "A100-40GB"), 0);
  EXPECT_EQ(UsageOf(s, "nlp", "A100-40GB"), 500);
}

TEST(PreemptionTest, JobsThatAreNotPreemptibleDoNotBorrow) {
  Scheduler s(Teams({{"nlp", 1000}, {"vision", 0}}, {"A100-40GB"}, 1000));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const JobId id = s.Submit(SliceJob(s, "vision", "1g.5gb")).value();
  EXPECT_TRUE(s.Schedule(0).empty());
  EXPECT_EQ(s.Why(id).kind, PendingKind::kQuota);
  EXPECT_THAT(s.Why(id).message, HasSubstr("not preemptible runs within its team's nominal quota"));
}

TEST(PreemptionTest, HigherPriorityTakesTheSlotOfLowerPriorityWorkInItsTeam) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const std::vector<JobId> low =
      Fill(s, {Preemptible(SliceJob(s, "nlp", "4g.20gb", 1)), Preemptible(SliceJob(s, "nlp", "3g.20gb", 1))});
  const JobId high = s.Submit(SliceJob(s, "nlp", "3g.20gb", 5, 10)).value();
  const std::vector<Decision> d = s.Schedule(20);
  // The 3g victim frees exactly the slot needed; its idle instance is reused as it is.
  EXPECT_EQ(Describe(s, d), (std::vector<std::string>{"preempt job 2 for job 3", "bind job 3"}));
  EXPECT_EQ(s.FindJob(high)->state, JobState::kRunning);
  EXPECT_EQ(s.FindJob(low[0])->state, JobState::kRunning);
  EXPECT_EQ(s.FindJob(low[1])->state, JobState::kPending);
}

TEST(PreemptionTest, ChoosesTheFewestVictimsThatFreeALegalContiguousSlot) {
  // Four 1g jobs on units 0-3 and a 3g on units 4-7, all low priority. A 3g can go at start 0
  // (four victims) or 4 (one victim): the one victim wins.
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  std::vector<Job> jobs;
  jobs.push_back(Preemptible(SliceJob(s, "nlp", "3g.20gb", 1)));
  for (int i = 0; i < 4; ++i) jobs.push_back(Preemptible(SliceJob(s, "nlp", "1g.5gb", 1)));
  const std::vector<JobId> low = Fill(s, jobs);
  s.Submit(SliceJob(s, "nlp", "3g.20gb", 5, 10));
  EXPECT_EQ(Describe(s, s.Schedule(20)), (std::vector<std::string>{"preempt job 1 for job 6", "bind job 6"}));
  for (std::size_t i = 1; i < low.size(); ++i) EXPECT_EQ(s.FindJob(low[i])->state, JobState::kRunning);
}

TEST(PreemptionTest, TakesSeveralVictimsWhenTheBigOneIsProtected) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  std::vector<Job> jobs;
  jobs.push_back(SliceJob(s, "nlp", "3g.20gb", 1));  // not preemptible
  for (int i = 0; i < 4; ++i) jobs.push_back(Preemptible(SliceJob(s, "nlp", "1g.5gb", 1)));
  Fill(s, jobs);
  const JobId high = s.Submit(SliceJob(s, "nlp", "3g.20gb", 5, 10)).value();
  const std::vector<Decision> d = s.Schedule(20);
  int preempted = 0;
  for (const Decision& x : d) preempted += x.kind == Decision::Kind::kPreempt;
  EXPECT_EQ(preempted, 4);
  EXPECT_EQ(s.FindJob(high)->state, JobState::kRunning);
  EXPECT_EQ(s.FindJob(JobId(1))->state, JobState::kRunning);
}

TEST(PreemptionTest, NothingIsPreemptedWhenItWouldNotMakeRoom) {
  // The 4g that blocks start 0 is not preemptible, and the 3g at start 4 cannot hold a 4g.
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  Fill(s, {SliceJob(s, "nlp", "4g.20gb", 1), Preemptible(SliceJob(s, "nlp", "3g.20gb", 1))});
  const JobId high = s.Submit(SliceJob(s, "nlp", "4g.20gb", 5, 10)).value();
  EXPECT_TRUE(s.Schedule(20).empty());
  EXPECT_EQ(s.FindJob(high)->state, JobState::kPending);
  EXPECT_EQ(s.FindJob(JobId(2))->state, JobState::kRunning);
}

// Regression: placing a same-node job replaced the pass's record of its preemption, so the
// victim was stopped without a preempt decision (found by the stateful property).
TEST(PreemptionTest, ASameNodeJobReportsItsVictims) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  Fill(s, {Preemptible(SliceJob(s, "nlp", "7g.40gb", 1))});
  Job high = SliceJob(s, "nlp", "3g.20gb", 5, 10);
  high.same_node = true;
  s.Submit(high);
  EXPECT_EQ(Describe(s, s.Schedule(20)),
            (std::vector<std::string>{"preempt job 1 for job 2", "destroy 7g.40gb@0", "create 3g.20gb@4",
                                      "bind job 2"}));
}

// A same-node gang preempts on one node: the one where every slice can be made to fit.
TEST(PreemptionTest, ASameNodeGangPreemptsOnTheNodeWhereItFits) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  ASSERT_TRUE(s.AddNode("n2", Model("A100-40GB"), 1, GpuMode::kDynamic));
  // n1: a non-preemptible 4g and a preemptible 3g (room for one 3g at most); n2: a preemptible
  // 7g (room for two 3g once it is gone).
  const std::vector<JobId> running =
      Fill(s, {SliceJob(s, "nlp", "4g.20gb", 1), Preemptible(SliceJob(s, "nlp", "3g.20gb", 1)),
               Preemptible(SliceJob(s, "nlp", "7g.40gb", 1))});
  ASSERT_EQ(s.node(s.gpu(s.FindJob(running[2])->bindings[0].gpu).node).name, "n2");
  Job gang = SliceJob(s, "nlp", "3g.20gb", 5, 10);
  gang.count = 2;
  gang.same_node = true;
  const JobId g = s.Submit(gang).value();
  const std::vector<Decision> d = s.Schedule(20);
  ASSERT_EQ(s.FindJob(g)->state, JobState::kRunning);
  for (const Binding& b : s.FindJob(g)->bindings) EXPECT_EQ(s.node(s.gpu(b.gpu).node).name, "n2");
  EXPECT_EQ(s.FindJob(running[2])->state, JobState::kPending);  // the 7g on n2
  EXPECT_EQ(s.FindJob(running[1])->state, JobState::kRunning);  // n1's 3g: stopping it would not do
  EXPECT_EQ(
      std::count_if(d.begin(), d.end(), [](const Decision& x) { return x.kind == Decision::Kind::kPreempt; }),
      1);
  // A same-node gang of three fits on no node, whatever is stopped: nothing is.
  Job big = SliceJob(s, "nlp", "3g.20gb", 9, 30);
  big.count = 3;
  big.same_node = true;
  const JobId b = s.Submit(big).value();
  for (const Decision& x : s.Schedule(40)) EXPECT_NE(x.kind, Decision::Kind::kPreempt);
  EXPECT_EQ(s.FindJob(b)->state, JobState::kPending);
  EXPECT_EQ(s.FindJob(g)->state, JobState::kRunning);
}

// nlp's same-node gang of two whole GPUs is blocked by quota alone: vision borrows 1000 mGPU of
// nlp's nominal 2000. Reclaiming one vision job is enough.
struct ReclaimForAGang {
  Scheduler s{Teams({{"nlp", 2000}, {"vision", 1000}}, {"H100-80GB"}, /*borrowing_limit=*/1000)};

  // Runs vision's two preemptible jobs (on the first two GPUs), then nlp's gang; returns the
  // gang's node and the number of preemptions.
  std::pair<std::string, int> Run() {
    Fill(s, {Preemptible(SliceJob(s, "vision", "whole")), Preemptible(SliceJob(s, "vision", "whole"))});
    EXPECT_EQ(UsageOf(s, "vision", "H100-80GB"), 2000);
    Job gang = SliceJob(s, "nlp", "whole", 0, 10);
    gang.count = 2;
    gang.same_node = true;
    const JobId g = s.Submit(gang).value();
    const std::vector<Decision> d = s.Schedule(20);
    const Job& placed = *s.FindJob(g);
    EXPECT_EQ(placed.state, JobState::kRunning) << placed.pending.message;
    if (placed.bindings.size() != 2) return {"", -1};
    EXPECT_EQ(s.gpu(placed.bindings[0].gpu).node, s.gpu(placed.bindings[1].gpu).node);
    EXPECT_EQ(UsageOf(s, "vision", "H100-80GB"), 1000);
    const auto preempted = std::count_if(
        d.begin(), d.end(), [](const Decision& x) { return x.kind == Decision::Kind::kPreempt; });
    return {s.node(s.gpu(placed.bindings[0].gpu).node).name, static_cast<int>(preempted)};
  }
};

// The only node with room holds no candidate victim: it must still be found.
TEST(PreemptionTest, AGangBlockedByQuotaAloneLandsOnANodeWithoutVictims) {
  ReclaimForAGang r;
  ASSERT_TRUE(r.s.AddNode("a", Model("H100-80GB"), 1, GpuMode::kWhole));
  ASSERT_TRUE(r.s.AddNode("b", Model("H100-80GB"), 1, GpuMode::kWhole));
  ASSERT_TRUE(r.s.AddNode("c", Model("H100-80GB"), 2, GpuMode::kWhole));
  EXPECT_EQ(r.Run(), std::make_pair(std::string("c"), 1));
}

// Stopping the second vision job would make room on its own node too; the free node is taken
// instead, so only what quota needs is preempted.
TEST(PreemptionTest, AGangPrefersFreeGpusToMoreVictims) {
  ReclaimForAGang r;
  ASSERT_TRUE(r.s.AddNode("a", Model("H100-80GB"), 2, GpuMode::kWhole));
  ASSERT_TRUE(r.s.AddNode("c", Model("H100-80GB"), 2, GpuMode::kWhole));
  EXPECT_EQ(r.Run(), std::make_pair(std::string("c"), 1));
}

TEST(PreemptionTest, AGangPreemptsSliceBySliceOrNotAtAll) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 2, GpuMode::kDynamic));
  Fill(s, {Preemptible(SliceJob(s, "nlp", "7g.40gb", 1)), SliceJob(s, "nlp", "4g.20gb", 1),
           Preemptible(SliceJob(s, "nlp", "3g.20gb", 1))});
  Job gang = SliceJob(s, "nlp", "3g.20gb", 5, 10);
  gang.count = 2;
  const JobId g = s.Submit(gang).value();
  s.Schedule(20);
  ASSERT_EQ(s.FindJob(g)->state, JobState::kRunning);
  EXPECT_EQ(s.FindJob(JobId(1))->state, JobState::kPending);  // the 7g
  EXPECT_EQ(s.FindJob(JobId(2))->state, JobState::kRunning);  // the 4g is not preemptible
  // A gang of three cannot fit even with every preemptible job gone: nothing is stopped.
  Job big = SliceJob(s, "nlp", "3g.20gb", 9, 30);
  big.count = 3;
  const JobId b = s.Submit(big).value();
  const std::vector<Decision> d = s.Schedule(40);
  EXPECT_EQ(s.FindJob(b)->state, JobState::kPending);
  EXPECT_EQ(s.FindJob(g)->state, JobState::kRunning);
  for (const Decision& x : d) EXPECT_NE(x.kind, Decision::Kind::kPreempt);
}

// A gang that no preemption can place does not keep a smaller job of its team and priority from
// preempting in the same pass (the pass remembers failures per gang size).
TEST(PreemptionTest, AFailedGangDoesNotBlockASmallerJobsPreemption) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const JobId low = Fill(s, {Preemptible(SliceJob(s, "nlp", "7g.40gb", 1))})[0];
  Job gang = SliceJob(s, "nlp", "3g.20gb", 5, 10);
  gang.count = 3;  // one A100-40GB holds two 3g at most
  const JobId g = s.Submit(gang).value();
  const JobId one = s.Submit(SliceJob(s, "nlp", "3g.20gb", 5, 20)).value();
  s.Schedule(30);
  EXPECT_EQ(s.FindJob(g)->state, JobState::kPending);
  EXPECT_EQ(s.FindJob(one)->state, JobState::kRunning);
  EXPECT_EQ(s.FindJob(low)->state, JobState::kPending);
  EXPECT_EQ(s.FindJob(low)->preempted_by, one);
}

TEST(PreemptionTest, EqualPriorityDoesNotPreempt) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  Fill(s, {Preemptible(SliceJob(s, "nlp", "7g.40gb", 3))});
  s.Submit(SliceJob(s, "nlp", "1g.5gb", 3, 10));
  EXPECT_TRUE(s.Schedule(20).empty());
}

TEST(PreemptionTest, ReclaimStopsOnlyWhatTheLenderNeeds) {
  // vision fills the GPU's cohort quota (6 x 1g = 858 mGPU, 572 of them borrowed from nlp); nlp
  // needs one 1g back, within its nominal quota.
  Scheduler s(Teams({{"nlp", 572}, {"vision", 286}}, {"A100-40GB"}, 1000));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  std::vector<Job> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back(Preemptible(SliceJob(s, "vision", "1g.5gb", 0, i)));
  Fill(s, jobs);
  s.Submit(SliceJob(s, "nlp", "1g.5gb", 0, 100));
  const std::vector<Decision> d = s.Schedule(200);
  ASSERT_FALSE(d.empty());
  EXPECT_EQ(d[0].kind, Decision::Kind::kPreempt);
  EXPECT_EQ(
      std::count_if(d.begin(), d.end(), [](const Decision& x) { return x.kind == Decision::Kind::kPreempt; }),
      1);
  EXPECT_EQ(UsageOf(s, "vision", "A100-40GB"), 5 * 143);
  EXPECT_EQ(UsageOf(s, "nlp", "A100-40GB"), 143);
}

// --- order --------------------------------------------------------------------------------------

TEST(QueueOrderTest, TheTeamWithTheLowerDominantShareGoesFirst) {
  // vision already borrows (share > 0); nlp does not. One 1g slot is left; nlp's later job gets it.
  Scheduler s(Teams({{"nlp", 3000}, {"vision", 143}}, {"A100-40GB"}, 3000),
              SchedulerOptions{.preemption = false});
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  std::vector<Job> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back(Preemptible(SliceJob(s, "vision", "1g.5gb", 0, 0)));
  Fill(s, jobs);
  const JobId v = s.Submit(Preemptible(SliceJob(s, "vision", "1g.5gb", 0, 10))).value();
  const JobId n = s.Submit(SliceJob(s, "nlp", "1g.5gb", 0, 20)).value();
  s.Schedule(30);
  EXPECT_EQ(s.FindJob(n)->state, JobState::kRunning);
  EXPECT_EQ(s.FindJob(v)->state, JobState::kPending);
}

TEST(QueueOrderTest, ManyJobsOfOneShapeArePlacedInOnePass) {
  Scheduler s(Teams({{"nlp", 100000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 8, GpuMode::kDynamic));
  for (int i = 0; i < 60; ++i) s.Submit(SliceJob(s, "nlp", "1g.5gb", 0, i));
  s.Schedule(100);
  EXPECT_EQ(s.num_pending(), 4u);  // 8 GPUs x 7 slots
  EXPECT_EQ(s.usage().busy_slices, 56);
}

// --- reservations -------------------------------------------------------------------------------

// Also for a one-slice job marked same-node (the simulator makes every whole-GPU pod of a trace
// one): a gang of one is a single job.
TEST(ReservationTest, ABigJobIsNotStarvedBySmallOnes) {
  for (const auto& [max_reservations, same_node] : {std::pair{0, false}, {4, false}, {4, true}}) {
    SCOPED_TRACE(fmt::format("max_reservations {} same_node {}", max_reservations, same_node));
    Scheduler s(Teams({{"nlp", 100000}}, {"A100-40GB"}),
                SchedulerOptions{.reserve_after_ms = 1000, .max_reservations = max_reservations});
    ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
    std::vector<JobId> small;
    for (int i = 0; i < 7; ++i) small.push_back(s.Submit(SliceJob(s, "nlp", "1g.5gb", 0, 0)).value());
    s.Schedule(0);
    Job big_job = SliceJob(s, "nlp", "7g.40gb", 0, 10);
    big_job.same_node = same_node;
    const JobId big = s.Submit(big_job).value();
    s.Schedule(10);
    // Every second, one small job ends and a new one arrives.
    std::int64_t now = 2000;
    for (std::size_t i = 0; i < 7; ++i, now += 1000) {
      ASSERT_TRUE(s.Finish(small[i], now));
      small.push_back(s.Submit(SliceJob(s, "nlp", "1g.5gb", 0, now)).value());
      s.Schedule(now);
      if (s.FindJob(big)->state == JobState::kRunning) break;
    }
    if (max_reservations == 0) {
      EXPECT_EQ(s.FindJob(big)->state, JobState::kPending);  // starved
    } else {
      EXPECT_EQ(s.FindJob(big)->state, JobState::kRunning);
      for (const Reservation& r : s.reservations()) EXPECT_NE(r.job, big);  // released once placed
    }
  }
}

// A gang that must share a node reserves its GPUs on one node: the node whose second GPU frees
// soonest (n1 at 6 s; n2's second GPU runs until 9 s, though its first frees at 2 s).
TEST(ReservationTest, ASameNodeGangReservesOnTheNodeThatFreesSoonest) {
  Scheduler s(Teams({{"nlp", 100000}}, {"H100-80GB"}), SchedulerOptions{.reserve_after_ms = 1000});
  ASSERT_TRUE(s.AddNode("n1", Model("H100-80GB"), 2, GpuMode::kWhole));
  ASSERT_TRUE(s.AddNode("n2", Model("H100-80GB"), 2, GpuMode::kWhole));
  std::vector<JobId> running;
  for (const std::int64_t ends : {5000, 6000, 2000, 9000}) {  // GPUs in order: n1 0-1, n2 0-1
    Job j = SliceJob(s, "nlp", "whole");
    j.expected_duration_ms = ends;
    running.push_back(s.Submit(j).value());
    s.Schedule(0);
  }
  Job gang = SliceJob(s, "nlp", "whole", 0, 10);
  gang.count = 2;
  gang.same_node = true;
  const JobId g = s.Submit(gang).value();
  s.Schedule(1500);
  ASSERT_EQ(s.reservations().size(), 1u);
  ASSERT_EQ(s.reservations()[0].job, g);
  for (const GpuRef ref : s.reservations()[0].gpus) EXPECT_EQ(s.node(s.gpu(ref).node).name, "n1");

  // n2's first GPU frees: small work may use it. n1's first frees: it stays for the gang.
  ASSERT_TRUE(s.Finish(running[2], 2000));
  const JobId on_n2 = s.Submit(SliceJob(s, "nlp", "whole", 0, 2000)).value();
  s.Schedule(2000);
  ASSERT_EQ(s.FindJob(on_n2)->state, JobState::kRunning);
  EXPECT_EQ(s.node(s.gpu(s.FindJob(on_n2)->bindings[0].gpu).node).name, "n2");
  ASSERT_TRUE(s.Finish(running[0], 5000));
  const JobId kept_off = s.Submit(SliceJob(s, "nlp", "whole", 0, 5000)).value();
  s.Schedule(5000);
  EXPECT_EQ(s.Why(kept_off).kind, PendingKind::kReserved);
  EXPECT_EQ(s.FindJob(g)->state, JobState::kPending);
  ASSERT_TRUE(s.Finish(running[1], 6000));
  s.Schedule(6000);
  ASSERT_EQ(s.FindJob(g)->state, JobState::kRunning);
  for (const Binding& b : s.FindJob(g)->bindings) EXPECT_EQ(s.node(s.gpu(b.gpu).node).name, "n1");
  for (const Reservation& r : s.reservations()) EXPECT_NE(r.job, g);  // released once placed
}

TEST(ReservationTest, JobsKeptOffAReservedGpuSayForWhom) {
  Scheduler s(Teams({{"nlp", 100000}}, {"A100-40GB"}), SchedulerOptions{.reserve_after_ms = 0});
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const JobId a = s.Submit(SliceJob(s, "nlp", "4g.20gb", 0, 0)).value();
  s.Schedule(0);
  const JobId big = s.Submit(SliceJob(s, "nlp", "7g.40gb", 0, 10)).value();
  const JobId small = s.Submit(SliceJob(s, "nlp", "1g.5gb", 0, 20)).value();
  s.Schedule(30);
  ASSERT_EQ(s.reservations().size(), 1u);
  EXPECT_EQ(s.reservations()[0].job, big);
  const Pending why = s.Why(small);
  EXPECT_EQ(why.kind, PendingKind::kReserved);
  EXPECT_EQ(why.reserved_for, big);
  EXPECT_THAT(why.message, HasSubstr(fmt::format("reserved for job {}", big.value())));
  ASSERT_TRUE(s.Finish(a, 40));
  s.Schedule(50);
  EXPECT_EQ(s.FindJob(big)->state, JobState::kRunning);
}

// EASY backfill: a job expected to end before the reserved GPU's current work may use it; a
// longer job, or one of unknown length, may not, and the holder starts when that work ends.
TEST(ReservationTest, ShortJobsBackfillAReservedGpuWithoutDelayingIt) {
  Scheduler s(Teams({{"nlp", 100000}}, {"A100-40GB"}), SchedulerOptions{.reserve_after_ms = 0});
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  Job first = SliceJob(s, "nlp", "4g.20gb", 0, 0);
  first.expected_duration_ms = 10'000;
  const JobId running = Fill(s, {first})[0];
  const JobId big = s.Submit(SliceJob(s, "nlp", "7g.40gb", 0, 10)).value();
  s.Schedule(20);
  ASSERT_EQ(s.reservations().size(), 1u);
  auto small = [&](std::int64_t duration_ms, std::int64_t at) {
    Job j = SliceJob(s, "nlp", "1g.5gb", 0, at);
    j.expected_duration_ms = duration_ms;
    return s.Submit(j).value();
  };
  const JobId fits = small(2'000, 1'000);       // ends at 3 s, before the 4g (10 s)
  const JobId too_long = small(20'000, 1'000);  // would end at 21 s
  const JobId unknown = small(-1, 1'000);
  s.Schedule(1'000);
  EXPECT_EQ(s.FindJob(fits)->state, JobState::kRunning);
  EXPECT_EQ(s.Why(too_long).kind, PendingKind::kReserved);
  EXPECT_EQ(s.Why(unknown).kind, PendingKind::kReserved);
  ASSERT_TRUE(s.Finish(fits, 3'000));
  ASSERT_TRUE(s.Finish(running, 10'000));
  s.Schedule(10'000);
  EXPECT_EQ(s.FindJob(big)->state, JobState::kRunning);
}

// --- warm pool ----------------------------------------------------------------------------------

TEST(WarmPoolTest, IdleInstancesOfAShapeInDemandOutliveTheWarmTime) {
  for (const bool demand : {false, true}) {
    SCOPED_TRACE(demand);
    Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}),
                SchedulerOptions{.warm_idle_ms = 1000, .demand_warm = demand});
    ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
    const std::vector<JobId> ids =
        Fill(s, {SliceJob(s, "nlp", "1g.5gb"), SliceJob(s, "nlp", "1g.5gb"), SliceJob(s, "nlp", "1g.5gb")});
    ASSERT_TRUE(s.Finish(ids[0], 0));
    ASSERT_TRUE(s.Finish(ids[1], 0));
    s.Submit(SliceJob(s, "nlp", "1g.5gb", 0, 900));  // reuses one idle instance: demand for 1g
    s.Schedule(900);
    s.Schedule(1600);  // the other idle instance is past its warm time
    std::size_t idle = 0;
    for (const Instance& inst : s.gpu(0).instances) idle += !inst.job.valid();
    EXPECT_EQ(idle, demand ? 1u : 0u);
  }
}

// --- GPU modes and nodes ------------------------------------------------------------------------

TEST(ClusterChangeTest, CordonStopsNewWorkDrainClearsIdleAndUncordonRestores) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const std::vector<JobId> ids = Fill(s, {SliceJob(s, "nlp", "1g.5gb"), SliceJob(s, "nlp", "1g.5gb")});
  ASSERT_TRUE(s.Finish(ids[0], 10));
  ASSERT_TRUE(s.SetGpuMode(0, GpuMode::kCordoned, 20));
  const JobId next = s.Submit(SliceJob(s, "nlp", "1g.5gb", 0, 30)).value();
  EXPECT_TRUE(s.Schedule(40).empty());
  EXPECT_EQ(s.FindJob(ids[1])->state, JobState::kRunning);  // running work stays
  const Result<std::vector<Decision>> drain = s.SetGpuMode(0, GpuMode::kDraining, 50);
  ASSERT_TRUE(drain);
  EXPECT_EQ(Describe(s, *drain), (std::vector<std::string>{"destroy 1g.5gb@6"}));
  ASSERT_TRUE(s.SetGpuMode(0, GpuMode::kDynamic, 60));
  s.Schedule(70);
  EXPECT_EQ(s.FindJob(next)->state, JobState::kRunning);
}

TEST(ClusterChangeTest, DynamicToWholeNeedsAnEmptyGpu) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const JobId a = Fill(s, {SliceJob(s, "nlp", "1g.5gb")})[0];
  const auto refused = s.SetGpuMode(0, GpuMode::kWhole, 10);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(refused.error().message, HasSubstr("needs an empty GPU"));
  ASSERT_TRUE(s.Finish(a, 20));
  ASSERT_TRUE(s.SetGpuMode(0, GpuMode::kDraining, 30));  // destroys the idle instance
  ASSERT_TRUE(s.SetGpuMode(0, GpuMode::kWhole, 40));
  const JobId whole = s.Submit(SliceJob(s, "nlp", "whole", 0, 50)).value();
  s.Schedule(60);
  EXPECT_EQ(s.FindJob(whole)->state, JobState::kRunning);
  EXPECT_FALSE(s.FindJob(whole)->bindings[0].instance.valid());
}

TEST(ClusterChangeTest, JobsOfALostNodeAreRequeuedAndPlacedElsewhere) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  const NodeId n1 = s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic).value();
  const JobId a = Fill(s, {SliceJob(s, "nlp", "7g.40gb")})[0];
  ASSERT_TRUE(s.AddNode("n2", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const Result<std::vector<JobId>> requeued = s.RemoveNode(n1, 100);
  ASSERT_TRUE(requeued);
  EXPECT_THAT(*requeued, ElementsAre(a));
  EXPECT_EQ(UsageOf(s, "nlp", "A100-40GB"), 0);
  EXPECT_EQ(s.usage().total_slices, 7);
  s.Schedule(110);
  ASSERT_EQ(s.FindJob(a)->state, JobState::kRunning);
  EXPECT_EQ(s.FindJob(a)->bindings[0].gpu, 1u);
  EXPECT_FALSE(s.RemoveNode(n1, 120));
}

TEST(ClusterChangeTest, RestoreRebuildsARunningJobWhereItRan) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 2, GpuMode::kDynamic));
  const mig::GpuModel& m = Model("A100-40GB");
  Job j = SliceJob(s, "nlp", "3g.20gb");
  j.count = 2;
  const std::vector<Scheduler::RestoredSlice> at{{0, mig::Placement{m.ProfileIndex("3g.20gb"), 4}},
                                                 {1, mig::Placement{m.ProfileIndex("3g.20gb"), 0}}};
  const Result<JobId> id = s.Restore(j, at, 100);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(s.FindJob(*id)->state, JobState::kRunning);
  EXPECT_EQ(UsageOf(s, "nlp", "A100-40GB"), 1000);
  EXPECT_EQ(s.gpu(0).instances[0].placement.start, 4);
  // The same slot again does not fit, and the failed restore changes nothing.
  Job k = SliceJob(s, "nlp", "3g.20gb");
  const Result<JobId> clash = s.Restore(k, {at[0]}, 100);
  ASSERT_FALSE(clash);
  EXPECT_THAT(clash.error().message, HasSubstr("3g.20gb@4 is not free on GPU 0"));
  EXPECT_EQ(UsageOf(s, "nlp", "A100-40GB"), 1000);
  EXPECT_FALSE(s.Restore(k, {}, 100));
  // It finishes like any job.
  ASSERT_TRUE(s.Finish(*id, 200));
  EXPECT_EQ(UsageOf(s, "nlp", "A100-40GB"), 0);
}

// --- explanations -------------------------------------------------------------------------------

TEST(WhyTest, NoSlotNamesTheNearestMiss) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  Fill(s, {SliceJob(s, "nlp", "4g.20gb"), SliceJob(s, "nlp", "1g.5gb")});  // 4g@0, 1g@6
  const JobId id = s.Submit(SliceJob(s, "nlp", "3g.20gb", 0, 10)).value();
  s.Schedule(20);
  const Pending why = s.Why(id);
  EXPECT_EQ(why.kind, PendingKind::kNoLegalSlot);
  EXPECT_THAT(why.message, HasSubstr("nearest miss: node n1 GPU 0 would take 3g.20gb@4 once 1 running "
                                     "instance ends: 1g.5gb@6 (job 2)"));
}

TEST(WhyTest, RunningAndUnknownJobsSaySo) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", Model("A100-40GB"), 1, GpuMode::kDynamic));
  const JobId a = Fill(s, {SliceJob(s, "nlp", "1g.5gb")})[0];
  EXPECT_THAT(s.Why(a).message, HasSubstr("is running"));
  EXPECT_THAT(s.Why(JobId(99)).message, HasSubstr("no job 99"));
}

}  // namespace
}  // namespace gpuslice::sched
