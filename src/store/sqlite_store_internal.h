// SqliteStore's private state, shared by sqlite_store.cc (open, schema, reads) and
// sqlite_commit.cc (the group-commit writer). Internal to src/store.
#pragma once

#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "store/sqlite_db.h"
#include "store/sqlite_store.h"

namespace gpuslice::store {

// One caller's batch waiting in the commit queue; lives on the caller's stack until `done`.
struct PendingBatch {
  const WriteBatch* batch = nullptr;
  Result<CommitInfo> result = CommitInfo{};
  bool done = false;  // guarded by Impl::mu
  std::condition_variable cv;
};

inline constexpr std::size_t kCollections = 4;
inline std::size_t Index(Collection c) {
  return static_cast<std::size_t>(c);
}

struct WriterStmts {
  sqlite::StmtPtr begin, commit, rollback, savepoint, release, rollback_to;
  sqlite::StmtPtr put_job, delete_job, append_event;
  std::array<sqlite::StmtPtr, kCollections> put, del;
};

struct ReaderStmts {
  sqlite::StmtPtr begin, commit;
  sqlite::StmtPtr get_job, read_events, last_seq;
  std::array<sqlite::StmtPtr, 4> list_jobs;  // index: (team ? 1 : 0) | (state ? 2 : 0)
  std::array<sqlite::StmtPtr, kCollections> get, list;
};

struct SqliteStore::Impl {
  SqliteOptions options;
  std::string path;
  int lock_fd = -1;

  // Writer side: used by Open, then only by the committer thread.
  sqlite::DbPtr writer;
  WriterStmts w;
  uint64_t last_seq = 0;  // highest committed event seq (committer thread only after Open)

  // Guarded by mu: the commit queue and the open/closed state of the writer.
  std::mutex mu;
  std::condition_variable work_cv;
  std::deque<PendingBatch*> queue;
  bool stopping = false;

  std::thread committer;
  std::once_flag close_once;

  // Checkpointer: its own connection and thread, woken by the writer's WAL hook.
  sqlite::DbPtr checkpoint_db;
  std::thread checkpointer;
  // Guarded by ckpt_mu.
  std::mutex ckpt_mu;
  std::condition_variable ckpt_cv;
  bool ckpt_wanted = false;
  bool ckpt_stop = false;

  // Guarded by read_mu: the reader connection and its statements.
  std::mutex read_mu;
  sqlite::DbPtr reader;
  ReaderStmts r;
  bool read_closed = false;

  ~Impl();
  Result<void> PrepareWriter();
  Result<void> PrepareReader();
  void CommitterLoop();
  void CommitGroup(std::vector<PendingBatch*>& group);
  Result<void> ApplyOps(const WriteBatch& batch, CommitInfo& info);
  Result<void> Step(sqlite3_stmt* s, std::string_view what) {
    return sqlite::StepDone(writer.get(), s, what);
  }
  void Shutdown();
  // Checkpointing (sqlite_checkpoint.cc).
  Result<void> StartCheckpointer();
  void CheckpointerLoop();
  void StopCheckpointer();
};

}  // namespace gpuslice::store
