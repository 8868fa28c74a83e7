// QuotaTree against hand-computed values: the two worked examples of reference
// placement-and-quota.md §2.2, a flat cohort with borrowing and lending limits, a nested tree,
// quota cuts, moves, dominant shares, reasons and input errors. Every expected number below is
// derived in the comment beside it from the §2.2 formulas, not read off the implementation.
#include "sched/quota.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

namespace gpuslice::sched {
namespace {

using ::testing::HasSubstr;

MilliGpu M(std::int64_t v) {
  return MilliGpu(v);
}

ClassQuota Nominal(std::int64_t n, std::optional<std::int64_t> borrowing = std::nullopt,
                   std::optional<std::int64_t> lending = std::nullopt) {
  ClassQuota q;
  q.nominal = M(n);
  if (borrowing) q.borrowing_limit = M(*borrowing);
  if (lending) q.lending_limit = M(*lending);
  return q;
}

// --- §2.2 worked examples (GPU counts ×1000) ------------------------------------------------------

TEST(QuotaDocExamples, LendingLimitLimitsWhatTheOtherTeamGets) {
  // A(9) + B(12, lendingLimit 1): potentialAvailable(A) = 0 + (9 + 1) = 10, B = 11 + 10 = 21.
  QuotaTree tree;
  const ClassId gpu = *tree.AddClass("A100-80GB");
  const QuotaNodeId cohort = *tree.AddCohort("cohort");
  const QuotaNodeId a = *tree.AddTeam("A", cohort);
  const QuotaNodeId b = *tree.AddTeam("B", cohort);
  ASSERT_TRUE(tree.SetQuota(a, gpu, Nominal(9000)));
  ASSERT_TRUE(tree.SetQuota(b, gpu, Nominal(12000, std::nullopt, 1000)));
  EXPECT_EQ(*tree.LocalQuota(b, gpu), M(11000));
  EXPECT_EQ(*tree.SubtreeQuota(cohort, gpu), M(10000));
  EXPECT_EQ(*tree.PotentialAvailable(a, gpu), M(10000));
  EXPECT_EQ(*tree.PotentialAvailable(b, gpu), M(21000));
  EXPECT_EQ(*tree.Available(a, gpu), M(10000));
  EXPECT_EQ(*tree.Available(b, gpu), M(21000));
}

TEST(QuotaDocExamples, BorrowingLimitCapsTheBorrower) {
  // A(9, borrowingLimit 1) + B(12): A ≤ min(21, 10) = 10.
  QuotaTree tree;
  const ClassId gpu = *tree.AddClass("A100-80GB");
  const QuotaNodeId cohort = *tree.AddCohort("cohort");
  const QuotaNodeId a = *tree.AddTeam("A", cohort);
  const QuotaNodeId b = *tree.AddTeam("B", cohort);
  ASSERT_TRUE(tree.SetQuota(a, gpu, Nominal(9000, 1000)));
  ASSERT_TRUE(tree.SetQuota(b, gpu, Nominal(12000)));
  EXPECT_EQ(*tree.SubtreeQuota(cohort, gpu), M(21000));
  EXPECT_EQ(*tree.PotentialAvailable(a, gpu), M(10000));
  EXPECT_EQ(*tree.PotentialAvailable(b, gpu), M(21000));
  EXPECT_EQ(*tree.Available(a, gpu), M(10000));

  Result<FitResult> ten = tree.CheckFit(a, {{gpu, M(10000)}});
  ASSERT_TRUE(ten);
  EXPECT_EQ(ten->mode, FitMode::kFitBorrowing);
  EXPECT_EQ(ten->borrow_level, 1);
  Result<FitResult> more = tree.CheckFit(a, {{gpu, M(10001)}});
  ASSERT_TRUE(more);
  EXPECT_EQ(more->mode, FitMode::kNoFit);
  EXPECT_FALSE(more->preemption_can_help);  // beyond potentialAvailable: nothing to evict helps
  EXPECT_THAT(more->reason, HasSubstr("at most 10000"));
  EXPECT_THAT(more->reason, HasSubstr("nominal 9000 + borrowing limit 1000"));
}

// --- A flat cohort --------------------------------------------------------------------------------
// research (root, nominal 0): nlp 1000 (borrowing limit 300), vision 2000, speech 1000 (lending
// limit 400, so localQuota 600). SubtreeQuota(research) = 1000 + 2000 + (1000 − 600) = 3400.
class FlatCohort : public ::testing::Test {
 protected:
  void SetUp() override {
    gpu = *tree.AddClass("A100-80GB");
    research = *tree.AddCohort("research");
    nlp = *tree.AddTeam("nlp", research);
    vision = *tree.AddTeam("vision", research);
    speech = *tree.AddTeam("speech", research);
    ASSERT_TRUE(tree.SetQuota(nlp, gpu, Nominal(1000, 300)));
    ASSERT_TRUE(tree.SetQuota(vision, gpu, Nominal(2000)));
    ASSERT_TRUE(tree.SetQuota(speech, gpu, Nominal(1000, std::nullopt, 400)));
  }
  QuotaRequest Req(std::int64_t v) const { return {{gpu, M(v)}}; }
  std::int64_t Avail(QuotaNodeId n) const { return tree.Available(n, gpu)->value(); }
  std::int64_t Used(QuotaNodeId n) const { return tree.Usage(n, gpu)->value(); }

