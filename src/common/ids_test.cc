#include "common/ids.h"

#include <gtest/gtest.h>

#include <type_traits>
#include <unordered_set>

namespace gpuslice {
namespace {

TEST(IdTest, DefaultIsInvalidAndIdsCompareByValue) {
  EXPECT_FALSE(JobId().valid());
  EXPECT_TRUE(JobId(1).valid());
  EXPECT_LT(JobId(1), JobId(2));
  std::unordered_set<JobId> set{JobId(1), JobId(1), JobId(2)};
  EXPECT_EQ(set.size(), 2u);
  static_assert(!std::is_convertible_v<JobId, NodeId>, "ids of different kinds must not mix");
}

}  // namespace
}  // namespace gpuslice
