// LogBook: chunks land exactly once at their offsets, whatever is retried; gaps are refused.
#include "server/log_book.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace gpuslice::server {
namespace {

class LogBookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/log-book-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    book_ = LogBook::Open(dir_).value();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string All(std::uint64_t job) { return book_->Read(job, 0, 1 << 20).value().data; }

  std::string dir_;
  std::unique_ptr<LogBook> book_;
};

TEST_F(LogBookTest, ChunksContinueTheStreamAndRetriesAreSkipped) {
  EXPECT_EQ(book_->Size(7), 0u);
  EXPECT_EQ(book_->Append(7, 0, "hello ").value(), 6u);
  EXPECT_EQ(book_->Append(7, 6, "world\n").value(), 12u);
  EXPECT_EQ(book_->Append(7, 0, "hello ").value(), 12u);        // a retry: nothing new
  EXPECT_EQ(book_->Append(7, 6, "world\nbye\n").value(), 16u);  // overlaps: only the tail is new
  EXPECT_EQ(All(7), "hello world\nbye\n");
  const Result<std::uint64_t> gap = book_->Append(7, 20, "x");
  ASSERT_FALSE(gap);
  EXPECT_EQ(gap.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(gap.error().message.find("16 bytes"), std::string::npos) << gap.error().message;
  EXPECT_EQ(All(8), "");  // other jobs are apart
}

TEST_F(LogBookTest, ReadsFromAnyOffsetInBoundedChunksAndSurvivesAReopen) {
  ASSERT_TRUE(book_->Append(3, 0, "0123456789"));
  LogBook::Chunk c = book_->Read(3, 4, 3).value();
  EXPECT_EQ(c.data, "456");
  EXPECT_EQ(c.next, 7u);
  EXPECT_EQ(c.size, 10u);
  c = book_->Read(3, 12, 3).value();  // past the end: nothing, and where the end is
  EXPECT_EQ(c.data, "");
  EXPECT_EQ(c.next, 10u);
  book_ = LogBook::Open(dir_).value();
  EXPECT_EQ(book_->Size(3), 10u);
  EXPECT_EQ(book_->Append(3, 10, "ab").value(), 12u);
  EXPECT_EQ(All(3), "0123456789ab");
}

TEST_F(LogBookTest, EachRunIsShippedFromItsOwnStartAndAppendedToTheStream) {
  ASSERT_TRUE(book_->BeginRun(5));  // the first run
  EXPECT_EQ(book_->Append(5, 0, "run 1\n").value(), 6u);
  ASSERT_TRUE(book_->BeginRun(5));  // requeued: the second run starts at byte 6
  EXPECT_EQ(book_->RunSize(5), 0u);
  EXPECT_EQ(book_->Append(5, 0, "run 2\n").value(), 6u);  // offsets within the run
  EXPECT_EQ(book_->Append(5, 0, "run 2\n").value(), 6u);  // a retry
  EXPECT_FALSE(book_->Append(5, 9, "x"));                 // a gap in the run
  EXPECT_EQ(All(5), "run 1\nrun 2\n");
  book_ = LogBook::Open(dir_).value();  // the run's start survives a restart
  EXPECT_EQ(book_->RunSize(5), 6u);
  EXPECT_EQ(book_->Size(5), 12u);
  EXPECT_EQ(book_->Append(5, 6, "more\n").value(), 11u);
  EXPECT_EQ(All(5), "run 1\nrun 2\nmore\n");
  ASSERT_TRUE(book_->BeginRun(5));
  ASSERT_TRUE(book_->BeginRun(5));  // a run that wrote nothing: the next starts at the same place
  EXPECT_EQ(book_->Append(5, 0, "run 4\n").value(), 6u);
  EXPECT_EQ(All(5), "run 1\nrun 2\nmore\nrun 4\n");
}

}  // namespace
}  // namespace gpuslice::server