  QuotaTree tree;
  ClassId gpu;
  QuotaNodeId research, nlp, vision, speech;
};

TEST_F(FlatCohort, EmptyTreeCapacities) {
  EXPECT_EQ(*tree.SubtreeQuota(research, gpu), M(3400));
  EXPECT_EQ(*tree.LocalQuota(speech, gpu), M(600));
  EXPECT_EQ(*tree.PotentialAvailable(nlp, gpu), M(1300));     // min(0 + 3400, 1000 + 300)
  EXPECT_EQ(*tree.PotentialAvailable(vision, gpu), M(3400));  // 0 + 3400
  EXPECT_EQ(*tree.PotentialAvailable(speech, gpu), M(4000));  // 600 + 3400
  EXPECT_EQ(Avail(nlp), 1300);
  EXPECT_EQ(Avail(speech), 4000);
}

TEST_F(FlatCohort, AdmitBorrowAndSpill) {
  // vision takes 2500: 500 above its nominal, so borrowing at level 1 (the cohort's height).
  Result<FitResult> v = tree.Admit(vision, Req(2500));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->mode, FitMode::kFitBorrowing);
  EXPECT_EQ(v->borrow_level, 1);
  EXPECT_EQ(Used(research), 2500);  // vision has no local quota: all of it spills up
  EXPECT_TRUE(*tree.IsBorrowing(vision, gpu));
  // nlp: 0 + min(3400 − 2500, (1000 − 0) − 0 + 300) = 900; speech: 600 + 900 = 1500.
  EXPECT_EQ(Avail(nlp), 900);
  EXPECT_EQ(Avail(speech), 1500);

  Result<FitResult> n = tree.Admit(nlp, Req(900));
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(n->mode, FitMode::kFit);
  EXPECT_EQ(n->borrow_level, 0);
  EXPECT_FALSE(*tree.IsBorrowing(nlp, gpu));
  EXPECT_EQ(Used(research), 3400);
  EXPECT_EQ(Avail(nlp), 0);       // 0 + min(3400 − 3400, 100 + 300)
  EXPECT_EQ(Avail(speech), 600);  // only its local quota is left

  // speech's first 600 stay below its local quota: nothing spills to the cohort.
  ASSERT_TRUE(tree.Admit(speech, Req(600)));
  EXPECT_EQ(Used(research), 3400);
  EXPECT_EQ(Avail(speech), 0);
  // The next 100 are within speech's nominal, but its 400 lendable were lent to vision.
  Result<FitResult> s = tree.CheckFit(speech, Req(100));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->mode, FitMode::kNoFit);
  EXPECT_TRUE(s->preemption_can_help);
  EXPECT_TRUE(s->within_nominal);

