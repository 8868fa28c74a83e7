#include "cli/table.h"

#include <gtest/gtest.h>

namespace gpuslice::cli {
namespace {

TEST(TableTest, AlignsColumnsAndTrimsTrailingSpace) {
  Table t({"A", "LONG HEADER", "C"});
  t.AddRow({"xxxx", "y", ""});
  t.AddRow({"z", "w", "last"});
  EXPECT_EQ(t.Render(),
            "A     LONG HEADER  C\n"
            "xxxx  y\n"
            "z     w            last\n");
}

TEST(TableTest, CountsUtf8CodePointsNotBytes) {
  Table t({"K", "V"});
  t.AddRow({"µs", "1"});
  t.AddRow({"ms", "2"});
  EXPECT_EQ(t.Render(), "K   V\nµs  1\nms  2\n");
}

}  // namespace
}  // namespace gpuslice::cli
