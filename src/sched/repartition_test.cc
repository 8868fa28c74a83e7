// Repartition planner: unit tests for keep/destroy/create, blocked reasons, mix arrangement and
// reuse; RapidCheck properties over random reachable GPU states and random valid targets.
#include "sched/repartition.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "mig/catalog.h"

namespace gpuslice::sched {
namespace {

using mig::Geometry;
using mig::Layout;
using mig::Placement;
using ::testing::HasSubstr;
using Kind = RepartitionOp::Kind;

const Geometry& Gpu(std::string_view name) {
  static std::map<std::string, Geometry, std::less<>> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    const mig::GpuModel& m = *mig::Catalog::BuiltIn().Resolve(name).value().model;
    it = cache.emplace(std::string(name), Geometry::Build(m).value()).first;
  }
  return it->second;
}

const Geometry& A100() {
  return Gpu("A100-40GB");
}

int Q(const Geometry& g, std::string_view profile) {
  const int q = g.model().ProfileIndex(profile);
  EXPECT_GE(q, 0) << profile;
  return q;
}

Placement At(const Geometry& g, std::string_view profile, int start) {
  return {Q(g, profile), start};
}

GpuInstanceState Busy(GpuInstanceKey id, Placement p) {
  return {id, p, true};
}
GpuInstanceState Idle(GpuInstanceKey id, Placement p) {
  return {id, p, false};
}

RepartitionOp Destroy(GpuInstanceKey id, Placement p) {
  return {Kind::kDestroy, p, id};
}
RepartitionOp Create(Placement p) {
  return {Kind::kCreate, p, 0};
}

Layout Sorted(std::span<const GpuInstanceState> state) {
  Layout out;
  out.reserve(state.size());
  for (const GpuInstanceState& s : state) out.push_back(s.placement);
  std::sort(out.begin(), out.end());
  return out;
}

// Applies a plan the way an agent would, checking each step against the rules: a destroy names
// an idle instance that exists and comes before every create, a create is legal on the GPU as
// it is at that moment. Fresh instances get ids from 1000 on and are idle. Returns what went
// wrong, empty when every step was legal.
std::string Apply(const Geometry& g, std::vector<GpuInstanceState>& state,
                  std::span<const RepartitionOp> ops) {
  mig::Occupancy occ = g.Occupy(Sorted(state)).value();
  GpuInstanceKey next_id = 1000;
  bool creating = false;
  for (const RepartitionOp& op : ops) {
    if (op.kind == Kind::kCreate) {
      creating = true;
      if (!g.CanAdd(occ, op.placement)) return "illegal create of " + g.Describe(op.placement);
      g.Add(occ, op.placement);
      state.push_back({next_id++, op.placement, false});
      continue;
    }
    const auto it = std::find_if(state.begin(), state.end(),
                                 [&](const GpuInstanceState& s) { return s.id == op.instance; });
    if (creating || it == state.end() || it->busy || it->placement != op.placement) {
      return "bad destroy of instance " + std::to_string(op.instance);
    }
    g.Remove(occ, it->placement);
    state.erase(it);
  }
  return {};
}

// ---- Explicit layouts ----------------------------------------------------------------------

TEST(RepartitionTest, KeepsMatchingDestroysIdleCreatesMissing) {
  const Geometry& g = A100();
  const std::vector<GpuInstanceState> actual = {Busy(1, At(g, "3g.20gb", 4)), Idle(2, At(g, "2g.10gb", 0)),
                                                Idle(3, At(g, "1g.5gb", 2))};
  const auto target = RepartitionTarget::Explicit(
      {At(g, "1g.5gb", 0), At(g, "1g.5gb", 1), At(g, "1g.5gb", 2), At(g, "3g.20gb", 4)});
  const GpuPlanResult r = PlanGpu(g, actual, target).value();
  EXPECT_EQ(r.status, GpuPlanStatus::kPlanned);
  EXPECT_EQ(r.ops, (std::vector<RepartitionOp>{Destroy(2, At(g, "2g.10gb", 0)), Create(At(g, "1g.5gb", 0)),
                                               Create(At(g, "1g.5gb", 1))}));
  EXPECT_EQ(r.kept, 2);
  EXPECT_TRUE(r.matches_target);
  EXPECT_TRUE(r.note.empty());
  EXPECT_EQ(g.Describe(r.layout), "1g.5gb@0 1g.5gb@1 1g.5gb@2 3g.20gb@4");
}

TEST(RepartitionTest, UnchangedWhenActualIsTheTarget) {
  const Geometry& g = A100();
  const std::vector<GpuInstanceState> actual = {Idle(5, At(g, "4g.20gb", 0)), Busy(6, At(g, "3g.20gb", 4))};
  const GpuPlanResult r =
      PlanGpu(g, actual, RepartitionTarget::Explicit({At(g, "3g.20gb", 4), At(g, "4g.20gb", 0)})).value();
  EXPECT_EQ(r.status, GpuPlanStatus::kUnchanged);
  EXPECT_TRUE(r.ops.empty());
  EXPECT_EQ(r.kept, 2);
  EXPECT_TRUE(r.matches_target);
}

TEST(RepartitionTest, EmptyTargetDestroysOnlyIdleInstances) {
  const Geometry& g = A100();
  const std::vector<GpuInstanceState> actual = {Idle(1, At(g, "4g.20gb", 0)), Busy(2, At(g, "3g.20gb", 4))};
  const GpuPlanResult r = PlanGpu(g, actual, RepartitionTarget::Explicit({})).value();
  EXPECT_EQ(r.status, GpuPlanStatus::kPlanned);
  EXPECT_EQ(r.ops, std::vector<RepartitionOp>{Destroy(1, At(g, "4g.20gb", 0))});
  EXPECT_FALSE(r.matches_target);
  EXPECT_EQ(r.note, "kept busy instance 2 (3g.20gb@4) outside the target");
}

TEST(RepartitionTest, BlockedWhenABusyInstanceOverlapsTheTargetAndNoPartialPlan) {
  const Geometry& g = A100();
  const std::vector<GpuInstanceState> actual = {Idle(1, At(g, "1g.5gb", 0)), Busy(7, At(g, "3g.20gb", 4))};
  const auto target = RepartitionTarget::Explicit(
      {At(g, "4g.20gb", 0), At(g, "2g.10gb", 4), At(g, "1g.5gb", 6)});  // would need units 4-6
  const GpuPlanResult r = PlanGpu(g, actual, target).value();
  EXPECT_EQ(r.status, GpuPlanStatus::kBlocked);
  EXPECT_TRUE(r.ops.empty());
  EXPECT_EQ(r.reason, "busy instance 7 (3g.20gb@4) overlaps target 2g.10gb@4, 1g.5gb@6");
  EXPECT_EQ(g.Describe(r.layout), "1g.5gb@0 3g.20gb@4");
}

TEST(RepartitionTest, BlockedReasonNamesEveryConflictingBusyInstance) {
  const Geometry& g = A100();
  const std::vector<GpuInstanceState> actual = {Busy(1, At(g, "1g.5gb", 0)), Busy(2, At(g, "1g.5gb", 5))};
  const GpuPlanResult r = PlanGpu(g, actual, RepartitionTarget::Explicit({At(g, "7g.40gb", 0)})).value();
  EXPECT_EQ(r.status, GpuPlanStatus::kBlocked);
  EXPECT_EQ(r.reason,
            "busy instance 1 (1g.5gb@0) overlaps target 7g.40gb@0; "
            "busy instance 2 (1g.5gb@5) overlaps target 7g.40gb@0");
}

TEST(RepartitionTest, BusyInstanceBesideTheTargetIsKeptWithANote) {
  const Geometry& g = A100();
  const std::vector<GpuInstanceState> actual = {Busy(3, At(g, "1g.5gb", 6)), Idle(4, At(g, "4g.20gb", 0))};
  const auto target = RepartitionTarget::Explicit({At(g, "2g.10gb", 0), At(g, "2g.10gb", 2)});
  const GpuPlanResult r = PlanGpu(g, actual, target).value();
  EXPECT_EQ(r.status, GpuPlanStatus::kPlanned);
  EXPECT_EQ(r.ops, (std::vector<RepartitionOp>{Destroy(4, At(g, "4g.20gb", 0)), Create(At(g, "2g.10gb", 0)),
                                               Create(At(g, "2g.10gb", 2))}));
  EXPECT_EQ(r.kept_busy_outside_target, 1);
  EXPECT_FALSE(r.matches_target);
  EXPECT_THAT(r.note, HasSubstr("instance 3 (1g.5gb@6)"));
}

// Overlapping nothing is not enough: the union with the target must be a valid layout.
TEST(RepartitionTest, BusyInstanceBesideTheTargetThatBreaksARuleBlocks) {
  const Geometry& a100 = A100();
  const std::vector<GpuInstanceState> one_me = {Busy(3, At(a100, "1g.5gb+me", 6))};
  const GpuPlanResult maximum =
      PlanGpu(a100, one_me, RepartitionTarget::Explicit({At(a100, "1g.5gb+me", 0)})).value();
  EXPECT_EQ(maximum.status, GpuPlanStatus::kBlocked);
  EXPECT_EQ(maximum.reason,
            "busy instance 3 (1g.5gb+me@6) outside the target cannot stay beside it: "
            "2 x 1g.5gb+me exceeds the profile's maximum of 1 on A100-40GB");

  const Geometry& a30 = Gpu("A30");  // two different +me profiles, one media engine set
  const std::vector<GpuInstanceState> two_me = {Busy(4, At(a30, "2g.12gb+me", 2))};
  const GpuPlanResult media =
      PlanGpu(a30, two_me, RepartitionTarget::Explicit({At(a30, "1g.6gb+me", 0)})).value();
  EXPECT_EQ(media.status, GpuPlanStatus::kBlocked);
  EXPECT_THAT(media.reason, HasSubstr("busy instance 4 (2g.12gb+me@2) outside the target cannot stay"));
  EXPECT_THAT(media.reason, HasSubstr("media-engine rule"));
  EXPECT_TRUE(media.ops.empty());
}

TEST(RepartitionTest, InvalidTargetLayoutIsAnError) {
  const Geometry& g = A100();
  const Result<GpuPlanResult> r =
      PlanGpu(g, {}, RepartitionTarget::Explicit({At(g, "3g.20gb", 0), At(g, "2g.10gb", 2)}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr("target layout 3g.20gb@0 2g.10gb@2 is not valid for A100-40GB"));
  EXPECT_THAT(r.error().message, HasSubstr("overlaps"));
  const Result<GpuPlanResult> bad_start = PlanGpu(g, {}, RepartitionTarget::Explicit({At(g, "3g.20gb", 2)}));
  ASSERT_FALSE(bad_start);
  EXPECT_EQ(bad_start.error().code, ErrorCode::kInvalidArgument);
}

TEST(RepartitionTest, InvalidActualStateIsAnError) {
  const Geometry& g = A100();
  const auto target = RepartitionTarget::Explicit({});
  const std::vector<GpuInstanceState> overlapping = {Busy(1, At(g, "2g.10gb", 0)),
                                                     Idle(2, At(g, "1g.5gb", 1))};
  const Result<GpuPlanResult> r = PlanGpu(g, overlapping, target);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr("actual state"));
  const std::vector<GpuInstanceState> twice = {Busy(1, At(g, "1g.5gb", 0)), Idle(1, At(g, "1g.5gb", 1))};
  const Result<GpuPlanResult> dup = PlanGpu(g, twice, target);
  ASSERT_FALSE(dup);
  EXPECT_THAT(dup.error().message, HasSubstr("lists instance 1 twice"));
}

// ---- Profile mixes -------------------------------------------------------------------------

TEST(RepartitionTest, MixIsArrangedAroundABusyInstance) {
  const Geometry& g = A100();
  const int one = Q(g, "1g.5gb");
  const std::vector<GpuInstanceState> actual = {Busy(9, At(g, "3g.20gb", 4))};
  const GpuPlanResult r =
      PlanGpu(g, actual, RepartitionTarget::Mix({one, one, one, Q(g, "3g.20gb")})).value();
  EXPECT_EQ(r.status, GpuPlanStatus::kPlanned);
  EXPECT_TRUE(r.matches_target);
  EXPECT_EQ(r.kept, 1);
  ASSERT_EQ(r.ops.size(), 3u);
  for (const RepartitionOp& op : r.ops) {
    EXPECT_EQ(op.kind, Kind::kCreate);
    EXPECT_EQ(op.placement.profile, one);
    EXPECT_LT(op.placement.start, 4);
  }
  EXPECT_TRUE(g.Validate(r.layout));
}

TEST(RepartitionTest, MixReusesMatchingIdleInstances) {
  const Geometry& g = A100();
  const std::vector<GpuInstanceState> actual = {Idle(1, At(g, "2g.10gb", 0)), Idle(2, At(g, "1g.5gb", 2)),
                                                Idle(3, At(g, "3g.20gb", 4))};
  // Wants 2g + 2 x 1g: the 2g@0 and the 1g@2 stay, the 3g goes, one 1g is created.
  const int one = Q(g, "1g.5gb");
  const GpuPlanResult r = PlanGpu(g, actual, RepartitionTarget::Mix({one, Q(g, "2g.10gb"), one})).value();
  EXPECT_EQ(r.status, GpuPlanStatus::kPlanned);
  EXPECT_EQ(r.kept, 2);
  ASSERT_EQ(r.ops.size(), 2u);
  EXPECT_EQ(r.ops[0], Destroy(3, At(g, "3g.20gb", 4)));
  EXPECT_EQ(r.ops[1].kind, Kind::kCreate);
  EXPECT_EQ(r.ops[1].placement.profile, one);
}

TEST(RepartitionTest, MixAlreadySatisfiedIsUnchanged) {
  const Geometry& g = A100();
  const std::vector<GpuInstanceState> actual = {Idle(1, At(g, "3g.20gb", 0)), Busy(2, At(g, "3g.20gb", 4))};
  const int three = Q(g, "3g.20gb");
  const GpuPlanResult r = PlanGpu(g, actual, RepartitionTarget::Mix({three, three})).value();
  EXPECT_EQ(r.status, GpuPlanStatus::kUnchanged);
  EXPECT_TRUE(r.matches_target);
}

// An idle 1g.5gb@0 is wanted by the mix but keeping it leaves no room for the 4g (start 0 only):
// the planner destroys it and arranges the whole mix instead.
TEST(RepartitionTest, MixGivesUpReuseWhenReuseMakesItImpossible) {
  const Geometry& g = A100();
  const std::vector<GpuInstanceState> actual = {Idle(1, At(g, "1g.5gb", 0))};
  const GpuPlanResult r =
      PlanGpu(g, actual, RepartitionTarget::Mix({Q(g, "4g.20gb"), Q(g, "2g.10gb"), Q(g, "1g.5gb")})).value();
  EXPECT_EQ(r.status, GpuPlanStatus::kPlanned);
  EXPECT_EQ(r.ops.front(), Destroy(1, At(g, "1g.5gb", 0)));
  EXPECT_EQ(g.Describe(r.layout), "4g.20gb@0 2g.10gb@4 1g.5gb@6");
}

TEST(RepartitionTest, MixBlockedAroundBusyInstancesSaysWhy) {
  const Geometry& g = A100();
  const std::vector<GpuInstanceState> actual = {Busy(4, At(g, "1g.5gb", 5)), Idle(5, At(g, "1g.5gb", 0))};
  const GpuPlanResult r =
      PlanGpu(g, actual, RepartitionTarget::Mix({Q(g, "4g.20gb"), Q(g, "3g.20gb")})).value();
  EXPECT_EQ(r.status, GpuPlanStatus::kBlocked);
  EXPECT_TRUE(r.ops.empty());
  EXPECT_THAT(r.reason, HasSubstr("target mix [4g.20gb, 3g.20gb] cannot be arranged around busy "
                                  "instance 4 (1g.5gb@5)"));
}

TEST(RepartitionTest, MixKeepsBusyInstancesBeyondIt) {
  const Geometry& g = A100();
  const std::vector<GpuInstanceState> actual = {Busy(1, At(g, "1g.5gb", 6)), Busy(2, At(g, "1g.5gb", 5))};
  const GpuPlanResult r =
      PlanGpu(g, actual, RepartitionTarget::Mix({Q(g, "1g.5gb"), Q(g, "4g.20gb")})).value();
  EXPECT_EQ(r.status, GpuPlanStatus::kPlanned);
  EXPECT_EQ(r.ops, std::vector<RepartitionOp>{Create(At(g, "4g.20gb", 0))});
  EXPECT_FALSE(r.matches_target);
  EXPECT_EQ(r.kept_busy_outside_target, 1);
  EXPECT_EQ(r.note, "kept busy instance 1 (1g.5gb@6) outside the target");
}

TEST(RepartitionTest, InvalidMixIsAnError) {
  const Geometry& g = A100();
  const Result<GpuPlanResult> r = PlanGpu(g, {}, RepartitionTarget::Mix(std::vector<int>(8, Q(g, "1g.5gb"))));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr("does not fit an empty A100-40GB"));
  const Result<GpuPlanResult> unknown = PlanGpu(g, {}, RepartitionTarget::Mix({42}));
  ASSERT_FALSE(unknown);
  EXPECT_THAT(unknown.error().message, HasSubstr("profile #42"));
}