  // Releasing spills back down: vision returns 1000 → research 2400.
  ASSERT_TRUE(tree.Release(vision, Req(1000)));
  EXPECT_EQ(Used(vision), 1500);
  EXPECT_EQ(Used(research), 2400);
  EXPECT_FALSE(*tree.IsBorrowing(vision, gpu));
  EXPECT_EQ(Avail(speech), 1000);  // 0 + (3400 − 2400)
}

TEST_F(FlatCohort, NoFitReasonShowsTheArithmetic) {
  ASSERT_TRUE(tree.Admit(vision, Req(2500)));
  ASSERT_TRUE(tree.Admit(nlp, Req(900)));
  Result<FitResult> r = tree.CheckFit(nlp, Req(500));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mode, FitMode::kNoFit);
  EXPECT_TRUE(r->preemption_can_help);  // 500 ≤ potentialAvailable 1300
  EXPECT_TRUE(r->within_nominal);       // 500 ≤ nominal 1000
  EXPECT_EQ(r->reason,
            "team nlp needs 500 mGPU of A100-80GB but only 0 is available (500 short): nominal 1000, "
            "used 900; cohort research has 0 left (quota 3400, in use 3400); 100 of the team's own "
            "unused 100 is in use by others");
  ASSERT_EQ(r->classes.size(), 1u);
  EXPECT_EQ(r->classes[0].available, M(0));
  EXPECT_EQ(r->classes[0].potential_available, M(1300));
  // Refused: nothing changes.
  Result<FitResult> refused = tree.Admit(nlp, Req(500));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(refused.error().message, r->reason);
  EXPECT_EQ(Used(nlp), 900);
  EXPECT_EQ(Used(research), 3400);
}

TEST_F(FlatCohort, BorrowingLimitReason) {
  // nlp at 1200 (borrowing 200 of its 300): cap = (1000 − 0) − 1200 + 300 = 100 < 2200 left.
  ASSERT_TRUE(tree.Admit(nlp, Req(1200)));
  EXPECT_EQ(Avail(nlp), 100);
  Result<FitResult> r = tree.CheckFit(nlp, Req(150));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mode, FitMode::kNoFit);
  EXPECT_EQ(r->reason,
            "team nlp needs 150 mGPU of A100-80GB but only 100 is available (50 short): nominal 1000, "
            "used 1200; borrowing limit 300 caps team nlp at 1300, so it can take only 100 more from "
            "cohort research (which has 2200)");
  // Kueue compares the request alone with the nominal: preempting nlp's own work could make room.
  EXPECT_TRUE(r->within_nominal);
  EXPECT_TRUE(r->preemption_can_help);  // 150 ≤ potentialAvailable 1300
  Result<FitResult> big = tree.CheckFit(nlp, Req(1100));
  ASSERT_TRUE(big);
  EXPECT_FALSE(big->within_nominal);  // 1100 > nominal 1000
  EXPECT_TRUE(big->preemption_can_help);
  ASSERT_TRUE(tree.Admit(nlp, Req(100)));
  EXPECT_EQ(Avail(nlp), 0);
}

TEST_F(FlatCohort, CountsOwnUnusedInCohortReason) {
  // nlp uses 400; vision 2000; speech 0. research has 3400 − 2400 = 1000, which includes nlp's
  // unused 600. nlp asks 1300 > available min(1000, 600 + 300) = 900.
  ASSERT_TRUE(tree.Admit(nlp, Req(400)));
  ASSERT_TRUE(tree.Admit(vision, Req(2000)));
  EXPECT_EQ(Avail(nlp), 900);
  Result<FitResult> r = tree.CheckFit(nlp, Req(950));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason,
            "team nlp needs 950 mGPU of A100-80GB but only 900 is available (50 short): nominal 1000, "
            "used 400; borrowing limit 300 caps team nlp at 1300, so it can take only 900 more from "
            "cohort research (which has 1000)");
  Result<FitResult> speech_ask = tree.CheckFit(speech, Req(1700));
  ASSERT_TRUE(speech_ask);
  EXPECT_EQ(speech_ask->reason,
            "team speech needs 1700 mGPU of A100-80GB but only 1600 is available (100 short): nominal "
            "1000, used 0, lending limit 400 keeps 600 for it (600 unused); cohort research has "
            "1000 left (quota 3400, in use 2400), counting the team's own unused 400");
}

