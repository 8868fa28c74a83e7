#include "common/error.h"

#include <gtest/gtest.h>

namespace gpuslice {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Fail(ErrorCode::kInvalidArgument, "{} is odd", x);
  return x / 2;
}

TEST(ErrorTest, FailFormatsMessageAndCode) {
  const Result<int> r = Half(3);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "3 is odd");
  EXPECT_EQ(Half(4).value(), 2);
}

TEST(ErrorTest, WithContextPrefixesMessageAndKeepsCode) {
  const Error e = Error{ErrorCode::kNotFound, "no such GPU"}.WithContext("node a1");
  EXPECT_EQ(e.message, "node a1: no such GPU");
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
}

TEST(ErrorTest, CodeNamesAreDistinct) {
  EXPECT_EQ(ErrorCodeName(ErrorCode::kResourceExhausted), "resource-exhausted");
  EXPECT_NE(ErrorCodeName(ErrorCode::kNotFound), ErrorCodeName(ErrorCode::kInternal));
}

}  // namespace
}  // namespace gpuslice
