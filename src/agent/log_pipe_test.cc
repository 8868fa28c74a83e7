#include "agent/log_pipe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace gpuslice::agent {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class LogPipeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gpuslice-logpipe-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(LogPipeTest, RotatesBySizeKeepingWholeLines) {
  auto log = RotatingLog::Open(dir_ + "/job.log", LogRotation{100, 2});
  ASSERT_TRUE(log) << log.error().message;
  std::string all;
  for (int i = 0; i < 30; ++i) all += "line " + std::to_string(100 + i) + " 0123456789\n";  // 20 bytes each
  ASSERT_TRUE(log->Append(all));
  EXPECT_TRUE(fs::exists(dir_ + "/job.log.1"));
  EXPECT_TRUE(fs::exists(dir_ + "/job.log.2"));
  EXPECT_FALSE(fs::exists(dir_ + "/job.log.3"));
  const std::string newest = Slurp(dir_ + "/job.log");
  EXPECT_EQ(newest, all.substr(all.size() - newest.size()));  // the tail of the output
  for (const char* name : {"/job.log", "/job.log.1", "/job.log.2"}) {
    const std::string text = Slurp(dir_ + name);
    EXPECT_LE(text.size(), 100u) << name;
    EXPECT_EQ(text.back(), '\n') << name;
  }
  EXPECT_EQ(Slurp(dir_ + "/job.log.2") + Slurp(dir_ + "/job.log.1") + newest, all.substr(all.size() - 300));
}

TEST_F(LogPipeTest, LongLinesAreSplitAndReopenAppends) {
  {
    auto log = RotatingLog::Open(dir_ + "/job.log", LogRotation{10, 1});
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->Append("abc\n"));
  }
  auto log = RotatingLog::Open(dir_ + "/job.log", LogRotation{10, 1});
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->Append("0123456789012345"));
  EXPECT_EQ(Slurp(dir_ + "/job.log.1"), "0123456789");
  EXPECT_EQ(Slurp(dir_ + "/job.log"), "012345");
}

TEST_F(LogPipeTest, ANewRunStartsANewFileOnlyWhenTheLastOneHasOutput) {
  {
    auto log = RotatingLog::Open(dir_ + "/job.log", LogRotation{});
    ASSERT_TRUE(log->StartNewFile());  // empty: nothing to rotate
    EXPECT_FALSE(fs::exists(dir_ + "/job.log.1"));
    ASSERT_TRUE(log->Append("run 1\n"));
  }
  auto log = RotatingLog::Open(dir_ + "/job.log", LogRotation{});
  ASSERT_TRUE(log->StartNewFile());
  ASSERT_TRUE(log->Append("run 2\n"));
  EXPECT_EQ(Slurp(dir_ + "/job.log.1"), "run 1\n");
  EXPECT_EQ(Slurp(dir_ + "/job.log"), "run 2\n");
}

TEST_F(LogPipeTest, PumpsUntilEveryWriterHasGone) {
  ChildLogEnds ends;
  auto pipe = LogPipe::Create(dir_ + "/job.fifo", &ends);
  ASSERT_TRUE(pipe) << pipe.error().message;
  auto log = RotatingLog::Open(dir_ + "/job.log", LogRotation{});
  ASSERT_TRUE(log);
  auto eof = pipe->Pump(*log, 1 << 20);
  ASSERT_TRUE(eof);
  EXPECT_FALSE(*eof);  // a writer exists, nothing written yet
  ASSERT_EQ(::write(ends.write_end.get(), "hello\n", 6), 6);
  // A second reader can take over the pipe (as a restarted agent does) and see the rest.
  auto again = LogPipe::Reopen(dir_ + "/job.fifo");
  ASSERT_TRUE(again);
  ends.write_end.Reset();
  ends.keeper.Reset();
  eof = pipe->Pump(*log, 1 << 20);
  ASSERT_TRUE(eof);
  EXPECT_TRUE(*eof);
  EXPECT_EQ(Slurp(dir_ + "/job.log"), "hello\n");
  pipe->Remove();
  EXPECT_FALSE(fs::exists(dir_ + "/job.fifo"));
  EXPECT_FALSE(LogPipe::Reopen(dir_ + "/job.fifo"));
}

}  // namespace
}  // namespace gpuslice::agent