TEST_F(FlatCohort, QuotaShrinkMakesAvailableNegative) {
  ASSERT_TRUE(tree.Admit(vision, Req(2500)));
  ASSERT_TRUE(tree.Admit(nlp, Req(900)));
  // vision's nominal 2000 → 1000: SubtreeQuota(research) = 1000 + 1000 + 400 = 2400 < 3400 used.
  ASSERT_TRUE(tree.SetQuota(vision, gpu, Nominal(1000)));
  EXPECT_EQ(*tree.SubtreeQuota(research, gpu), M(2400));
  EXPECT_EQ(Used(research), 3400);
  EXPECT_EQ(Avail(research), -1000);
  EXPECT_EQ(Avail(nlp), -1000);    // 0 + min(−1000, 100 + 300)
  EXPECT_EQ(Avail(speech), -400);  // 600 + (−1000)
  // Admission of any positive amount is refused, and usage is untouched.
  EXPECT_FALSE(tree.Admit(speech, Req(100)));
  EXPECT_EQ(Used(vision), 2500);
  // Releases still work and bring the tree back.
  ASSERT_TRUE(tree.Release(vision, Req(2500)));
  EXPECT_EQ(Used(research), 900);
  EXPECT_EQ(Avail(research), 1500);
}

TEST_F(FlatCohort, LendingLimitChangeRecomputesTheCohort) {
  ASSERT_TRUE(tree.Admit(speech, Req(800)));  // localQuota 600 → 200 spill to research
  EXPECT_EQ(Used(research), 200);
  // Lending limit removed: localQuota 0, SubtreeQuota(research) = 4000, all 800 spill.
  ASSERT_TRUE(tree.SetQuota(speech, gpu, Nominal(1000)));
  EXPECT_EQ(*tree.SubtreeQuota(research, gpu), M(4000));
  EXPECT_EQ(Used(research), 800);
  // Lending limit 0: everything local. SubtreeQuota(research) = 3000, speech stores nothing up.
  ASSERT_TRUE(tree.SetQuota(speech, gpu, Nominal(1000, std::nullopt, 0)));
  EXPECT_EQ(*tree.SubtreeQuota(research, gpu), M(3000));
  EXPECT_EQ(Used(research), 0);
  EXPECT_EQ(Avail(speech), 200 + 3000);  // local 1000 − 800, plus the cohort's 3000
}

TEST_F(FlatCohort, DominantShares) {
  ASSERT_TRUE(tree.Admit(vision, Req(2500)));
  ASSERT_TRUE(tree.Admit(nlp, Req(900)));
  // vision: borrowed 500, lendable potentialAvailable(research) = 3400: 1000·500/3400 = 147.06.
  DominantShare v = *tree.Share(vision);
  EXPECT_TRUE(v.borrowing);
  EXPECT_EQ(v.dominant, gpu);
  EXPECT_EQ(v.borrowed, M(500));
  EXPECT_EQ(v.lendable, M(3400));
  EXPECT_EQ(v.RatioMilli(), 148);
  EXPECT_EQ(v.WeightedShare(), 148);
  EXPECT_NEAR(v.SortKey(), 147.0588, 1e-3);
  // nlp is within nominal: share 0, not borrowing. With a 300 request: 1200 − 1000 = 200 → 58.8.
  DominantShare n = *tree.Share(nlp);
  EXPECT_FALSE(n.borrowing);
  EXPECT_EQ(n.RatioMilli(), 0);
  DominantShare n_with = *tree.Share(nlp, nlp, Req(300));
  EXPECT_TRUE(n_with.borrowing);
  EXPECT_EQ(n_with.RatioMilli(), 59);
  EXPECT_LT(n, v);
  EXPECT_LT(n_with, v);
  // Weight 2 halves vision's share: 73.53 → 74; still above nlp-with-request (58.8).
  ASSERT_TRUE(tree.SetWeight(vision, 2));
  v = *tree.Share(vision);
  EXPECT_EQ(v.WeightedShare(), 74);
  EXPECT_GT(v, n_with);
  // Weight 3: 49.02 < 58.8.
  ASSERT_TRUE(tree.SetWeight(vision, 3));
  EXPECT_LT(*tree.Share(vision), n_with);
  // Weight 0: +inf while borrowing, 0 when not.
  ASSERT_TRUE(tree.SetWeight(nlp, 0));
  EXPECT_EQ(tree.Share(nlp)->WeightedShare(), 0);
  DominantShare zero = *tree.Share(nlp, nlp, Req(300));
  EXPECT_TRUE(zero.infinite());
  EXPECT_EQ(zero.WeightedShare(), std::numeric_limits<std::int64_t>::max());
  EXPECT_GT(zero, *tree.Share(vision));
  // The root has no share.
  EXPECT_FALSE(tree.Share(research)->borrowing);
}

