// LogTail over a real RotatingLog: the stream read is exactly the stream written, across
// rotations, and Seek resumes where a reader left off.
#include "agent/log_tail.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "agent/log_pipe.h"

namespace gpuslice::agent {
namespace {

class LogTailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/log-tail-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Drain(LogTail& t, std::size_t chunk) {
    std::string all;
    for (;;) {
      const std::string s = t.ReadNew(chunk).value();
      if (s.empty()) return all;
      all += s;
    }
  }
  std::string dir_;
};

TEST_F(LogTailTest, NoLogYetIsNothingThenTheLogFromItsStart) {
  LogTail tail(dir_ + "/1.log");
  EXPECT_EQ(tail.ReadNew(100).value(), "");
  RotatingLog log = RotatingLog::Open(dir_ + "/1.log", {}).value();
  ASSERT_TRUE(log.Append("hello\n"));
  EXPECT_EQ(tail.ReadNew(3).value(), "hel");
  EXPECT_EQ(tail.ReadNew(100).value(), "lo\n");
  EXPECT_EQ(tail.ReadNew(100).value(), "");
  EXPECT_EQ(tail.position(), 6u);
}

TEST_F(LogTailTest, FollowsRotationsWithoutLosingOrRepeatingBytes) {
  RotatingLog log = RotatingLog::Open(dir_ + "/2.log", {.max_bytes = 40, .keep = 3}).value();
  LogTail tail(dir_ + "/2.log");
  std::string written, read;
  for (int i = 0; i < 30; ++i) {
    const std::string line = "line " + std::to_string(i) + "\n";
    ASSERT_TRUE(log.Append(line));
    written += line;
    if (i % 4 == 0) read += Drain(tail, 7);  // read often enough: at most one rotation between
  }
  read += Drain(tail, 7);
  EXPECT_EQ(read, written);
  EXPECT_EQ(tail.dropped(), 0);
}

TEST_F(LogTailTest, SeekResumesInTheCurrentFile) {
  RotatingLog log = RotatingLog::Open(dir_ + "/3.log", {}).value();
  ASSERT_TRUE(log.Append("0123456789"));
  LogTail tail(dir_ + "/3.log");
  tail.Seek(4);
  EXPECT_EQ(tail.ReadNew(100).value(), "456789");
  tail.Seek(99);  // clamped to the end
  EXPECT_EQ(tail.ReadNew(100).value(), "");
  ASSERT_TRUE(log.Append("ab"));
  EXPECT_EQ(tail.ReadNew(100).value(), "ab");
}

}  // namespace
}  // namespace gpuslice::agent