// ---- Fleet ---------------------------------------------------------------------------------

TEST(RepartitionTest, FleetSumsPerGpuResultsInInputOrder) {
  const Geometry& g = A100();
  const std::vector<GpuInstanceState> empty;
  const std::vector<GpuInstanceState> busy7 = {Busy(1, At(g, "7g.40gb", 0))};
  const std::vector<GpuInstanceState> idle = {Idle(1, At(g, "4g.20gb", 0))};
  const auto balanced = RepartitionTarget::Explicit(
      {At(g, "1g.5gb", 0), At(g, "1g.5gb", 1), At(g, "2g.10gb", 2), At(g, "3g.20gb", 4)});
  const auto bad = RepartitionTarget::Mix({-1});
  const std::vector<GpuRepartitionInput> fleet = {{&g, empty, &balanced},
                                                  {&g, busy7, &balanced},
                                                  {&g, idle, &balanced},
                                                  {&g, empty, &bad},
                                                  {nullptr, {}, &bad}};
  const FleetPlanResult r = PlanFleet(fleet);
  ASSERT_EQ(r.gpus.size(), 5u);
  EXPECT_EQ(r.gpus[0]->status, GpuPlanStatus::kPlanned);
  EXPECT_EQ(r.gpus[1]->status, GpuPlanStatus::kBlocked);
  EXPECT_EQ(r.gpus[2]->status, GpuPlanStatus::kPlanned);
  EXPECT_FALSE(r.gpus[3]);
  EXPECT_FALSE(r.gpus[4]);
  EXPECT_EQ(r.creates, 8);
  EXPECT_EQ(r.destroys, 1);
  EXPECT_EQ(r.kept, 1);
  EXPECT_EQ(r.planned, 2);
  EXPECT_EQ(r.blocked, 1);
  EXPECT_EQ(r.unchanged, 0);
  EXPECT_EQ(r.errors, 2);
}

