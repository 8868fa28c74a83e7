// Scheduler::SetStaticLayout, and SetGpuMode away from static: a GPU given a layout at runtime
// behaves exactly as one added with it, refusals change nothing, cordons and drains stay, and
// neither the warm pool's expiry nor placement ever touches a static layout.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sched/scheduler.h"
#include "sched/scheduler_testing.h"

namespace gpuslice::sched {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const mig::GpuModel& A100() {
  return Model("A100-40GB");
}
int P(std::string_view profile) {
  return A100().ProfileIndex(profile);
}

// 2g.10gb@0, 1g.5gb@2, 1g.5gb@3, 3g.20gb@4: no room for a 4g.20gb or a 7g.40gb.
mig::Layout Balanced() {
  return {{P("2g.10gb"), 0}, {P("1g.5gb"), 2}, {P("1g.5gb"), 3}, {P("3g.20gb"), 4}};
}
// 7 x 1g.5gb.
mig::Layout Sevens() {
  mig::Layout l;
  for (int u = 0; u < 7; ++u) l.push_back({P("1g.5gb"), u});
  return l;
}

void ExpectConsistent(const Scheduler& s) {
  const Result<void> r = s.CheckIndexesForTest();
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
}

JobId SubmitAt(Scheduler& s, const std::string& profile, std::int64_t now) {
  return s.Submit(SliceJob(s, "nlp", profile, 0, now)).value();
}

// A job of `profile` runs at 0 and ends at 10: its instance stays idle (warm).
void LeaveIdle(Scheduler& s, const std::string& profile) {
  const JobId id = SubmitAt(s, profile, 0);
  s.Schedule(0);
  EXPECT_TRUE(s.Finish(id, 10));
}

TEST(SchedulerStaticLayoutTest, DynamicGpuGetsALayoutAndJobsBindOnlyToItsInstances) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", A100(), 1, GpuMode::kDynamic));
  LeaveIdle(s, "1g.5gb");  // 1g.5gb@6

  const Result<std::vector<Decision>> d = s.SetStaticLayout(0, Balanced(), 20);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(Describe(s, *d),
            (std::vector<std::string>{"destroy 1g.5gb@6", "create 2g.10gb@0", "create 1g.5gb@2",
                                      "create 1g.5gb@3", "create 3g.20gb@4"}));
  // The creates name the instances the GPU now holds, in order, all idle.
  const Gpu& gpu = s.gpu(0);
  ASSERT_EQ(gpu.instances.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*d)[i + 1].kind, Decision::Kind::kCreateInstance);
    EXPECT_EQ((*d)[i + 1].instance, gpu.instances[i].id);
    EXPECT_EQ((*d)[i + 1].placement, gpu.instances[i].placement);
    EXPECT_FALSE(gpu.instances[i].job.valid());
  }
  EXPECT_EQ(gpu.mode, GpuMode::kStatic);
  EXPECT_EQ(gpu.base_mode, GpuMode::kStatic);
  EXPECT_EQ(s.usage().idle_slices, 7);
  EXPECT_EQ(s.usage().instances_created, 5);
  EXPECT_EQ(s.usage().instances_destroyed, 1);
  ExpectConsistent(s);

  const JobId small = SubmitAt(s, "1g.5gb", 30);
  const JobId mid = SubmitAt(s, "3g.20gb", 30);
  const JobId big = SubmitAt(s, "4g.20gb", 30);
  EXPECT_EQ(Describe(s, s.Schedule(40)),
            (std::vector<std::string>{"bind job 2", "bind job 3"}));  // no creates
  ASSERT_EQ(s.FindJob(small)->bindings.size(), 1u);
  ASSERT_EQ(s.FindJob(mid)->bindings.size(), 1u);
  EXPECT_EQ(s.FindJob(small)->bindings[0].instance, gpu.instances[1].id);
  EXPECT_EQ(s.FindJob(mid)->bindings[0].instance, gpu.instances[3].id);
  EXPECT_EQ(s.FindJob(big)->pending.kind, PendingKind::kNoLegalSlot);
  EXPECT_THAT(s.FindJob(big)->pending.message,
              HasSubstr("no A100-40GB GPU has a legal free slot for 4g.20gb right now"));
  ExpectConsistent(s);
}

