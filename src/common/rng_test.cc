#include "common/rng.h"

#include <gtest/gtest.h>

#include <set>

namespace gpuslice {
namespace {

TEST(RngTest, SameSeedSameSequence) {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.Next();
    EXPECT_EQ(x, b.Next());
    differs |= x != c.Next();
  }
  EXPECT_TRUE(differs);
}

TEST(RngTest, FixedSequenceForSeed) {
  // mt19937_64's 10000th output for the default seed is fixed by the standard; check the first
  // output for seed 5489 (the default seed) is stable across platforms.
  Rng rng(5489);
  EXPECT_EQ(rng.Next(), 14514284786278117030ull);
}

TEST(RngTest, UniformStaysInRangeAndCoversIt) {
  Rng rng(7);
  std::set<std::int64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto x = rng.Uniform(-2, 3);
    ASSERT_GE(x, -2);
    ASSERT_LE(x, 3);
    seen.insert(x);
  }
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ(rng.Uniform(5, 5), 5);
  EXPECT_EQ(rng.Uniform(5, 1), 5);
}

TEST(RngTest, FullAndHugeRangesHaveNoOverflow) {
  Rng rng(3);
  bool negative = false, positive = false;
  for (int i = 0; i < 64; ++i) {
    const std::int64_t x = rng.Uniform(INT64_MIN, INT64_MAX);
    negative |= x < 0;
    positive |= x > 0;
  }
  EXPECT_TRUE(negative && positive);
  int hits = 0;
  for (int i = 0; i < 1000; ++i) hits += rng.Chance(1, UINT64_MAX);
  EXPECT_EQ(hits, 0);  // probability 1000 / 2^64
  hits = 0;
  for (int i = 0; i < 1000; ++i) hits += rng.Chance(UINT64_MAX / 2, UINT64_MAX);
  EXPECT_GT(hits, 400);
  EXPECT_LT(hits, 600);
}

TEST(RngTest, ChanceEdges) {
  Rng rng(1);
  EXPECT_FALSE(rng.Chance(0, 10));
  EXPECT_TRUE(rng.Chance(10, 10));
  EXPECT_FALSE(rng.Chance(1, 0));
  int hits = 0;
  for (int i = 0; i < 10000; ++i) hits += rng.Chance(1, 4);
  EXPECT_GT(hits, 2000);
  EXPECT_LT(hits, 3000);
}

}  // namespace
}  // namespace gpuslice
