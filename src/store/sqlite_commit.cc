// SqliteStore's write path: Apply and the group-commit committer thread.
//
// Committer loop:
//  1. wait for queued batches; take all of them (up to max_group_batches);
//  2. BEGIN IMMEDIATE;
//  3. per batch: SAVEPOINT; run its ops; RELEASE on success, ROLLBACK TO + RELEASE on failure
//     (that batch alone fails; its event seqs are handed to the next batch);
//  4. COMMIT — with synchronous=FULL this fsyncs the WAL once for the whole group;
//  5. wake every caller of the group with its result.
// If SQLite abandons the transaction (an I/O error rolls it back automatically) or COMMIT fails,
// every batch of the group fails with the error and the in-memory seq counter is restored.
#include <utility>

#include "store/sqlite_store_internal.h"

namespace gpuslice::store {

Result<CommitInfo> SqliteStore::Apply(const WriteBatch& batch) {
  if (auto v = ValidateBatch(batch); !v) return Fail(v.error());
  PendingBatch p;
  p.batch = &batch;
  std::unique_lock lock(impl_->mu);
  if (impl_->stopping) return Fail(ErrorCode::kFailedPrecondition, "store {} is closed", impl_->path);
  impl_->queue.push_back(&p);
  impl_->work_cv.notify_one();
  p.cv.wait(lock, [&] { return p.done; });
  return std::move(p.result);
}

void SqliteStore::Impl::CommitterLoop() {
  std::vector<PendingBatch*> group;
  for (;;) {
    {
      std::unique_lock lock(mu);
      work_cv.wait(lock, [&] { return !queue.empty() || stopping; });
      if (queue.empty()) return;  // stopping, and every queued batch has been answered
      std::size_t n = std::min(queue.size(), std::max<std::size_t>(options.max_group_batches, 1));
      group.assign(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
      queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
    }
    CommitGroup(group);
    {
      std::lock_guard lock(mu);
      for (PendingBatch* p : group) {
        p->done = true;
        p->cv.notify_one();  // under mu: p stays alive until its caller sees done
      }
    }
    group.clear();
  }
}

Result<void> SqliteStore::Impl::ApplyOps(const WriteBatch& batch, CommitInfo& info) {
  for (const WriteOp& op : batch.ops()) {
    sqlite3_stmt* s = nullptr;
    switch (op.kind) {
      case WriteOp::Kind::kPutJob:
        s = w.put_job.get();
        sqlite3_bind_int64(s, 1, static_cast<int64_t>(op.job.id));
        sqlite::BindText(s, 2, op.job.team);
        sqlite::BindText(s, 3, op.job.state);
        sqlite::BindText(s, 4, op.job.json);
        sqlite3_bind_int64(s, 5, op.job.updated_at_ms);
        break;
      case WriteOp::Kind::kDeleteJob:
        s = w.delete_job.get();
        sqlite3_bind_int64(s, 1, static_cast<int64_t>(op.job.id));
        break;
      case WriteOp::Kind::kPut:
        s = w.put[Index(op.collection)].get();
        sqlite::BindText(s, 1, op.key);
        sqlite::BindText(s, 2, op.value);
        break;
      case WriteOp::Kind::kDelete:
        s = w.del[Index(op.collection)].get();
        sqlite::BindText(s, 1, op.key);
        break;
      case WriteOp::Kind::kAppendEvent:
        s = w.append_event.get();
        sqlite3_bind_int64(s, 1, static_cast<int64_t>(last_seq + 1));
        sqlite::BindText(s, 2, op.event_kind);
        sqlite::BindText(s, 3, op.value);
        break;
    }
    sqlite::StmtScope scope(s);
    if (auto r = Step(s, "apply batch op"); !r) return r;
    if (op.kind == WriteOp::Kind::kAppendEvent) {
      ++last_seq;
      if (info.event_count++ == 0) info.first_event_seq = last_seq;
    }
  }
  if (options.fail_batch_for_test && options.fail_batch_for_test(batch))
    return Fail(ErrorCode::kInternal, "injected batch failure (test)");
  return {};
}

void SqliteStore::Impl::CommitGroup(std::vector<PendingBatch*>& group) {
  const uint64_t seq_at_start = last_seq;
  auto fail_all = [&](const Error& e) {
    for (PendingBatch* p : group) p->result = tl::unexpected<Error>(e);
    last_seq = seq_at_start;
  };
  auto run = [&](const sqlite::StmtPtr& s, std::string_view what) {
    sqlite::StmtScope scope(s.get());
    return Step(s.get(), what);
  };
  if (auto r = run(w.begin, "begin transaction"); !r) return fail_all(r.error());

  uint32_t committed = 0;
  for (PendingBatch* p : group) {
    const uint64_t seq_before = last_seq;
    CommitInfo info;
    Result<void> r = run(w.savepoint, "savepoint");
    if (r) r = ApplyOps(*p->batch, info);
    if (r) r = run(w.release, "release savepoint");
    if (r) {
      p->result = info;
      ++committed;
      continue;
    }
    p->result = Fail(r.error());
    last_seq = seq_before;
    if (sqlite3_get_autocommit(writer.get()) != 0) {  // SQLite rolled the whole transaction back
      return fail_all(r.error().WithContext("transaction aborted"));
    }
    auto undo = run(w.rollback_to, "rollback to savepoint");
    if (undo) undo = run(w.release, "release savepoint");
    if (!undo) {
      (void)run(w.rollback, "rollback");
      return fail_all(undo.error());
    }
  }
  if (auto r = run(w.commit, "commit"); !r) {
    if (sqlite3_get_autocommit(writer.get()) == 0) (void)run(w.rollback, "rollback");
    return fail_all(r.error());
  }
  for (PendingBatch* p : group) {
    if (p->result) p->result->group_size = committed;
  }
}

void SqliteStore::Impl::Shutdown() {
  std::call_once(close_once, [&] {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    work_cv.notify_one();
    if (committer.joinable()) committer.join();
    StopCheckpointer();
    {
      std::lock_guard lock(read_mu);
      read_closed = true;
      r = ReaderStmts{};
      reader.reset();
    }
    // The writer closes last: as the last connection it checkpoints the WAL into the database.
    w = WriterStmts{};
    writer.reset();
  });
}

void SqliteStore::Close() {
  impl_->Shutdown();
}

}  // namespace gpuslice::store
