// StateStore: the server's durable state (DESIGN.md §6) as typed records in a few collections.
//
// Collections:
//  * jobs    — id (1..INT64_MAX) → team, state, the job as a JSON text blob, updated_at (unix ms);
//  * teams   — name → JSON config;
//  * tokens  — token HASH → JSON {role, team}. The caller passes a hash (e.g. hex SHA-256) of the
//              bearer token, never the raw token: the store writes what it is given to disk and
//              does not know how to hash. A raw token in this collection is a caller bug;
//  * nodes   — name → JSON;
//  * events  — an append-only log; the store assigns each event a sequence number, strictly
//              increasing across the life of the store (never reused, also after a failed batch
//              or a restart). The server reads it for SSE and for recovery;
//  * meta    — a small key → string table (next job id, scheduler generation, …).
//
// Writes go through a WriteBatch: Apply() applies every op of the batch atomically (all or
// nothing) and returns only once the batch is durable. A batch with an invalid op (see
// ValidateBatch) changes nothing and fails with kInvalidArgument. Deleting a key that is not there
// is a valid no-op. Reads see every batch whose Apply has returned (read-your-writes).
//
// Implementations: SqliteStore (sqlite_store.h; the embedded default, durable) and MemoryStore
// (memory_store.h; the in-memory fake for tests of the layers above). One contract suite
// (store_contract_test.cc) runs against both.
//
// Thread-safety: every method of every implementation may be called from any number of threads at
// once. Close() is idempotent; after it, Apply and the reads fail with kFailedPrecondition.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace gpuslice::store {

// The key → value collections (jobs and events have their own record types).
enum class Collection { kTeams, kTokens, kNodes, kMeta };

std::string_view CollectionName(Collection c);

struct JobRecord {
  uint64_t id = 0;
  std::string team;
  std::string state;  // "pending", "running", … (owned by the server; opaque here)
  std::string json;   // the full job as JSON text
  int64_t updated_at_ms = 0;

  bool operator==(const JobRecord&) const = default;
};

struct EventRecord {
  uint64_t seq = 0;
  std::string kind;
  std::string json;

  bool operator==(const EventRecord&) const = default;
};

// One op of a WriteBatch. Plain data; built through WriteBatch's helpers.
struct WriteOp {
  enum class Kind { kPutJob, kDeleteJob, kPut, kDelete, kAppendEvent };
  Kind kind = Kind::kPut;
  Collection collection = Collection::kMeta;  // kPut / kDelete only
  JobRecord job;                              // kPutJob; kDeleteJob uses job.id
  std::string key;                            // kPut / kDelete
  std::string value;                          // kPut: the value; kAppendEvent: the event JSON
  std::string event_kind;                     // kAppendEvent
};

// An ordered list of writes applied atomically by StateStore::Apply. Later ops see earlier ones
// (put then delete of one key leaves it absent). Cheap to build; not thread-safe.
class WriteBatch {
 public:
  WriteBatch& PutJob(JobRecord job);
  WriteBatch& DeleteJob(uint64_t id);
  // value must be JSON text for teams, tokens and nodes; any string for meta.
  WriteBatch& Put(Collection c, std::string key, std::string value);
  WriteBatch& Delete(Collection c, std::string key);
  WriteBatch& AppendEvent(std::string kind, std::string json);

  const std::vector<WriteOp>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  std::size_t size() const { return ops_.size(); }
  std::size_t event_count() const;

 private:
  std::vector<WriteOp> ops_;
};

// What Apply reports once a batch is durable.
struct CommitInfo {
  uint64_t first_event_seq = 0;  // seq of the batch's first event; 0 when it appended none
  uint32_t event_count = 0;      // its events have seqs first_event_seq .. first + count - 1
  uint32_t group_size = 1;       // batches made durable by the same commit (1 for MemoryStore)
};

// ListJobs filter. Results are ordered by id ascending; page with after_id = last id seen.
struct JobFilter {
  std::optional<std::string> team;
  std::optional<std::string> state;
  uint64_t after_id = 0;  // only ids > after_id
  std::size_t limit = 0;  // 0 = no limit
};

// Everything, for server start.
struct Snapshot {
  std::vector<JobRecord> jobs;  // by id ascending
  std::map<std::string, std::string> teams, tokens, nodes, meta;
  uint64_t last_event_seq = 0;  // 0 when the log is empty
};

// Limits enforced by ValidateBatch.
inline constexpr std::size_t kMaxKeyBytes = 1024;
inline constexpr std::size_t kMaxValueBytes = 16 << 20;

// Checks every op of `batch`; the first invalid one gives kInvalidArgument naming its index.
// Invalid: job id 0 or > INT64_MAX, empty team/state/event kind/key, a key over kMaxKeyBytes, a
// value over kMaxValueBytes, or text that is not JSON where JSON is required (job, team, token,
// node, event). An empty batch is valid (and a durable no-op).
Result<void> ValidateBatch(const WriteBatch& batch);

class StateStore {
 public:
  virtual ~StateStore() = default;

  // Applies `batch` atomically and durably (see header comment). Errors: kInvalidArgument (nothing
  // applied), kFailedPrecondition (store closed; nothing applied), kUnavailable (the store could
  // not commit: disk full, I/O error). After kUnavailable the batch is not visible, but when the
  // failure was an fsync error at commit its outcome is unknown — like any database, the store
  // cannot tell whether the bytes reached the disk, so it may appear after a restart. Retrying the
  // same batch is safe for puts and deletes (idempotent); a retried event may be logged twice.
  // kInternal: the database rejected an op of this batch; nothing of it applied.
  virtual Result<CommitInfo> Apply(const WriteBatch& batch) = 0;

  // kNotFound when absent.
  virtual Result<JobRecord> GetJob(uint64_t id) = 0;
  virtual Result<std::string> Get(Collection c, std::string_view key) = 0;

  virtual Result<std::vector<JobRecord>> ListJobs(const JobFilter& filter) = 0;
  // Every key → value of one collection, by key.
  virtual Result<std::map<std::string, std::string>> List(Collection c) = 0;

  // Events with seq > after_seq, ascending, at most `limit` (0 = all).
  virtual Result<std::vector<EventRecord>> ReadEvents(uint64_t after_seq, std::size_t limit) = 0;
  virtual Result<uint64_t> LastEventSeq() = 0;

  virtual Result<Snapshot> LoadAll() = 0;

  // Waits for in-flight Apply calls to finish, then releases the store. Idempotent.
  virtual void Close() = 0;
};

}  // namespace gpuslice::store