// ---- Properties ----------------------------------------------------------------------------

struct ModelCase {
  const Geometry* geometry;
  std::vector<Layout> layouts;  // every valid layout, the empty one first
};

const std::vector<ModelCase>& Models() {
  static const std::vector<ModelCase> models = [] {
    std::vector<ModelCase> out;
    for (const mig::GpuModel& m : mig::Catalog::BuiltIn().models()) {
      if (!m.mig_capable) continue;
      ModelCase c{&Gpu(m.name), {Layout{}}};
      for (Layout& l : c.geometry->Enumerate()) c.layouts.push_back(std::move(l));
      out.push_back(std::move(c));
    }
    return out;
  }();
  return models;
}

// A reachable GPU state: a random valid layout, each instance busy or idle at random, distinct
// ids, listed in a random rotation of placement order.
std::vector<GpuInstanceState> GenActual(const ModelCase& m) {
  const Layout& l = m.layouts[*rc::gen::inRange<std::size_t>(0, m.layouts.size())];
  std::vector<GpuInstanceState> out;
  for (std::size_t i = 0; i < l.size(); ++i) out.push_back({100 + 3 * i, l[i], *rc::gen::arbitrary<bool>()});
  if (!out.empty()) {
    const auto shift = *rc::gen::inRange<std::size_t>(0, out.size());
    std::rotate(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(shift), out.end());
  }
  return out;
}