TEST(QuotaShare, ExactComparisonAndClassTies) {
  // Two classes with equal ratios 1/3: the alphabetically smaller class is dominant.
  QuotaTree tree;
  const ClassId h100 = *tree.AddClass("H100");
  const ClassId a100 = *tree.AddClass("A100");
  const QuotaNodeId root = *tree.AddCohort("root");
  const QuotaNodeId t = *tree.AddTeam("t", root);
  const QuotaNodeId u = *tree.AddTeam("u", root);
  for (ClassId c : {h100, a100}) ASSERT_TRUE(tree.SetQuota(t, c, Nominal(0)));
  ASSERT_TRUE(tree.SetQuota(u, h100, Nominal(3000)));
  ASSERT_TRUE(tree.SetQuota(u, a100, Nominal(6000)));
  ASSERT_TRUE(tree.Admit(t, {{h100, M(1000)}, {a100, M(2000)}}));
  DominantShare s = *tree.Share(t);
  EXPECT_EQ(s.dominant, a100);
  EXPECT_EQ(s.RatioMilli(), 334);  // ceil(333.33)
  // 1/3 vs 333/1000: exact order says 1/3 is larger although both round to 334 / 333.
  DominantShare third{true, a100, M(1), M(3), 1};
  DominantShare near{true, a100, M(333), M(1000), 1};
  EXPECT_GT(third, near);
  DominantShare same{true, h100, M(2), M(6), 1};
  EXPECT_EQ(third, same);
}

// --- Nested cohorts -------------------------------------------------------------------------------
// org (root, nominal 1000)
//   lab (nominal 0, borrowing limit 500): t1 2000; t2 1000 with lending limit 200 (local 800)
//   ops (nominal 0, lending limit 300):   t3 1500                     (ops local 1500 − 300)
// SubtreeQuota: lab = 2000 + (1000 − 800) = 2200; ops = 1500, local 1200;
// org = 1000 + 2200 + (1500 − 1200) = 3500.
class NestedTree : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<QuotaNodeSpec> specs = {
        {"t3", true, "ops", 1, {{"A100", Nominal(1500)}}},
        {"t1", true, "lab", 1, {{"A100", Nominal(2000)}}},
        {"t2", true, "lab", 1, {{"A100", Nominal(1000, std::nullopt, 200)}}},
        {"lab", false, "org", 1, {{"A100", Nominal(0, 500)}}},
        {"ops", false, "org", 1, {{"A100", Nominal(0, std::nullopt, 300)}}},
        {"org", false, "", 1, {{"A100", Nominal(1000)}}},
    };
    Result<QuotaTree> built = QuotaTree::Build(specs);
    ASSERT_TRUE(built) << built.error().message;
    tree = std::move(*built);
    gpu = *tree.FindClass("A100");
    for (auto [name, id] :
         {std::pair{"org", &org}, {"lab", &lab}, {"ops", &ops}, {"t1", &t1}, {"t2", &t2}, {"t3", &t3}}) {
      *id = *tree.Find(name);
    }
  }
  QuotaRequest Req(std::int64_t v) const { return {{gpu, M(v)}}; }
  std::int64_t Avail(QuotaNodeId n) const { return tree.Available(n, gpu)->value(); }
  std::int64_t Used(QuotaNodeId n) const { return tree.Usage(n, gpu)->value(); }
  std::int64_t Potential(QuotaNodeId n) const { return tree.PotentialAvailable(n, gpu)->value(); }

  QuotaTree tree;
  ClassId gpu;
  QuotaNodeId org, lab, ops, t1, t2, t3;
};

