// Properties of the layout engine over every MIG model of the catalog (RapidCheck and
// exhaustive checks): enumeration is sound and complete, free placements agree with validation,
// Arrange finds an arrangement exactly when one exists, and the best start never gives up a
// profile another start would have kept.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>

#include "mig/catalog.h"
#include "mig/layout.h"

namespace gpuslice::mig {
namespace {

struct ModelTables {
  Geometry geometry;
  std::vector<Placement> placements;  // every (profile, allowed start)
  std::set<Layout> layouts;           // Enumerate()
  std::set<std::vector<int>> mixes;   // profile count vectors of the layouts (and the empty one)
};

std::vector<int> Mix(const Geometry& g, const Layout& layout) {
  std::vector<int> counts(static_cast<std::size_t>(g.num_profiles()), 0);
  for (const Placement& p : layout) ++counts[static_cast<std::size_t>(p.profile)];
  return counts;
}

// Tables for every MIG-capable model, built once.
const std::vector<ModelTables>& AllModels() {
  static const std::vector<ModelTables> all = [] {
    std::vector<ModelTables> out;
    for (const GpuModel& m : Catalog::BuiltIn().models()) {
      if (!m.mig_capable) continue;
      Result<Geometry> g = Geometry::Build(m);
      if (!g) ADD_FAILURE() << m.name << ": " << g.error().message;
      if (!g) continue;
      ModelTables t{std::move(*g), {}, {}, {}};
      for (int q = 0; q < t.geometry.num_profiles(); ++q) {
        for (int s : m.profiles[static_cast<std::size_t>(q)].starts) t.placements.push_back({q, s});
      }
      const std::vector<Layout> layouts = t.geometry.Enumerate();
      t.layouts.insert(layouts.begin(), layouts.end());
      t.mixes.insert(std::vector<int>(static_cast<std::size_t>(t.geometry.num_profiles()), 0));
      for (const Layout& l : layouts) t.mixes.insert(Mix(t.geometry, l));
      out.push_back(std::move(t));
    }
    return out;
  }();
  return all;
}

Layout Sorted(Layout l) {
  std::sort(l.begin(), l.end());
  return l;
}

TEST(LayoutPropertyTest, CatalogHasMigModels) {
  EXPECT_GE(AllModels().size(), 14u);
}

TEST(LayoutPropertyTest, EveryEnumeratedLayoutIsValidAndMaximalOnesCannotGrow) {
  for (const ModelTables& t : AllModels()) {
    std::set<Layout> maximal;
    for (const Layout& l : t.geometry.Enumerate({.maximal_only = true, .profiles = {}})) maximal.insert(l);
    for (const Layout& l : t.layouts) {
      const Result<Occupancy> occ = t.geometry.Occupy(l);
      ASSERT_TRUE(occ) << t.geometry.model().name << " " << t.geometry.Describe(l) << ": "
                       << occ.error().message;
      bool can_grow = false;
      for (const Placement& p : t.placements) can_grow |= t.geometry.CanAdd(*occ, p);
      EXPECT_EQ(!can_grow, maximal.contains(l)) << t.geometry.model().name << " " << t.geometry.Describe(l);
    }
    for (const Layout& l : maximal) EXPECT_TRUE(t.layouts.contains(l));
  }
}

// Random subsets of a model's placements: whenever one is valid, it was enumerated; whenever it
// is not, Validate says so and it was not.
RC_GTEST_PROP(LayoutProperty, ValidLayoutsAreExactlyTheEnumeratedOnes, ()) {
  const auto& models = AllModels();
  const ModelTables& t = models[*rc::gen::inRange<std::size_t>(0, models.size())];
  const auto picks = *rc::gen::container<std::vector<std::size_t>>(
      *rc::gen::inRange<std::size_t>(1, 9), rc::gen::inRange<std::size_t>(0, t.placements.size()));
  Layout layout;
  for (std::size_t i : picks) layout.push_back(t.placements[i]);
  const bool valid = t.geometry.Validate(layout).has_value();
  const Layout sorted = Sorted(layout);
  const bool duplicate = std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
  RC_ASSERT(valid == (!duplicate && t.layouts.contains(sorted)));
}

// FreeStarts(occ, q) contains s exactly when adding (q, s) to the layout validates.
RC_GTEST_PROP(LayoutProperty, FreeStartsAgreeWithValidation, ()) {
  const auto& models = AllModels();
  const ModelTables& t = models[*rc::gen::inRange<std::size_t>(0, models.size())];
  const std::size_t n = *rc::gen::inRange<std::size_t>(0, t.layouts.size());
  const Layout& base = *std::next(t.layouts.begin(), static_cast<long>(n));
  const Result<Occupancy> occ = t.geometry.Occupy(base);
  RC_ASSERT(occ.has_value());
  for (const Placement& p : t.placements) {
    Layout grown = base;
    grown.push_back(p);
    const bool free = (t.geometry.FreeStarts(*occ, p.profile) >> p.start & 1u) != 0;
    RC_ASSERT(free == t.geometry.Validate(grown).has_value());
    RC_ASSERT(free == t.geometry.CanAdd(*occ, p));
  }
}

// Arrange succeeds exactly for the profile mixes some valid layout has, and its answer is valid.
RC_GTEST_PROP(LayoutProperty, ArrangeFindsAnArrangementIffOneExists, ()) {
  const auto& models = AllModels();
  const ModelTables& t = models[*rc::gen::inRange<std::size_t>(0, models.size())];
  const auto profiles = *rc::gen::container<std::vector<int>>(
      *rc::gen::inRange<std::size_t>(1, 8), rc::gen::inRange<int>(0, t.geometry.num_profiles()));
  const Result<std::vector<Placement>> r = t.geometry.Arrange(Occupancy{}, profiles);
  Layout wanted;
  for (int q : profiles) wanted.push_back({q, 0});
  const bool exists = t.mixes.contains(Mix(t.geometry, wanted));
  RC_ASSERT(r.has_value() == exists);
  if (r) {
    RC_ASSERT(r->size() == profiles.size());
    for (std::size_t i = 0; i < profiles.size(); ++i) RC_ASSERT((*r)[i].profile == profiles[i]);
    RC_ASSERT(t.geometry.Validate(*r).has_value());
  }
}

// Which profiles can still get one more instance after `p` is added to `occ`.
std::set<int> Kept(const Geometry& g, Occupancy occ, Placement p) {
  g.Add(occ, p);
  std::set<int> kept;
  for (int q = 0; q < g.num_profiles(); ++q) {
    if (g.FreeStarts(occ, q) != 0) kept.insert(q);
  }
  return kept;
}

// Exhaustive over every reachable state of every model: the best start is free; no other start
// keeps a strict superset of the profiles it keeps; and when one start keeps every profile any
// start keeps, the best start keeps them all too.
TEST(LayoutPropertyTest, BestStartNeverGivesUpWhatAnotherStartKeeps) {
  for (const ModelTables& t : AllModels()) {
    const Geometry& g = t.geometry;
    std::vector<Layout> states(t.layouts.begin(), t.layouts.end());
    states.push_back({});
    for (const Layout& l : states) {
      const Occupancy occ = *g.Occupy(l);
      for (int q = 0; q < g.num_profiles(); ++q) {
        const UnitMask free = g.FreeStarts(occ, q);
        const std::optional<int> best = g.BestStart(occ, q);
        ASSERT_EQ(best.has_value(), free != 0);
        if (!best) continue;
        ASSERT_TRUE(free >> *best & 1u);
        const std::set<int> chosen = Kept(g, occ, {q, *best});
        std::set<int> all_kept;
        for (UnitMask f = free; f != 0; f &= f - 1) {
          const std::set<int> other = Kept(g, occ, {q, std::countr_zero(f)});
          all_kept.insert(other.begin(), other.end());
          const bool strict_superset =
              other.size() > chosen.size() &&
              std::includes(other.begin(), other.end(), chosen.begin(), chosen.end());
          EXPECT_FALSE(strict_superset) << g.model().name << " " << g.Describe(l) << " + "
                                        << g.model().profiles[static_cast<std::size_t>(q)].name;
        }
        for (UnitMask f = free; f != 0; f &= f - 1) {
          if (Kept(g, occ, {q, std::countr_zero(f)}) == all_kept) {
            EXPECT_EQ(chosen, all_kept) << g.model().name << " " << g.Describe(l);
            break;
          }
        }
      }
    }
  }
}

// MaxMore agrees with a brute force over the enumerated layouts: for every reachable mask, the
// most instances of q that a layout extending it can add (capped by the maximum).
TEST(LayoutPropertyTest, MaxMoreTableAgreesWithEnumeration) {
  for (const ModelTables& t : AllModels()) {
    const Geometry& g = t.geometry;
    // Most instances of q in a layout of q alone that avoids mask m, by brute force over
    // single-profile layouts.
    for (int q = 0; q < g.num_profiles(); ++q) {
      EnumerateOptions only_q;
      only_q.profiles = {q};
      const std::vector<Layout> singles = g.Enumerate(only_q);
      for (const Layout& l : t.layouts) {
        const UnitMask m = g.Occupy(l)->units;
        int most = 0;
        for (const Layout& s : singles) {
          if ((g.Occupy(s)->units & m) == 0) most = std::max(most, static_cast<int>(s.size()));
        }
        ASSERT_EQ(g.MaxMore(m, q), most) << g.model().name << " " << g.Describe(l);
      }
    }
  }
}

}  // namespace
}  // namespace gpuslice::mig
