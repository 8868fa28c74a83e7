// SqliteStore's background WAL checkpointer.
//
// Why: with SQLite's automatic checkpoint, the commit that pushes the WAL past 1000 pages also
// copies the WAL into the database and fsyncs both, inside the committer — a latency spike for
// every batch queued behind it. Here the writer's WAL hook only signals; a separate connection
// runs a PASSIVE checkpoint (copies what no reader still needs; never waits for, or blocks, the
// writer). Durability does not depend on checkpoints: a commit is durable once its WAL frames are
// synced; the checkpoint only bounds the WAL's size and recovery time.
#include "store/sqlite_store_internal.h"

namespace gpuslice::store {
namespace {

// Called by SQLite on the committer thread after each commit with the WAL's size in pages.
int OnWalCommit(void* arg, sqlite3* /*db*/, const char* /*name*/, int pages) {
  auto* impl = static_cast<SqliteStore::Impl*>(arg);
  if (pages >= impl->options.checkpoint_pages) {
    std::lock_guard lock(impl->ckpt_mu);
    impl->ckpt_wanted = true;
    impl->ckpt_cv.notify_one();
  }
  return SQLITE_OK;
}

}  // namespace

Result<void> SqliteStore::Impl::StartCheckpointer() {
  auto db = sqlite::OpenDb(path, options.busy_timeout_ms);
  if (!db) return Fail(db.error());
  checkpoint_db = std::move(*db);
  // A connection that has not read the file yet does not know it is in WAL mode, and its
  // checkpoints would be silent no-ops; reading the schema once opens the WAL. The checkpoint
  // syncs the WAL before copying and the database after (synchronous=FULL on this connection too).
  if (auto r =
          sqlite::Exec(checkpoint_db.get(), "PRAGMA synchronous = FULL; SELECT count(*) FROM sqlite_master");
      !r)
    return Fail(r.error().WithContext(path));
  // Replaces (and so disables) SQLite's automatic checkpoint on the writer.
  sqlite3_wal_hook(writer.get(), &OnWalCommit, this);
  checkpointer = std::thread([this] { CheckpointerLoop(); });
  return {};
}

void SqliteStore::Impl::CheckpointerLoop() {
  for (;;) {
    {
      std::unique_lock lock(ckpt_mu);
      ckpt_cv.wait(lock, [&] { return ckpt_wanted || ckpt_stop; });
      if (ckpt_stop) return;
      ckpt_wanted = false;
    }
    // A failure (busy, I/O) is retried at the next signal; the WAL just grows meanwhile.
    (void)sqlite3_wal_checkpoint_v2(checkpoint_db.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                    nullptr);
  }
}

void SqliteStore::Impl::StopCheckpointer() {
  {
    std::lock_guard lock(ckpt_mu);
    ckpt_stop = true;
  }
  ckpt_cv.notify_one();
  if (checkpointer.joinable()) checkpointer.join();
  checkpoint_db.reset();
}

}  // namespace gpuslice::store
