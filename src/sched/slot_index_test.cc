// SlotIndex against a brute-force scan of every GPU, and the catalog property it relies on.
#include "sched/slot_index.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <tuple>

#include "mig/catalog.h"

namespace gpuslice::sched {
namespace {

using mig::Geometry;
using mig::Layout;
using mig::Occupancy;

struct Model {
  Geometry geometry;
  std::vector<Occupancy> states;  // every reachable occupancy, the empty one first
};

const std::vector<Model>& Models() {
  static const std::vector<Model> models = [] {
    std::vector<Model> out;
    for (const mig::GpuModel& m : mig::Catalog::BuiltIn().models()) {
      if (!m.mig_capable) continue;
      Model model{Geometry::Build(m).value(), {Occupancy{}}};
      for (const Layout& l : model.geometry.Enumerate())
        model.states.push_back(model.geometry.Occupy(l).value());
      out.push_back(std::move(model));
    }
    return out;
  }();
  return models;
}

// The index keeps one representative per key; that is exact only if the key determines every
// profile's free starts. True for every model of the catalog.
TEST(SlotIndexTest, OccupancyKeyDeterminesFreeStarts) {
  for (const Model& m : Models()) {
    std::map<std::tuple<int, bool, bool, bool>, std::vector<mig::UnitMask>> seen;
    for (const Occupancy& occ : m.states) {
      std::vector<mig::UnitMask> free;
      for (int q = 0; q < m.geometry.num_profiles(); ++q) free.push_back(m.geometry.FreeStarts(occ, q));
      const auto key =
          std::make_tuple(int{occ.units}, occ.media_exclusive > 0, occ.with_media > 0, occ.media_all);
      const auto [it, inserted] = seen.emplace(key, free);
      if (!inserted) {
        EXPECT_EQ(it->second, free) << m.geometry.model().name;
      }
    }
  }
}

// Brute force: every GPU, every profile, with Geometry directly.
std::optional<SlotIndex::Choice> BruteForce(const Geometry& g,
                                            const std::map<SlotIndex::GpuRef, Occupancy>& gpus, int profile) {
  std::optional<SlotIndex::Choice> best;
  std::tuple<bool, int, int, SlotIndex::GpuRef> best_key{};
  for (const auto& [ref, occ] : gpus) {
    const std::optional<int> start = g.BestStart(occ, profile);
    if (!start) continue;
    const int loss = g.Score(occ.units) - g.Score(occ.units | g.Mask({profile, *start}));
    const std::tuple<bool, int, int, SlotIndex::GpuRef> key{occ.units == 0, loss, *start, ref};
    if (!best || key < best_key) {
      best_key = key;
      best = SlotIndex::Choice{ref, *start, loss};
    }
  }
  return best;
}

RC_GTEST_PROP(SlotIndexProperty, BestAgreesWithBruteForceAfterAnyUpdates, ()) {
  const auto& models = Models();
  const Model& m = models[*rc::gen::inRange<std::size_t>(0, models.size())];
  SlotIndex index(m.geometry);
  std::map<SlotIndex::GpuRef, Occupancy> gpus;
  const int steps = *rc::gen::inRange(1, 60);
  for (int i = 0; i < steps; ++i) {
    const auto ref = *rc::gen::inRange<SlotIndex::GpuRef>(0, 12);
    if (*rc::gen::inRange(0, 5) == 0) {
      index.Erase(ref);
      gpus.erase(ref);
    } else {
      const Occupancy& occ = m.states[*rc::gen::inRange<std::size_t>(0, m.states.size())];
      index.Upsert(ref, occ);
      gpus[ref] = occ;
    }
  }
  RC_ASSERT(index.size() == gpus.size());
  for (int q = 0; q < m.geometry.num_profiles(); ++q)
    RC_ASSERT(index.Best(q) == BruteForce(m.geometry, gpus, q));
}

const Geometry& A100() {
  for (const Model& m : Models()) {
    if (m.geometry.model().name == "A100-80GB") return m.geometry;
  }
  std::abort();
}

TEST(SlotIndexTest, PacksOntoAUsedGpuBeforeAnEmptyOne) {
  const Geometry& g = A100();
  const int one = g.model().ProfileIndex("1g.10gb");
  SlotIndex index(g);
  index.Upsert(0, Occupancy{});
  index.Upsert(1, g.Occupy(std::vector<mig::Placement>{{one, 6}}).value());
  const std::optional<SlotIndex::Choice> c = index.Best(one);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->gpu, 1u);
  EXPECT_TRUE(c->start == 4 || c->start == 5);
}

TEST(SlotIndexTest, EmptyGpuTakesWhatNoUsedGpuCanHold) {
  const Geometry& g = A100();
  SlotIndex index(g);
  index.Upsert(7, g.Occupy(std::vector<mig::Placement>{{g.model().ProfileIndex("1g.10gb"), 6}}).value());
  index.Upsert(3, Occupancy{});
  const std::optional<SlotIndex::Choice> c = index.Best(g.model().ProfileIndex("7g.80gb"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->gpu, 3u);
  EXPECT_EQ(c->start, 0);
  index.Erase(3);
  EXPECT_FALSE(index.Best(g.model().ProfileIndex("7g.80gb")));
}

TEST(SlotIndexTest, UpsertMovesAndEraseIsIdempotent) {
  const Geometry& g = A100();
  SlotIndex index(g);
  const Occupancy full =
      g.Occupy(std::vector<mig::Placement>{{g.model().ProfileIndex("7g.80gb"), 0}}).value();
  index.Upsert(1, Occupancy{});
  index.Upsert(1, full);
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.distinct_states(), 1u);
  ASSERT_NE(index.Find(1), nullptr);
  EXPECT_EQ(*index.Find(1), full);
  EXPECT_FALSE(index.Best(g.model().ProfileIndex("1g.10gb")));
  index.Erase(1);
  index.Erase(1);
  EXPECT_EQ(index.size(), 0u);
  EXPECT_EQ(index.Find(1), nullptr);
  EXPECT_EQ(index.distinct_states(), 0u);
}

}  // namespace
}  // namespace gpuslice::sched