// The workload below runs the same on a GPU added with a mode and on one changed to it at runtime.
// Jobs are named by their position in the workload, so jobs run before it do not shift names.
std::vector<std::string> RunWorkload(Scheduler& s) {
  std::vector<std::string> log;
  std::vector<JobId> ids;
  auto name = [&](JobId id) { return static_cast<int>(std::find(ids.begin(), ids.end(), id) - ids.begin()); };
  auto pass = [&](std::int64_t now) {
    for (const Decision& d : s.Schedule(now)) {
      std::string where = fmt::format("gpu {}", d.gpu);
      for (const Instance& inst : s.gpu(d.gpu).instances) {
        if (inst.id == d.instance)
          where = fmt::format("{} {}", where, s.gpu(d.gpu).geometry->Describe(inst.placement));
      }
      if (d.kind == Decision::Kind::kBind) log.push_back(fmt::format("bind #{} on {}", name(d.job), where));
      if (d.kind != Decision::Kind::kBind) log.push_back(fmt::format("{} on {}", Describe(s, d), where));
    }
    for (const JobId id : ids) {
      if (s.FindJob(id)->state == JobState::kPending)
        log.push_back(fmt::format("#{}: {}", name(id), s.Why(id).message));
    }
    ExpectConsistent(s);
  };
  for (const char* p : {"1g.5gb", "3g.20gb", "whole", "2g.10gb", "1g.5gb", "4g.20gb", "1g.5gb"}) {
    ids.push_back(SubmitAt(s, p, 1000));
  }
  pass(1000);
  for (const JobId id : ids) {
    if (s.FindJob(id)->state == JobState::kRunning) {
      EXPECT_TRUE(s.Finish(id, 2000));
      break;
    }
  }
  pass(3000);
  pass(100'000'000);  // past every warm window
  for (const char* p : {"7g.40gb", "1g.5gb", "whole"}) ids.push_back(SubmitAt(s, p, 100'000'000));
  pass(100'000'001);
  const Scheduler::Usage& u = s.usage();
  log.push_back(fmt::format("usage {}/{}/{}", u.busy_slices, u.idle_slices, u.total_slices));
  for (GpuRef g = 0; g < s.num_gpus(); ++g) {
    log.push_back(
        fmt::format("gpu {} {}/{}", g, GpuModeName(s.gpu(g).mode), GpuModeName(s.gpu(g).base_mode)));
  }
  return log;
}