TEST_F(NestedTree, Capacities) {
  EXPECT_EQ(tree.parent(t1), lab);
  EXPECT_EQ(tree.parent(lab), org);
  EXPECT_EQ(*tree.SubtreeQuota(lab, gpu), M(2200));
  EXPECT_EQ(*tree.LocalQuota(ops, gpu), M(1200));
  EXPECT_EQ(*tree.SubtreeQuota(org, gpu), M(3500));
  EXPECT_EQ(Potential(org), 3500);
  EXPECT_EQ(Potential(lab), 2700);  // min(0 + 3500, 2200 + 500)
  EXPECT_EQ(Potential(t1), 2700);
  EXPECT_EQ(Potential(t2), 3500);   // 800 + 2700
  EXPECT_EQ(Potential(ops), 4700);  // 1200 + 3500
  EXPECT_EQ(Potential(t3), 4700);
}

TEST_F(NestedTree, BorrowAcrossLevels) {
  // t1 takes 2600: lab would use 2600 > 2200, org 2600 ≤ 3500 → level = height(org) = 2.
  Result<FitResult> r = tree.Admit(t1, Req(2600));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->mode, FitMode::kFitBorrowing);
  EXPECT_EQ(r->borrow_level, 2);
  EXPECT_EQ(Used(lab), 2600);
  EXPECT_EQ(Used(org), 2600);
  // lab: 0 + min(3500 − 2600, 2200 − 2600 + 500) = 100; t2: 800 + 100; ops: 1200 + 900.
  EXPECT_EQ(Avail(lab), 100);
  EXPECT_EQ(Avail(t1), 100);
  EXPECT_EQ(Avail(t2), 900);
  EXPECT_EQ(Avail(t3), 2100);

  Result<FitResult> no = tree.CheckFit(t1, Req(200));
  ASSERT_TRUE(no);
  EXPECT_EQ(no->reason,
            "team t1 needs 200 mGPU of A100 but only 100 is available (100 short): nominal 2000, used "
            "2600; cohort lab can give 100; borrowing limit 500 caps cohort lab at 2700, so it can take "
            "only 100 more from cohort org (which has 900)");

  // t3 takes 2100: ops 2100 > 1500; remaining 2100 − 1200 local = 900 fits org (2600 + 900).
  r = tree.Admit(t3, Req(2100));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->borrow_level, 2);
  EXPECT_EQ(Used(ops), 2100);
  EXPECT_EQ(Used(org), 3500);  // 2600 + max(0, 2100 − 1200)
  EXPECT_EQ(Avail(t2), 800);   // its local quota only

  // t2 within its local quota: fits at level 0 and spills nothing.
  r = tree.Admit(t2, Req(800));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mode, FitMode::kFit);
  EXPECT_EQ(Used(lab), 2600);

  // Shares: lab 400 / potentialAvailable(org) 3500 = 114.3; t1 600 / potential(lab) 2700 = 222.2;
  // ops 600 / 3500 = 171.4.
  EXPECT_EQ(tree.Share(lab)->RatioMilli(), 115);
  EXPECT_EQ(tree.Share(t1)->RatioMilli(), 223);
  EXPECT_EQ(tree.Share(ops)->RatioMilli(), 172);
  // lab's share were t2 to get 100 more: t2 is at its local quota 800, so all 100 spill into
  // lab: usage 2700, borrowed 500, 1000·500/3500 = 142.86.
  Result<DominantShare> lab_with = tree.Share(lab, t2, Req(100));
  ASSERT_TRUE(lab_with);
  EXPECT_EQ(lab_with->borrowed, M(500));
  EXPECT_EQ(lab_with->RatioMilli(), 143);
  EXPECT_FALSE(tree.Share(ops, t1, Req(100)));  // t1 is not below ops
}

