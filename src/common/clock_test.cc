#include "common/clock.h"

#include <gtest/gtest.h>

namespace gpuslice {
namespace {

using std::chrono::milliseconds;

TEST(FakeClockTest, AdvanceMovesBothClocks) {
  FakeClock clock(1000);
  const auto wall0 = clock.WallNow();
  const auto mono0 = clock.MonoNow();
  clock.Advance(milliseconds(250));
  EXPECT_EQ(clock.WallNow() - wall0, milliseconds(250));
  EXPECT_EQ(clock.MonoNow() - mono0, milliseconds(250));
}

TEST(FakeClockTest, NegativeAdvanceIsIgnoredAndSetWallDoesNotMoveMonotonic) {
  FakeClock clock;
  const auto mono0 = clock.MonoNow();
  clock.Advance(milliseconds(-5));
  EXPECT_EQ(clock.MonoNow(), mono0);
  clock.SetWall(0);
  EXPECT_EQ(clock.WallNow().time_since_epoch(), milliseconds(0));
  EXPECT_EQ(clock.MonoNow(), mono0);
}

TEST(FakeClockTest, SubMillisecondStepsReachWallTime) {
  FakeClock clock;
  const auto wall0 = clock.WallNow();
  for (int i = 0; i < 1000; ++i) clock.Advance(std::chrono::microseconds(500));
  EXPECT_EQ(clock.WallNow() - wall0, milliseconds(500));
}

TEST(RealClockTest, MonotonicDoesNotGoBackwards) {
  RealClock clock;
  const auto a = clock.MonoNow();
  const auto b = clock.MonoNow();
  EXPECT_LE(a, b);
}

}  // namespace
}  // namespace gpuslice
