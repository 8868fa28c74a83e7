// DemandBound against hand-solved fractional knapsacks.
#include "sim/demand_bound.h"

#include <gtest/gtest.h>

namespace gpuslice::sim {
namespace {

// One A100 (7 slices, 8 units): two 3g.40gb take 6 slices on 8 units, so a third cannot add
// anything; the bound is 6, not 7.
TEST(DemandBoundTest, MemoryHeavyProfilesKeepTheBoundUnderTheSlices) {
  DemandBound b;
  for (int i = 0; i < 3; ++i) b.Add(3, 0.5);
  EXPECT_DOUBLE_EQ(b.slices(), 9);
  EXPECT_DOUBLE_EQ(b.Value(1, 7), 6);
}

// Densest first: 1g.10gb (1 slice, 1/8 GPU, density 8) before 3g.40gb (density 6); the last job
// counts fractionally: 4 x 1g use half the GPU, one 3g fills the other half = 7 slices.
TEST(DemandBoundTest, TakesTheDensestJobsFirstAndCapsAtTheSlices) {
  DemandBound b;
  b.Add(3, 0.5);
  for (int i = 0; i < 4; ++i) b.Add(1, 0.125);
  EXPECT_DOUBLE_EQ(b.Value(1, 7), 7);
  DemandBound small;
  small.Add(1, 0.125);
  EXPECT_DOUBLE_EQ(small.Value(1, 7), 1);  // less demand than the cluster
  DemandBound over;
  for (int i = 0; i < 20; ++i) over.Add(1, 0.125);
  EXPECT_DOUBLE_EQ(over.Value(1, 7), 7);  // 8 units would take 8 x 1g; 7 slices cap it
  DemandBound half;
  half.Add(1, 0.25);  // 1g.20gb: density 4
  half.Add(1, 0.25);
  half.Add(1, 0.25);
  half.Add(1, 0.25);
  half.Add(1, 0.25);
  EXPECT_DOUBLE_EQ(half.Value(1, 7), 4);
}

TEST(DemandBoundTest, IgnoresJobsNothingHosts) {
  DemandBound b;
  b.Add(0, 0);
  b.Add(2, 0);
  EXPECT_DOUBLE_EQ(b.slices(), 0);
  EXPECT_DOUBLE_EQ(b.Value(4, 28), 0);
}

}  // namespace
}  // namespace gpuslice::sim