TEST_F(NestedTree, MoveCarriesUsage) {
  ASSERT_TRUE(tree.Admit(t1, Req(2600)));
  ASSERT_TRUE(tree.Admit(t3, Req(1000)));
  // t3 (1000 used) moves from ops to lab: lab = 2200 + 1500 quota, 2600 + 1000 used;
  // ops empty; org = 1000 + 3700 + 0 = 4700 quota, 3600 used.
  ASSERT_TRUE(tree.SetParent(t3, lab));
  EXPECT_EQ(*tree.SubtreeQuota(lab, gpu), M(3700));
  EXPECT_EQ(Used(lab), 3600);
  EXPECT_EQ(Used(ops), 0);
  EXPECT_EQ(*tree.SubtreeQuota(ops, gpu), M(0));
  EXPECT_EQ(*tree.SubtreeQuota(org, gpu), M(4700));
  EXPECT_EQ(Used(org), 3600);
  // A cohort cannot go below its own descendant, nor under a team.
  Result<void> cycle = tree.SetParent(org, lab);
  ASSERT_FALSE(cycle);
  EXPECT_EQ(cycle.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(cycle.error().message, HasSubstr("cycle"));
  EXPECT_FALSE(tree.SetParent(lab, t1));
  // Made a root, t3 cannot borrow: it keeps its usage and its own 1500.
  ASSERT_TRUE(tree.SetParent(t3, QuotaNodeId()));
  EXPECT_EQ(Avail(t3), 500);
  Result<FitResult> r = tree.CheckFit(t3, Req(600));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason,
            "team t3 needs 600 mGPU of A100 but only 500 is available (100 short): nominal 1500, used "
            "1000; it is in no cohort, so it cannot borrow");
  r = tree.CheckFit(t3, Req(1600));
  EXPECT_EQ(r->reason,
            "team t3 needs 1600 mGPU of A100, more than it can ever get: at most 1500 even with all "
            "other work gone (its nominal 1500; it is in no cohort)");
}

// --- Classes, requests and errors -------------------------------------------------------------------

