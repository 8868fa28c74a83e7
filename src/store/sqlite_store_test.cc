// SqliteStore behaviour beyond the shared contract: persistence across reopen, schema versions,
// damaged files, the data-dir lock, a failing batch inside a commit group, and a kill -9 crash
// test with a real child process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "store/store_testing.h"

namespace gpuslice::store {
namespace {

using ::testing::HasSubstr;

Result<std::unique_ptr<SqliteStore>> OpenIn(const std::string& dir) {
  SqliteOptions o;
  o.data_dir = dir;
  return SqliteStore::Open(o);
}

TEST(SqliteStoreTest, ReopenKeepsEverything) {
  TempDir dir;
  {
    auto s = OpenIn(dir.path());
    ASSERT_TRUE(s) << s.error().message;
    ASSERT_TRUE(
        (*s)->Apply(WriteBatch().PutJob(Job(5)).Put(Collection::kTeams, "ml", "{}").AppendEvent("a", "{}")));
    ASSERT_TRUE((*s)->Apply(WriteBatch().AppendEvent("b", "{}")));
  }
  auto s = OpenIn(dir.path());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(*(*s)->GetJob(5), Job(5));
  EXPECT_TRUE((*s)->Get(Collection::kTeams, "ml"));
  EXPECT_EQ(*(*s)->LastEventSeq(), 2u);
  // Seqs continue after a restart.
  EXPECT_EQ((*s)->Apply(WriteBatch().AppendEvent("c", "{}"))->first_event_seq, 3u);
  EXPECT_EQ(*(*s)->IntegrityCheck(), "ok");
}

TEST(SqliteStoreTest, RefusesNewerSchemaVersion) {
  TempDir dir;
  std::string path;
  {
    auto s = OpenIn(dir.path());
    ASSERT_TRUE(s);
    path = (*s)->path();
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = OpenIn(dir.path());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(s.error().message, HasSubstr("schema version 99, newer than the 1"));
}

TEST(SqliteStoreTest, GarbageFileIsAPreciseError) {
  TempDir dir;
  {
    std::ofstream f(dir.path() + "/gpuslice.db", std::ios::binary);
    for (int i = 0; i < 4096; ++i) f.put(static_cast<char>((i * 131) ^ 0x5a));
  }
  auto s = OpenIn(dir.path());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(s.error().message, HasSubstr("not a database"));
  EXPECT_THAT(s.error().message, HasSubstr("gpuslice.db"));
}

TEST(SqliteStoreTest, SecondOpenOfTheSameDirIsRefused) {
  TempDir dir;
  auto a = OpenIn(dir.path());
  ASSERT_TRUE(a);
  auto b = OpenIn(dir.path());
  ASSERT_FALSE(b);
  EXPECT_THAT(b.error().message, HasSubstr("another gpuslice store"));
  (*a)->Close();
  a->reset();
  EXPECT_TRUE(OpenIn(dir.path()));
}

TEST(SqliteStoreTest, FailingBatchDoesNotFailItsGroup) {
  TempDir dir;
  SqliteOptions o;
  o.data_dir = dir.path();
  o.fail_batch_for_test = [](const WriteBatch& b) { return b.ops()[0].job.id % 5 == 0; };
  auto s = SqliteStore::Open(o);
  ASSERT_TRUE(s);
  std::vector<std::thread> threads;
  std::atomic<int> failed{0}, grouped{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 1; i <= 40; ++i) {
        uint64_t id = static_cast<uint64_t>(t * 100 + i);
        auto r = (*s)->Apply(WriteBatch().PutJob(Job(id)).AppendEvent("e", "{}"));
        EXPECT_EQ(static_cast<bool>(r), id % 5 != 0);
        if (!r) ++failed;
        if (r && r->group_size > 1) ++grouped;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 8 * 8);
  for (uint64_t t = 0; t < 8; ++t)
    for (uint64_t i = 1; i <= 40; ++i) EXPECT_EQ(static_cast<bool>((*s)->GetJob(t * 100 + i)), i % 5 != 0);
  // Events of rolled-back batches left no gap: seqs 1..N are all there.
  auto events = (*s)->ReadEvents(0, 0);
  ASSERT_EQ(events->size(), 8u * 32u);
  for (std::size_t k = 0; k < events->size(); ++k) EXPECT_EQ((*events)[k].seq, k + 1);
  RecordProperty("grouped_acks", grouped.load());
}

TEST(SqliteStoreTest, BackgroundCheckpointCopiesTheWalIntoTheDatabase) {
  TempDir dir;
  SqliteOptions o;
  o.data_dir = dir.path();
  o.checkpoint_pages = 20;
  auto s = SqliteStore::Open(o);
  ASSERT_TRUE(s);
  const std::string db_file = (*s)->path();
  const auto initial = std::filesystem::file_size(db_file);
  for (uint64_t id = 1; id <= 500; ++id) ASSERT_TRUE((*s)->Apply(WriteBatch().PutJob(Job(id))));
  // Automatic checkpoints are off, so only the checkpointer thread can grow the database file
  // while the store is open.
  for (int i = 0; i < 200 && std::filesystem::file_size(db_file) <= initial + 64 * 1024; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GT(std::filesystem::file_size(db_file), initial + 64 * 1024);
  EXPECT_EQ(*(*s)->IntegrityCheck(), "ok");
}

// The child: opens the store, then 4 threads apply batches in a loop and write each acknowledged
// job id to the pipe (8-byte writes are atomic on a pipe). It never returns; the parent kills it.
[[noreturn]] void CrashChild(const std::string& dir, int ack_fd) {
  auto s = OpenIn(dir);
  if (!s) _exit(2);
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 1;; ++i) {
        uint64_t id = t * 1'000'000 + i;
        auto r = (*s)->Apply(WriteBatch()
                                 .PutJob(Job(id))
                                 .Put(Collection::kMeta, fmt::format("last-{}", t), std::to_string(id))
                                 .AppendEvent("submitted", fmt::format(R"({{"job":{}}})", id)));
        if (!r) _exit(3);
        if (::write(ack_fd, &id, sizeof id) != sizeof id) _exit(4);
      }
    });
  }
  for (auto& th : threads) th.join();
  _exit(0);
}

