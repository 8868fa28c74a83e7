// SqliteStore: the embedded, durable StateStore (DESIGN.md §6) — one SQLite database file in a
// data directory. docs/store.md has the schema and the durability argument.
//
// Durability. The database runs in WAL mode with synchronous=FULL: every commit appends to the
// WAL and fsyncs it before COMMIT returns, so a batch whose Apply has returned survives kill -9
// and power loss (given a disk that honours fsync). synchronous=NORMAL would not: in WAL mode it
// skips the fsync at commit and a power cut can lose the last transactions.
//
// Group commit. Apply validates the batch, queues it and blocks. One committer thread takes every
// queued batch (up to max_group_batches) into one transaction — one fsync for the group — with a
// SAVEPOINT per batch, so a batch that fails inside SQLite is rolled back alone and the others
// commit. Every caller is woken once the COMMIT is durable (or has failed).
//
// Checkpoints run on a background thread with its own connection (PASSIVE: they never block the
// committer), started when the WAL passes checkpoint_pages, so their fsyncs stay off the commit
// path; SQLite's automatic checkpoint, which would run inside a commit, is off.
//
// Schema versions. PRAGMA user_version holds the schema version; Open applies the ordered
// migrations up to kSchemaVersion, each in its own transaction, and refuses a database written by
// a newer gpuslice (kFailedPrecondition). A damaged file, or one that is not a SQLite database,
// gives kFailedPrecondition with SQLite's message, never a crash.
//
// One process at a time: Open takes an exclusive flock on <data_dir>/<file>.lock and fails with
// kFailedPrecondition when another store holds it.
//
// Thread-safety: all methods may be called concurrently. Writes run on the committer thread's
// connection; reads share a second connection behind a mutex (WAL lets them run during a commit).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "store/state_store.h"

namespace gpuslice::store {

struct SqliteOptions {
  std::string data_dir;  // created if missing
  std::string file_name = "gpuslice.db";
  int busy_timeout_ms = 5000;
  std::size_t max_group_batches = 4096;  // most batches one transaction takes
  int checkpoint_pages = 1000;           // WAL size (pages) that wakes the background checkpointer
  // Test hook: a batch for which this returns true fails inside its savepoint after its ops have
  // run, as an SQL error would (kInternal), to prove the rest of its group still commits.
  std::function<bool(const WriteBatch&)> fail_batch_for_test;
};

class SqliteStore final : public StateStore {
 public:
  static constexpr int kSchemaVersion = 1;

  static Result<std::unique_ptr<SqliteStore>> Open(const SqliteOptions& options);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Result<CommitInfo> Apply(const WriteBatch& batch) override;
  Result<JobRecord> GetJob(uint64_t id) override;
  Result<std::string> Get(Collection c, std::string_view key) override;
  Result<std::vector<JobRecord>> ListJobs(const JobFilter& filter) override;
  Result<std::map<std::string, std::string>> List(Collection c) override;
  Result<std::vector<EventRecord>> ReadEvents(uint64_t after_seq, std::size_t limit) override;
  Result<uint64_t> LastEventSeq() override;
  Result<Snapshot> LoadAll() override;
  void Close() override;

  // PRAGMA integrity_check: "ok", or SQLite's list of problems.
  Result<std::string> IntegrityCheck();
  // The database file's path.
  const std::string& path() const;

  struct Impl;

 private:
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpuslice::store