// A valid target layout; half the time one that holds every busy instance (so that fewer plans
// block), listed in reverse placement order.
Layout GenTarget(const ModelCase& m, std::span<const GpuInstanceState> actual) {
  std::vector<const Layout*> pool;
  if (*rc::gen::arbitrary<bool>()) {
    for (const Layout& l : m.layouts) {
      const bool holds_busy = std::all_of(actual.begin(), actual.end(), [&](const GpuInstanceState& s) {
        return !s.busy || std::find(l.begin(), l.end(), s.placement) != l.end();
      });
      if (holds_busy) pool.push_back(&l);
    }
  }
  if (pool.empty()) {
    for (const Layout& l : m.layouts) pool.push_back(&l);
  }
  Layout out = *pool[*rc::gen::inRange<std::size_t>(0, pool.size())];
  std::reverse(out.begin(), out.end());
  return out;
}

const ModelCase& GenModel() {
  const auto& models = Models();
  return models[*rc::gen::inRange<std::size_t>(0, models.size())];
}

// The common invariants of any plan that is not blocked, checked by applying it. Returns the
// state after the plan.
std::vector<GpuInstanceState> CheckApplied(const Geometry& g, std::span<const GpuInstanceState> actual,
                                           const GpuPlanResult& r) {
  std::vector<GpuInstanceState> after(actual.begin(), actual.end());
  if (const std::string bad = Apply(g, after, r.ops); !bad.empty()) RC_FAIL(bad);
  RC_ASSERT(g.Validate(Sorted(after)).has_value());
  RC_ASSERT(Sorted(after) == r.layout);
  for (const GpuInstanceState& s : actual) {
    if (!s.busy) continue;
    RC_ASSERT(
        std::any_of(after.begin(), after.end(), [&](const GpuInstanceState& a) { return a.id == s.id; }));
  }
  RC_ASSERT((r.status == GpuPlanStatus::kUnchanged) == r.ops.empty());
  // No churn: nothing is destroyed and recreated at the same placement.
  for (const RepartitionOp& d : r.ops) {
    for (const RepartitionOp& c : r.ops) {
      RC_ASSERT(!(d.kind == Kind::kDestroy && c.kind == Kind::kCreate && d.placement == c.placement));
    }
  }
  RC_ASSERT(r.kept + static_cast<int>(
                         std::count_if(r.ops.begin(), r.ops.end(),
                                       [](const RepartitionOp& op) { return op.kind == Kind::kDestroy; })) ==
            static_cast<int>(actual.size()));
  return after;
}