TEST(SqliteStoreCrashTest, KillNineLosesNothingAcknowledged) {
  TempDir dir;
  uint64_t seq_before = 0;  // events from earlier rounds
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(fmt::format("round {}", round));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      CrashChild(dir.path(), fds[1]);
    }
    ::close(fds[1]);
    std::vector<uint64_t> acked;
    const std::size_t kill_after = 300 + static_cast<std::size_t>(round) * 150;
    uint64_t id = 0;
    while (::read(fds[0], &id, sizeof id) == sizeof id) {
      acked.push_back(id);
      if (acked.size() == kill_after) {
        ASSERT_EQ(::kill(pid, SIGKILL), 0);
      }
    }
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    EXPECT_EQ(WTERMSIG(status), SIGKILL);
    ASSERT_GE(acked.size(), kill_after);

    auto s = OpenIn(dir.path());
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(*(*s)->IntegrityCheck(), "ok");
    std::size_t missing = 0;
    for (uint64_t a : acked) missing += (*s)->GetJob(a) ? 0 : 1;
    EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acknowledged jobs";
    // Events and jobs committed together: one event per job, seqs without holes.
    auto snap = (*s)->LoadAll();
    ASSERT_TRUE(snap);
    EXPECT_EQ(snap->last_event_seq - seq_before, snap->jobs.size());
    EXPECT_EQ((*s)->ReadEvents(seq_before, 0)->size(), snap->jobs.size());
    seq_before = snap->last_event_seq;
    // Clear for the next round so each round's acks are checked against fresh ids.
    WriteBatch clear;
    for (const JobRecord& j : snap->jobs) clear.DeleteJob(j.id);
    ASSERT_TRUE((*s)->Apply(clear));
  }
}

}  // namespace
}  // namespace gpuslice::store