std::unique_ptr<Scheduler> TwoGpus(GpuMode mode, std::vector<mig::Layout> layouts = {}) {
  auto s = std::make_unique<Scheduler>(Teams({{"nlp", 14'000}}, {"A100-40GB"}),
                                       SchedulerOptions{.warm_idle_ms = 60'000});
  EXPECT_TRUE(s->AddNode("n1", A100(), 2, mode, layouts));
  return s;
}

TEST(SchedulerStaticLayoutTest, AGpuChangedAtRuntimeBehavesAsOneAddedThatWay) {
  const std::vector<std::string> added_static = [] {
    const std::unique_ptr<Scheduler> s = TwoGpus(GpuMode::kStatic, {Balanced(), Sevens()});
    ExpectConsistent(*s);
    return RunWorkload(*s);
  }();
  for (const GpuMode from : {GpuMode::kDynamic, GpuMode::kWhole, GpuMode::kStatic}) {
    SCOPED_TRACE(GpuModeName(from));
    const std::unique_ptr<Scheduler> ptr =
        from == GpuMode::kStatic ? TwoGpus(from, {Sevens(), Balanced()}) : TwoGpus(from);
    Scheduler& s = *ptr;
    if (from == GpuMode::kDynamic) LeaveIdle(s, "2g.10gb");  // an instance to destroy
    ASSERT_TRUE(s.SetStaticLayout(0, Balanced(), 20));
    ASSERT_TRUE(s.SetStaticLayout(1, Sevens(), 20));
    ExpectConsistent(s);
    EXPECT_EQ(RunWorkload(s), added_static);
  }
}

TEST(SchedulerStaticLayoutTest, AStaticGpuBackToDynamicOrWholeBehavesAsOneAddedThatWay) {
  for (const GpuMode to : {GpuMode::kDynamic, GpuMode::kWhole}) {
    SCOPED_TRACE(GpuModeName(to));
    const std::vector<std::string> want = RunWorkload(*TwoGpus(to));
    const std::unique_ptr<Scheduler> ptr = TwoGpus(GpuMode::kStatic, {Balanced(), Sevens()});
    Scheduler& s = *ptr;
    const Result<std::vector<Decision>> d =
        to == GpuMode::kDynamic ? s.SetStaticLayout(0, std::nullopt, 20) : s.SetGpuMode(0, to, 20);
    ASSERT_TRUE(d);
    EXPECT_EQ(Describe(s, *d), (std::vector<std::string>{"destroy 2g.10gb@0", "destroy 1g.5gb@2",
                                                         "destroy 1g.5gb@3", "destroy 3g.20gb@4"}));
    ASSERT_TRUE(s.SetGpuMode(1, to, 20));  // the same path through SetGpuMode
    EXPECT_TRUE(s.gpu(1).instances.empty());
    ExpectConsistent(s);
    EXPECT_EQ(RunWorkload(s), want);
  }
}

TEST(SchedulerStaticLayoutTest, RefusalsChangeNothing) {
  Scheduler s(Teams({{"nlp", 14'000}}, {"A100-40GB", "L4"}));
  ASSERT_TRUE(s.AddNode("n1", A100(), 1, GpuMode::kDynamic));                 // GPU 0: runs a 4g job
  ASSERT_TRUE(s.AddNode("n2", A100(), 1, GpuMode::kStatic, {Balanced()}));    // GPU 1: runs a 3g job
  ASSERT_TRUE(s.AddNode("n3", A100(), 1, GpuMode::kWhole));                   // GPU 2: runs a whole job
  ASSERT_TRUE(s.AddNode("n4", Model("L4"), 1, GpuMode::kWhole));              // GPU 3: no MIG
  const NodeId gone = s.AddNode("n5", A100(), 1, GpuMode::kDynamic).value();  // GPU 4: removed
  ASSERT_TRUE(s.RemoveNode(gone, 0));
  auto pin = [&](GpuRef g, const std::string& profile) {
    Job j = SliceJob(s, "nlp", profile);
    j.request.gpu_model = s.gpu(g).model->name;
    const JobId id = s.Submit(j).value();
    s.Schedule(0);
    ASSERT_EQ(s.FindJob(id)->state, JobState::kRunning);
    ASSERT_EQ(s.FindJob(id)->bindings[0].gpu, g);
  };
  pin(0, "4g.20gb");  // not in GPU 1's layout, so not bound there
  pin(1, "3g.20gb");
  pin(2, "whole");

  const auto refused = [&](GpuRef g, auto&& call, ErrorCode code, std::string_view why) {
    SCOPED_TRACE(fmt::format("GPU {}: {}", g, why));
    const std::string before = g < s.num_gpus() ? GpuState(s, g) : "";
    const Result<std::vector<Decision>> r = call();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, code);
    EXPECT_THAT(r.error().message, HasSubstr(std::string(why)));
    if (g < s.num_gpus()) {
      EXPECT_EQ(GpuState(s, g), before);
    }
    ExpectConsistent(s);
  };
  const mig::Layout overlap{{P("3g.20gb"), 4}, {P("2g.10gb"), 4}};
  const mig::Layout bad_start{{P("4g.20gb"), 4}};
  const mig::Layout no_profile{{99, 0}};
  const mig::Layout too_many{{P("7g.40gb"), 0}, {P("1g.5gb"), 0}};
  refused(
      9, [&] { return s.SetStaticLayout(9, Balanced(), 1); }, ErrorCode::kNotFound, "no GPU 9");
  refused(
      3, [&] { return s.SetStaticLayout(3, mig::Layout{}, 1); }, ErrorCode::kInvalidArgument, "has no MIG");
  refused(
      3, [&] { return s.SetStaticLayout(3, std::nullopt, 1); }, ErrorCode::kInvalidArgument, "has no MIG");
  refused(
      2, [&] { return s.SetStaticLayout(2, overlap, 1); }, ErrorCode::kInvalidArgument, "overlaps");
  refused(
      2, [&] { return s.SetStaticLayout(2, bad_start, 1); }, ErrorCode::kInvalidArgument,
      "cannot start at unit 4");
  refused(
      2, [&] { return s.SetStaticLayout(2, no_profile, 1); }, ErrorCode::kInvalidArgument, "no profile #99");
  refused(
      2, [&] { return s.SetStaticLayout(2, too_many, 1); }, ErrorCode::kInvalidArgument,
      "not legal on A100-40GB");
  refused(
      0, [&] { return s.SetStaticLayout(0, Balanced(), 1); }, ErrorCode::kFailedPrecondition, "1 job runs");
  refused(
      1, [&] { return s.SetStaticLayout(1, Sevens(), 1); }, ErrorCode::kFailedPrecondition, "1 job runs");
  refused(
      1, [&] { return s.SetStaticLayout(1, std::nullopt, 1); }, ErrorCode::kFailedPrecondition, "1 job runs");
  refused(
      2, [&] { return s.SetStaticLayout(2, Balanced(), 1); }, ErrorCode::kFailedPrecondition, "1 job runs");
  refused(
      2, [&] { return s.SetStaticLayout(2, std::nullopt, 1); }, ErrorCode::kFailedPrecondition, "1 job runs");
  refused(
      4, [&] { return s.SetStaticLayout(4, Balanced(), 1); }, ErrorCode::kFailedPrecondition, "removed");
  refused(
      1, [&] { return s.SetGpuMode(1, GpuMode::kDynamic, 1); }, ErrorCode::kFailedPrecondition,
      "switching static -> dynamic needs a GPU without jobs (1 running)");
  refused(
      1, [&] { return s.SetGpuMode(1, GpuMode::kWhole, 1); }, ErrorCode::kFailedPrecondition, "without jobs");
  refused(
      0, [&] { return s.SetGpuMode(0, GpuMode::kStatic, 1); }, ErrorCode::kInvalidArgument,
      "SetStaticLayout");

  // No-ops, jobs or not: nullopt on a dynamic GPU, the layout a static GPU already has.
  const std::string gpu0 = GpuState(s, 0), gpu1 = GpuState(s, 1);
  mig::Layout shuffled = Balanced();
  std::reverse(shuffled.begin(), shuffled.end());
  EXPECT_THAT(s.SetStaticLayout(0, std::nullopt, 1).value(), ElementsAre());
  EXPECT_THAT(s.SetStaticLayout(1, shuffled, 1).value(), ElementsAre());
  EXPECT_EQ(GpuState(s, 0), gpu0);
  EXPECT_EQ(GpuState(s, 1), gpu1);
  ExpectConsistent(s);
}

TEST(SchedulerStaticLayoutTest, CordonAndDrainStayInForceAcrossTheChange) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", A100(), 1, GpuMode::kDynamic));
  ASSERT_TRUE(s.SetGpuMode(0, GpuMode::kCordoned, 0));
  ASSERT_TRUE(s.SetStaticLayout(0, Balanced(), 10));
  EXPECT_EQ(s.gpu(0).mode, GpuMode::kCordoned);
  EXPECT_EQ(s.gpu(0).base_mode, GpuMode::kStatic);
  EXPECT_EQ(s.gpu(0).instances.size(), 4u);
  ExpectConsistent(s);
  const JobId a = SubmitAt(s, "1g.5gb", 20);
  EXPECT_TRUE(s.Schedule(30).empty());
  EXPECT_EQ(s.FindJob(a)->state, JobState::kPending);
  ASSERT_TRUE(s.SetGpuMode(0, GpuMode::kStatic, 40));  // uncordon: back to the new base mode
  EXPECT_EQ(Describe(s, s.Schedule(50)), (std::vector<std::string>{"bind job 1"}));
  ASSERT_TRUE(s.Finish(a, 60));

  // Draining static GPU back to dynamic: still draining, the layout gone, nothing new lands.
  ASSERT_TRUE(s.SetGpuMode(0, GpuMode::kDraining, 70));
  EXPECT_EQ(s.gpu(0).instances.size(), 4u);  // a drain keeps a static layout, as ever
  const Result<std::vector<Decision>> d = s.SetStaticLayout(0, std::nullopt, 80);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->size(), 4u);
  EXPECT_EQ(s.gpu(0).mode, GpuMode::kDraining);
  EXPECT_EQ(s.gpu(0).base_mode, GpuMode::kDynamic);
  ExpectConsistent(s);
  const JobId b = SubmitAt(s, "4g.20gb", 90);
  EXPECT_TRUE(s.Schedule(100).empty());
  EXPECT_EQ(s.FindJob(b)->state, JobState::kPending);
  ASSERT_TRUE(s.SetGpuMode(0, GpuMode::kDynamic, 110));  // uncordon
  EXPECT_EQ(Describe(s, s.Schedule(120)), (std::vector<std::string>{"create 4g.20gb@0", "bind job 2"}));
  ASSERT_TRUE(s.Finish(b, 130));

  // SetGpuMode's switch of kind, unlike SetStaticLayout, leaves the GPU in the mode it names.
  ASSERT_TRUE(s.SetStaticLayout(0, Balanced(), 140));
  ASSERT_TRUE(s.SetGpuMode(0, GpuMode::kCordoned, 150));
  ASSERT_TRUE(s.SetGpuMode(0, GpuMode::kWhole, 160));
  EXPECT_EQ(s.gpu(0).mode, GpuMode::kWhole);
  EXPECT_TRUE(s.gpu(0).instances.empty());
  ExpectConsistent(s);
}

TEST(SchedulerStaticLayoutTest, WarmIdleExpiryNeverDestroysALayout) {
  for (const bool demand : {true, false}) {
    SCOPED_TRACE(demand);
    Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}),
                SchedulerOptions{.warm_idle_ms = 1000, .demand_warm = demand});
    ASSERT_TRUE(s.AddNode("n1", A100(), 2, GpuMode::kDynamic));
    ASSERT_TRUE(s.SetStaticLayout(0, Balanced(), 0));
    // Jobs on both GPUs: the layout's 3g on GPU 0, a new 4g on GPU 1.
    const JobId on_static = SubmitAt(s, "3g.20gb", 0);
    const JobId on_dynamic = SubmitAt(s, "4g.20gb", 0);
    s.Schedule(0);
    ASSERT_EQ(s.FindJob(on_static)->bindings.size(), 1u);
    ASSERT_EQ(s.FindJob(on_dynamic)->bindings.size(), 1u);
    ASSERT_EQ(s.FindJob(on_static)->bindings[0].gpu, 0u);
    ASSERT_EQ(s.FindJob(on_dynamic)->bindings[0].gpu, 1u);
    ASSERT_TRUE(s.Finish(on_static, 10));
    ASSERT_TRUE(s.Finish(on_dynamic, 10));
    // Far past the warm window and any demand: only the dynamic GPU's instance goes.
    EXPECT_EQ(Describe(s, s.Schedule(10'000'000)), (std::vector<std::string>{"destroy 4g.20gb@0"}));
    EXPECT_EQ(s.gpu(0).instances.size(), 4u);
    EXPECT_TRUE(s.Schedule(20'000'000).empty());
    ExpectConsistent(s);
  }
}

TEST(SchedulerStaticLayoutTest, AReservationOnTheGpuIsDropped) {
  Scheduler s(Teams({{"nlp", 14'000}}, {"A100-40GB"}),
              SchedulerOptions{.reserve_after_ms = 0, .max_reservations = 2});
  ASSERT_TRUE(s.AddNode("n1", A100(), 2, GpuMode::kDynamic));
  SubmitAt(s, "1g.5gb", 0);
  s.Schedule(0);
  Job gang = SliceJob(s, "nlp", "7g.40gb");
  gang.count = 2;
  const JobId g = s.Submit(gang).value();
  s.Schedule(10);
  ASSERT_EQ(s.FindJob(g)->state, JobState::kPending);
  ASSERT_EQ(s.reservations().size(), 1u);
  ASSERT_EQ(s.reservations()[0].gpus.size(), 2u);
  const GpuRef empty = s.gpu(0).instances.empty() ? 0 : 1;
  ASSERT_TRUE(s.SetStaticLayout(empty, Sevens(), 20));
  EXPECT_TRUE(s.reservations().empty());
  EXPECT_FALSE(s.gpu(0).reserved_for.valid());
  EXPECT_FALSE(s.gpu(1).reserved_for.valid());
  ExpectConsistent(s);
  // The other GPU is open again: a 2g job (the layout has none) is placed there.
  const JobId next = SubmitAt(s, "2g.10gb", 30);
  s.Schedule(40);
  ASSERT_EQ(s.FindJob(next)->state, JobState::kRunning);
  EXPECT_EQ(s.FindJob(next)->bindings[0].gpu, 1 - empty);
  ExpectConsistent(s);
}

// After a server restart the layout is applied first, then running jobs are restored onto it:
// each takes the idle layout instance at its placement, none is created beside the layout.
TEST(SchedulerStaticLayoutTest, ARestoredJobTakesItsLayoutInstance) {
  Scheduler s(Teams({{"nlp", 7000}}, {"A100-40GB"}));
  ASSERT_TRUE(s.AddNode("n1", A100(), 1, GpuMode::kDynamic));
  ASSERT_TRUE(s.SetStaticLayout(0, Balanced(), 0));
  const JobId id =
      s.Restore(SliceJob(s, "nlp", "3g.20gb"), {{0, mig::Placement{P("3g.20gb"), 4}}}, 5).value();
  EXPECT_EQ(s.gpu(0).instances.size(), 4u);  // the layout's, no more
  ASSERT_EQ(s.FindJob(id)->bindings.size(), 1u);
  for (const Instance& i : s.gpu(0).instances)
    EXPECT_EQ(i.job.valid(), i.placement == (mig::Placement{P("3g.20gb"), 4}));
  // A placement the layout does not have, or one already taken, is refused.
  EXPECT_EQ(s.Restore(SliceJob(s, "nlp", "3g.20gb"), {{0, mig::Placement{P("3g.20gb"), 4}}}, 5).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.Restore(SliceJob(s, "nlp", "1g.5gb"), {{0, mig::Placement{P("1g.5gb"), 6}}}, 5).error().code,
            ErrorCode::kInvalidArgument);
  ExpectConsistent(s);
}

}  // namespace
}  // namespace gpuslice::sched