// Planning again from the state a plan produced (new instances idle) has nothing left to do.
void CheckIdempotent(const Geometry& g, std::span<const GpuInstanceState> after, const RepartitionTarget& t) {
  const GpuPlanResult again = PlanGpu(g, after, t).value();
  RC_ASSERT(again.status == GpuPlanStatus::kUnchanged);
}

RC_GTEST_PROP(RepartitionProperty, ExplicitPlansKeepBusyAndReachTargetPlusBusy, ()) {
  const ModelCase& m = GenModel();
  const Geometry& g = *m.geometry;
  const std::vector<GpuInstanceState> actual = GenActual(m);
  const Layout target = GenTarget(m, actual);
  const auto t = RepartitionTarget::Explicit(target);
  const GpuPlanResult r = PlanGpu(g, actual, t).value();

  Layout expected = target;  // target ∪ busy instances
  for (const GpuInstanceState& s : actual) {
    if (s.busy && std::find(target.begin(), target.end(), s.placement) == target.end()) {
      expected.push_back(s.placement);
    }
  }
  std::sort(expected.begin(), expected.end());
  RC_TAG(std::string(GpuPlanStatusName(r.status)));
  if (!g.Validate(expected)) {
    RC_ASSERT(r.status == GpuPlanStatus::kBlocked);
    RC_ASSERT(r.ops.empty());
    RC_ASSERT(!r.reason.empty());
    RC_ASSERT(r.layout == Sorted(actual));
    return;
  }
  RC_ASSERT(r.status != GpuPlanStatus::kBlocked);
  const std::vector<GpuInstanceState> after = CheckApplied(g, actual, r);
  RC_ASSERT(Sorted(after) == expected);
  RC_ASSERT(r.matches_target == (expected.size() == target.size()));
  for (const RepartitionOp& op : r.ops) {  // instances the target has are kept
    RC_ASSERT(op.kind == Kind::kCreate ||
              std::find(target.begin(), target.end(), op.placement) == target.end());
  }
  CheckIdempotent(g, after, t);
}