TEST(QuotaFit, TeamUsesOnlyClassesItHasAnEntryFor) {
  QuotaTree tree;
  const ClassId a100 = *tree.AddClass("A100");
  const ClassId h100 = *tree.AddClass("H100");
  const QuotaNodeId root = *tree.AddCohort("root");
  const QuotaNodeId t = *tree.AddTeam("t", root);
  const QuotaNodeId rich = *tree.AddTeam("rich", root);
  ASSERT_TRUE(tree.SetQuota(t, a100, Nominal(1000)));
  ASSERT_TRUE(tree.SetQuota(rich, h100, Nominal(8000)));
  EXPECT_EQ(*tree.Available(t, h100), M(8000));  // the arithmetic
  Result<FitResult> r = tree.CheckFit(t, {{a100, M(500)}, {h100, M(500)}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mode, FitMode::kNoFit);
  EXPECT_FALSE(r->preemption_can_help);
  EXPECT_THAT(r->reason, HasSubstr("team t needs 500 mGPU of H100 but has no quota entry for it"));
  ASSERT_EQ(r->classes.size(), 2u);
  EXPECT_EQ(r->classes[0].mode, FitMode::kFit);
  EXPECT_EQ(r->classes[1].mode, FitMode::kNoFit);
  // An entry with nominal 0 is enough to borrow.
  ASSERT_TRUE(tree.SetQuota(t, h100, Nominal(0)));
  r = tree.Admit(t, {{a100, M(500)}, {h100, M(250)}, {h100, M(250)}, {a100, M(0)}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->mode, FitMode::kFitBorrowing);
  EXPECT_EQ(*tree.Usage(t, h100), M(500));  // duplicates added, zero ignored
  EXPECT_EQ(*tree.Usage(t, a100), M(500));
  // Empty request: fits trivially.
  EXPECT_EQ(tree.CheckFit(t, {})->mode, FitMode::kFit);
}

TEST(QuotaErrors, BadInputIsAnErrorNotACrash) {
  QuotaTree tree;
  const ClassId gpu = *tree.AddClass("A100");
  EXPECT_EQ(*tree.AddClass("A100"), gpu);  // interned
  EXPECT_FALSE(tree.AddClass(""));
  EXPECT_EQ(tree.FindClass("B200").error().code, ErrorCode::kNotFound);
  const QuotaNodeId root = *tree.AddCohort("root");
  const QuotaNodeId t = *tree.AddTeam("t", root);
  EXPECT_EQ(tree.AddTeam("t", root).error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(tree.AddCohort("t").error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(tree.AddTeam("u", t).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(tree.AddTeam("u", QuotaNodeId(99)).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(tree.SetQuota(t, gpu, Nominal(-1)).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(tree.SetQuota(t, gpu, Nominal(1, -5)).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(tree.SetQuota(t, gpu, Nominal(1, std::nullopt, kMaxQuotaMilliGpu + 1)).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(tree.SetQuota(t, ClassId(7), Nominal(1)).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(tree.SetWeight(t, -1).error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(tree.SetQuota(t, gpu, Nominal(1000)));
  EXPECT_EQ(tree.Available(QuotaNodeId(), gpu).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(tree.Usage(t, ClassId()).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(tree.CheckFit(root, {{gpu, M(1)}}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(tree.CheckFit(t, {{gpu, M(-1)}}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(tree.CheckFit(t, {{ClassId(5), M(1)}}).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(tree.Admit(t, {{gpu, M(300)}}));
  Result<void> over = tree.Release(t, {{gpu, M(301)}});
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(*tree.Usage(t, gpu), M(300));
  EXPECT_EQ(tree.Share(root, t, {{gpu, M(-3)}}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(tree.Share(t, QuotaNodeId(), {{gpu, M(3)}}).error().code, ErrorCode::kInvalidArgument);
}

TEST(QuotaErrors, ChargeIgnoresQuotaButNotInput) {
  QuotaTree tree;
  const ClassId gpu = *tree.AddClass("A100");
  const QuotaNodeId t = *tree.AddTeam("t");
  ASSERT_TRUE(tree.SetQuota(t, gpu, Nominal(1000)));
  ASSERT_TRUE(tree.Charge(t, {{gpu, M(1500)}}));  // recovered work beyond a cut quota
  EXPECT_EQ(*tree.Available(t, gpu), M(-500));
  EXPECT_EQ(tree.Charge(t, {{gpu, M(kMaxQuotaMilliGpu)}}).error().code, ErrorCode::kInvalidArgument);
}

TEST(QuotaBuild, RejectsBadSpecs) {
  auto build = [](std::vector<QuotaNodeSpec> specs) { return QuotaTree::Build(specs); };
  Result<QuotaTree> dup = build({{"a", false, "", 1, {}}, {"a", true, "", 1, {}}});
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  Result<QuotaTree> unknown = build({{"t", true, "nowhere", 1, {}}});
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(unknown.error().message, HasSubstr("nowhere"));
  Result<QuotaTree> team_parent = build({{"t", true, "", 1, {}}, {"u", true, "t", 1, {}}});
  EXPECT_EQ(team_parent.error().code, ErrorCode::kInvalidArgument);
  Result<QuotaTree> cycle = build({{"x", false, "", 1, {}},
                                   {"a", false, "b", 1, {}},
                                   {"b", false, "c", 1, {}},
                                   {"c", false, "a", 1, {}}});
  ASSERT_FALSE(cycle);
  EXPECT_EQ(cycle.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(cycle.error().message, "cohorts form a cycle: a → b → c → a");
  Result<QuotaTree> self = build({{"a", false, "a", 1, {}}});
  EXPECT_EQ(self.error().message, "cohorts form a cycle: a → a");
  Result<QuotaTree> negative = build({{"t", true, "", 1, {{"A100", Nominal(-3)}}}});
  EXPECT_EQ(negative.error().code, ErrorCode::kInvalidArgument);
  Result<QuotaTree> weight = build({{"t", true, "", -2, {}}});
  EXPECT_EQ(weight.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gpuslice::sched
