// Layout engine against the reference tables (reference/mig-facts.md §2.4–2.5).
#include "mig/layout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "mig/catalog.h"

namespace gpuslice::mig {
namespace {

using ::testing::HasSubstr;

const Geometry& GeometryOf(std::string_view model) {
  static std::map<std::string, Geometry, std::less<>> cache;
  auto it = cache.find(model);
  if (it == cache.end()) {
    const Result<ResolvedGpu> gpu = Catalog::BuiltIn().Resolve(model);
    EXPECT_TRUE(gpu.has_value()) << model;
    Result<Geometry> g = Geometry::Build(*gpu->model);
    EXPECT_TRUE(g.has_value()) << model << ": " << g.error().message;
    it = cache.emplace(std::string(model), std::move(*g)).first;
  }
  return it->second;
}

Placement P(const Geometry& g, std::string_view profile, int start) {
  const int q = g.model().ProfileIndex(profile);
  EXPECT_GE(q, 0) << profile;
  return {q, start};
}

Occupancy Occ(const Geometry& g, std::vector<Placement> layout) {
  Result<Occupancy> occ = g.Occupy(layout);
  EXPECT_TRUE(occ.has_value()) << occ.error().message;
  return occ.value_or(Occupancy{});
}

std::vector<int> Starts(UnitMask mask) {
  std::vector<int> out;
  for (int s = 0; s < 16; ++s) {
    if (mask >> s & 1) out.push_back(s);
  }
  return out;
}

TEST(GeometryTest, NonMigModelIsRefusedPlainly) {
  const Result<ResolvedGpu> l4 = Catalog::BuiltIn().Resolve("L4");
  ASSERT_TRUE(l4.has_value());
  const Result<Geometry> g = Geometry::Build(*l4->model);
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().code, ErrorCode::kUnimplemented);
  EXPECT_THAT(g.error().message, HasSubstr("has no MIG"));
}

TEST(ValidateTest, A100DocumentedLayoutsAreValid) {
  const Geometry& g = GeometryOf("A100-SXM4-40GB");
  // N3: the driver placed -cgi 19,14,5 as 1g at 6:1, 2g at 4:2, 4g at 0:4.
  EXPECT_TRUE(g.Validate(std::vector{P(g, "1g.5gb", 6), P(g, "2g.10gb", 4), P(g, "4g.20gb", 0)}));
  EXPECT_TRUE(g.Validate(std::vector{P(g, "3g.20gb", 0), P(g, "3g.20gb", 4)}));
  EXPECT_TRUE(g.Validate(std::vector{P(g, "4g.20gb", 0), P(g, "3g.20gb", 4)}));
  EXPECT_TRUE(g.Validate(std::vector{P(g, "7g.40gb", 0)}));
  std::vector<Placement> seven;
  for (int s = 0; s < 7; ++s) seven.push_back(P(g, "1g.5gb", s));
  EXPECT_TRUE(g.Validate(seven));
  // 7 x 1g leaves the 8th memory unit unused (§2.5).
  EXPECT_EQ(Occ(g, seven).units, 0x7F);
}

TEST(ValidateTest, RejectsStartNotAllowed) {
  const Geometry& g = GeometryOf("A100-40GB");
  const Result<void> r = g.Validate(std::vector{P(g, "1g.10gb", 1)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr("allowed starts: 0,2,4,6"));
  EXPECT_FALSE(g.Validate(std::vector{P(g, "3g.20gb", 2)}));
  EXPECT_FALSE(g.Validate(std::vector{P(g, "1g.5gb", 7)}));  // a plain 1g never uses unit 7
}

TEST(ValidateTest, OverlapNamesBothInstancesAndUnits) {
  const Geometry& g = GeometryOf("A100-40GB");
  const Result<void> r = g.Validate(std::vector{P(g, "2g.10gb", 4), P(g, "3g.20gb", 4)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(r.error().message, "3g.20gb@4 overlaps 2g.10gb@4 on units 4-5");
}

TEST(ValidateTest, PerProfileMaximumAndMediaRules) {
  const Geometry& a100 = GeometryOf("A100-40GB");
  // Two 1g.5gb+me: the profile's maximum is 1.
  const Result<void> me = a100.Validate(std::vector{P(a100, "1g.5gb+me", 0), P(a100, "1g.5gb+me", 1)});
  ASSERT_FALSE(me);
  EXPECT_THAT(me.error().message, HasSubstr("maximum of 1"));

  // A30: 1g.6gb+me and 2g.12gb+me each have a maximum of 1, and there is one OFA/NVJPG to give.
  const Geometry& a30 = GeometryOf("A30");
  const Result<void> both = a30.Validate(std::vector{P(a30, "2g.12gb+me", 0), P(a30, "1g.6gb+me", 2)});
  ASSERT_FALSE(both);
  EXPECT_THAT(both.error().message, HasSubstr("at most one +me"));
  EXPECT_TRUE(a30.Validate(std::vector{P(a30, "2g.12gb+me", 0), P(a30, "1g.6gb", 2), P(a30, "1g.6gb", 3)}));

  // RTX PRO 6000: +me.all leaves only -me profiles beside it.
  const Geometry& rtx = GeometryOf("RTX-PRO-6000");
  EXPECT_FALSE(rtx.Validate(std::vector{P(rtx, "1g.24gb+me.all", 0), P(rtx, "1g.24gb", 3)}));
  EXPECT_FALSE(rtx.Validate(std::vector{P(rtx, "1g.24gb", 3), P(rtx, "1g.24gb+me.all", 0)}));
  EXPECT_FALSE(rtx.Validate(std::vector{P(rtx, "1g.24gb+me.all", 0), P(rtx, "1g.24gb+me", 3)}));
  EXPECT_TRUE(rtx.Validate(
      std::vector{P(rtx, "1g.24gb+me.all", 0), P(rtx, "1g.24gb-me", 3), P(rtx, "2g.48gb-me", 6)}));
}

TEST(FreeStartsTest, MatchesReferencePlacementsOnEmptyGpus) {
  const Geometry& h100 = GeometryOf("H100-80GB");
  const Occupancy empty;
  EXPECT_EQ(Starts(h100.FreeStarts(empty, h100.model().ProfileIndex("1g.10gb"))),
            (std::vector{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(Starts(h100.FreeStarts(empty, h100.model().ProfileIndex("1g.20gb"))), (std::vector{0, 2, 4, 6}));
  EXPECT_EQ(Starts(h100.FreeStarts(empty, h100.model().ProfileIndex("2g.20gb"))), (std::vector{0, 2, 4}));
  EXPECT_EQ(Starts(h100.FreeStarts(empty, h100.model().ProfileIndex("3g.40gb"))), (std::vector{0, 4}));
  EXPECT_EQ(Starts(h100.FreeStarts(empty, h100.model().ProfileIndex("7g.80gb"))), (std::vector{0}));
  const Geometry& rtx = GeometryOf("RTX-PRO-6000");
  EXPECT_EQ(Starts(rtx.FreeStarts(empty, rtx.model().ProfileIndex("1g.24gb"))), (std::vector{0, 3, 6, 9}));
  EXPECT_EQ(Starts(rtx.FreeStarts(empty, rtx.model().ProfileIndex("2g.48gb"))), (std::vector{0, 6}));
}

TEST(FreeStartsTest, PartlyUsedGpu) {
  const Geometry& g = GeometryOf("A100-40GB");
  const Occupancy occ = Occ(g, {P(g, "2g.10gb", 2)});
  EXPECT_EQ(Starts(g.FreeStarts(occ, g.model().ProfileIndex("3g.20gb"))), (std::vector{4}));
  EXPECT_EQ(Starts(g.FreeStarts(occ, g.model().ProfileIndex("4g.20gb"))), (std::vector<int>{}));
  EXPECT_EQ(Starts(g.FreeStarts(occ, g.model().ProfileIndex("1g.5gb"))), (std::vector{0, 1, 4, 5, 6}));
}

TEST(BestStartTest, WorkedExamplesFromReference) {
  // placement-and-quota.md §1.7: on an empty 8-unit GPU the first 1g goes to start 6, a 3g to
  // start 4, and a second 1g after 1g@6 to start 4 or 5.
  const Geometry& g = GeometryOf("A100-80GB");
  const int one = g.model().ProfileIndex("1g.10gb");
  EXPECT_EQ(g.BestStart(Occupancy{}, one), 6);
  EXPECT_EQ(g.BestStart(Occupancy{}, g.model().ProfileIndex("3g.40gb")), 4);
  const std::optional<int> second = g.BestStart(Occ(g, {P(g, "1g.10gb", 6)}), one);
  ASSERT_TRUE(second);
  EXPECT_TRUE(*second == 4 || *second == 5) << *second;
  // 2g on an empty GPU: start 4 keeps 4g@0 and 3g@0, the others kill one of them.
  EXPECT_EQ(g.BestStart(Occupancy{}, g.model().ProfileIndex("2g.20gb")), 4);
}

TEST(BestStartTest, NoneWhenFull) {
  const Geometry& g = GeometryOf("A100-40GB");
  EXPECT_FALSE(g.BestStart(Occ(g, {P(g, "7g.40gb", 0)}), g.model().ProfileIndex("1g.5gb")));
}

TEST(BestStartTest, WeightsSteerTheChoice) {
  const Geometry& g = GeometryOf("A100-40GB");
  std::vector<int> weights(static_cast<std::size_t>(g.num_profiles()), 0);
  // Only 3g demand: a 1g must not land where it kills both 3g slots; any start in 0-3 or 4-7
  // keeps one of them, and all score alike, so the lowest start wins.
  weights[static_cast<std::size_t>(g.model().ProfileIndex("3g.20gb"))] = 1;
  const std::optional<int> s = g.BestStart(Occupancy{}, g.model().ProfileIndex("1g.5gb"), weights);
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, 0);
}

TEST(ArrangeTest, OrderThatConfusesTheDriverStillFits) {
  // N3 known issue: -cgi 19,19,14,9 fails with the driver's own placement; explicit placement
  // has no order dependence.
  const Geometry& g = GeometryOf("A100-40GB");
  const std::vector<int> want{g.model().ProfileIndex("1g.5gb"), g.model().ProfileIndex("1g.5gb"),
                              g.model().ProfileIndex("2g.10gb"), g.model().ProfileIndex("3g.20gb")};
  const Result<std::vector<Placement>> r = g.Arrange(Occupancy{}, want);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->size(), 4u);
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ((*r)[i].profile, want[i]);
  EXPECT_TRUE(g.Validate(*r));
}

TEST(ArrangeTest, DoubleMemoryMaximumIsExplained) {
  const Geometry& g = GeometryOf("A100-40GB");
  const std::vector<int> want(7, g.model().ProfileIndex("1g.10gb"));
  const Result<std::vector<Placement>> r = g.Arrange(Occupancy{}, want);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(r.error().message,
            "7 x 1g.10gb exceeds the profile's maximum of 4 (on this model 1g.10gb is the "
            "double-memory 1-slice profile)");
}

TEST(ArrangeTest, ReportsBestPartialWhenGeometryForbids) {
  const Geometry& g = GeometryOf("A100-40GB");
  // 4g needs start 0; a 1g.5gb@1 is already there.
  const Result<std::vector<Placement>> r =
      g.Arrange(Occ(g, {P(g, "1g.5gb", 1)}), std::vector{g.model().ProfileIndex("4g.20gb")});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message,
              HasSubstr("no legal arrangement of 4g.20gb on A100-40GB beside the instances"));
  // Units and compute checks come first with their own message.
  const std::vector<int> too_big{g.model().ProfileIndex("4g.20gb"), g.model().ProfileIndex("3g.20gb"),
                                 g.model().ProfileIndex("1g.5gb")};
  const Result<std::vector<Placement>> r2 = g.Arrange(Occupancy{}, too_big);
  ASSERT_FALSE(r2);
  EXPECT_THAT(r2.error().message, HasSubstr("needs 9 memory units"));
}

TEST(ArrangeTest, FailureNamesALargestSubsetThatFits) {
  const Geometry& g = GeometryOf("A100-40GB");
  // 4g needs units 0-3, which the 1g@0 blocks; the 2g alone still fits.
  const Result<std::vector<Placement>> r =
      g.Arrange(Occ(g, {P(g, "1g.5gb", 0)}),
                std::vector{g.model().ProfileIndex("4g.20gb"), g.model().ProfileIndex("2g.10gb")});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, HasSubstr("at most 1 of the 2 fit together (e.g. 2g.10gb@"));
}

TEST(ArrangeTest, MediaRulesHaveTheirOwnMessages) {
  const Geometry& rtx = GeometryOf("RTX-PRO-6000");
  const std::vector<int> me_all_and_plain{rtx.model().ProfileIndex("1g.24gb"),
                                          rtx.model().ProfileIndex("1g.24gb+me.all")};
  const Result<std::vector<Placement>> r = rtx.Arrange(Occupancy{}, me_all_and_plain);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "1g.24gb+me.all takes every media engine, so every other instance must be a -me profile");
  const std::vector<int> me_all_and_no_me{rtx.model().ProfileIndex("1g.24gb-me"),
                                          rtx.model().ProfileIndex("1g.24gb+me.all")};
  EXPECT_TRUE(rtx.Arrange(Occupancy{}, me_all_and_no_me));

  const Geometry& a30 = GeometryOf("A30");
  const Result<std::vector<Placement>> two =
      a30.Arrange(Occ(a30, {P(a30, "1g.6gb+me", 0)}), std::vector{a30.model().ProfileIndex("2g.12gb+me")});
  ASSERT_FALSE(two);
  EXPECT_EQ(
      two.error().message,
      "asks for 1 instance with +me or +me.all (1 already on the GPU), but a GPU has media engines for one");
}

TEST(EnumerateTest, A100MaximalMixesWithoutMediaOrDoubleMemory) {
  // The maximal combinations of 1g.5gb/2g.10gb/3g.20gb/4g.20gb/7g.40gb on an A100, derived by
  // hand from the placement table {0..6}:1, {0,2,4}:2, {0,4}:4, {0}:4, {0}:8. Counts are
  // 1g:2g:3g:4g:7g.
  const Geometry& g = GeometryOf("A100-40GB");
  const std::vector<std::string> names{"1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"};
  EnumerateOptions opt;
  opt.maximal_only = true;
  for (const std::string& n : names) opt.profiles.push_back(g.model().ProfileIndex(n));
  std::set<std::vector<int>> mixes;
  for (const Layout& l : g.Enumerate(opt)) {
    std::vector<int> counts(names.size(), 0);
    for (const Placement& p : l) {
      for (std::size_t i = 0; i < names.size(); ++i) counts[i] += opt.profiles[i] == p.profile;
    }
    mixes.insert(counts);
  }
  const std::set<std::vector<int>> expected{
      {0, 0, 0, 0, 1}, {0, 0, 1, 1, 0}, {1, 1, 0, 1, 0}, {3, 0, 0, 1, 0}, {0, 0, 2, 0, 0},
      {0, 2, 1, 0, 0}, {2, 1, 1, 0, 0}, {4, 0, 1, 0, 0}, {1, 1, 1, 0, 0}, {3, 0, 1, 0, 0},
      {1, 3, 0, 0, 0}, {3, 2, 0, 0, 0}, {5, 1, 0, 0, 0}, {7, 0, 0, 0, 0}};
  EXPECT_EQ(mixes, expected);
}

TEST(EnumerateTest, ReachableMasksOfTheEightUnitTable) {
  // placement-and-quota.md §1.0: with the 18 placements of the 8-unit table (no +me), 192 of
  // the 256 unit masks are unions of disjoint placements (counting the empty mask).
  const Geometry& g = GeometryOf("H100-80GB");
  EnumerateOptions opt;
  for (const char* n : {"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"}) {
    opt.profiles.push_back(g.model().ProfileIndex(n));
  }
  std::set<UnitMask> masks{0};
  for (const Layout& l : g.Enumerate(opt)) masks.insert(Occ(g, l).units);
  EXPECT_EQ(masks.size(), 192u);
}

TEST(EnumerateTest, LayoutsAreSortedAndDistinct) {
  const Geometry& g = GeometryOf("A30");
  const std::vector<Layout> all = g.Enumerate();
  std::set<Layout> distinct(all.begin(), all.end());
  EXPECT_EQ(distinct.size(), all.size());
  for (const Layout& l : all) EXPECT_TRUE(std::is_sorted(l.begin(), l.end()));  // by (start, profile)
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_LT((Placement{5, 0}), (Placement{0, 1}));  // start first, then profile
}

TEST(ResolveSizeTest, SmallestFittingProfile) {
  const Geometry& g = GeometryOf("A100-40GB");
  auto name = [&](SizeRequest r) {
    const Result<int> q = g.ResolveSize(r);
    return q ? g.model().profiles[static_cast<std::size_t>(*q)].name : "error: " + q.error().message;
  };
  EXPECT_EQ(name({MiB(4096), 0}), "1g.5gb");
  EXPECT_EQ(name({MiB(8192), 0}), "1g.10gb");  // 250 milli-GPU, cheaper than 2g.10gb's 286
  EXPECT_EQ(name({MiB(8192), 2}), "2g.10gb");
  EXPECT_EQ(name({MiB(19 * 1024), 0}), "3g.20gb");
  EXPECT_EQ(name({MiB(20 * 1024), 0}), "7g.40gb");  // 3g.20gb has 19.50 GiB, less than 20 GiB
  EXPECT_EQ(name({std::nullopt, 4}), "4g.20gb");
  EXPECT_EQ(name({std::nullopt, 0, SizeRequest::Media::kAll}), "7g.40gb");
  const Result<int> none = g.ResolveSize({MiB(64 * 1024), 0});
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error().message, HasSubstr("no MIG profile of A100-40GB has at least 64.00 GiB"));
  EXPECT_THAT(none.error().message, HasSubstr("the largest is 7g.40gb"));
}

TEST(ResolveSizeTest, MediaRequestPicksAProfileWithEngines) {
  const Geometry& g = GeometryOf("A100-40GB");
  const Result<int> q = g.ResolveSize({std::nullopt, 1, SizeRequest::Media::kAtLeastOne});
  ASSERT_TRUE(q);
  // 1g.5gb has no decoder on A100-40GB; 1g.5gb+me has one and costs 143 milli-GPU.
  EXPECT_EQ(g.model().profiles[static_cast<std::size_t>(*q)].name, "1g.5gb+me");
}

}  // namespace
}  // namespace gpuslice::mig