// Profile counts of a layout.
std::map<int, int> Counts(std::span<const Placement> layout) {
  std::map<int, int> out;
  for (Placement p : layout) ++out[p.profile];
  return out;
}

// Whether some valid layout holds every busy instance and exactly max(wanted, busy) instances of
// each profile: what a mix plan must reach unless it is blocked.
bool MixReachable(const ModelCase& m, std::span<const GpuInstanceState> actual,
                  const std::map<int, int>& want) {
  std::map<int, int> need = want;
  std::vector<Placement> busy;
  for (const GpuInstanceState& s : actual) {
    if (s.busy) busy.push_back(s.placement);
  }
  for (const auto& [q, n] : Counts(busy)) need[q] = std::max(need[q], n);
  std::erase_if(need, [](const auto& kv) { return kv.second == 0; });
  return std::any_of(m.layouts.begin(), m.layouts.end(), [&](const Layout& l) {
    return Counts(l) == need && std::all_of(busy.begin(), busy.end(), [&](Placement p) {
             return std::find(l.begin(), l.end(), p) != l.end();
           });
  });
}

RC_GTEST_PROP(RepartitionProperty, MixPlansKeepBusyAndReachTheMixWheneverPossible, ()) {
  const ModelCase& m = GenModel();
  const Geometry& g = *m.geometry;
  const std::vector<GpuInstanceState> actual = GenActual(m);
  const Layout source = m.layouts[*rc::gen::inRange<std::size_t>(0, m.layouts.size())];
  std::vector<int> mix;
  for (Placement p : source) mix.push_back(p.profile);
  std::reverse(mix.begin(), mix.end());
  const auto t = RepartitionTarget::Mix(mix);
  const GpuPlanResult r = PlanGpu(g, actual, t).value();
  RC_TAG(std::string(GpuPlanStatusName(r.status)));

  const std::map<int, int> want = Counts(source);
  if (!MixReachable(m, actual, want)) {
    RC_ASSERT(r.status == GpuPlanStatus::kBlocked);
    RC_ASSERT(r.ops.empty());
    RC_ASSERT(!r.reason.empty());
    return;
  }
  RC_ASSERT(r.status != GpuPlanStatus::kBlocked);
  const std::vector<GpuInstanceState> after = CheckApplied(g, actual, r);
  std::map<int, int> busy_counts;
  for (const GpuInstanceState& s : actual) busy_counts[s.placement.profile] += s.busy ? 1 : 0;
  for (const auto& [q, n] : Counts(Sorted(after))) {
    const int wanted = want.contains(q) ? want.at(q) : 0;
    RC_ASSERT(n == std::max(wanted, busy_counts[q]));
  }
  for (const auto& [q, n] : want) RC_ASSERT(Counts(Sorted(after))[q] >= n);
  CheckIdempotent(g, after, t);
}

RC_GTEST_PROP(RepartitionProperty, PlansDoNotDependOnTheOrderOfInstances, ()) {
  const ModelCase& m = GenModel();
  const Geometry& g = *m.geometry;
  std::vector<GpuInstanceState> actual = GenActual(m);
  const bool mix = *rc::gen::arbitrary<bool>();
  Layout target = GenTarget(m, actual);
  std::vector<int> profiles;
  for (Placement p : target) profiles.push_back(p.profile);
  const RepartitionTarget t = mix ? RepartitionTarget::Mix(profiles) : RepartitionTarget::Explicit(target);
  const GpuPlanResult first = PlanGpu(g, actual, t).value();
  std::reverse(actual.begin(), actual.end());
  RC_ASSERT(PlanGpu(g, actual, t).value() == first);
}

}  // namespace
}  // namespace gpuslice::sched
