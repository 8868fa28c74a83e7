// SqliteStore: open (lock, pragmas, migrations), prepared statements, and the read path.
#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "store/sqlite_store_internal.h"

namespace gpuslice::store {
namespace {

using sqlite::BindText;
using sqlite::ColumnText;
using sqlite::StmtScope;

// Ordered migrations: kMigrations[i] takes the schema from version i to i + 1.
constexpr const char* kMigrations[] = {
    // 0 → 1: the initial schema.
    "CREATE TABLE jobs (id INTEGER PRIMARY KEY, team TEXT NOT NULL, state TEXT NOT NULL,"
    " body TEXT NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE INDEX jobs_by_team ON jobs (team, id);"
    "CREATE INDEX jobs_by_state ON jobs (state, id);"
    "CREATE TABLE teams (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE tokens (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE nodes (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE events (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL);",
};
static_assert(std::size(kMigrations) == SqliteStore::kSchemaVersion);

constexpr const char* kJobColumns = "SELECT id, team, state, body, updated_at FROM jobs";

Result<int64_t> QueryInt(sqlite3* db, const char* sql) {
  auto s = sqlite::Prepare(db, sql);
  if (!s) return Fail(s.error());
  int rc = sqlite3_step(s->get());
  if (rc != SQLITE_ROW) return Fail(sqlite::SqliteError(db, rc, sql));
  return sqlite3_column_int64(s->get(), 0);
}

Result<void> Migrate(sqlite3* db, const std::string& path) {
  auto version = QueryInt(db, "PRAGMA user_version");
  if (!version) return Fail(version.error());
  if (*version > SqliteStore::kSchemaVersion)
    return Fail(ErrorCode::kFailedPrecondition,
                "{} has schema version {}, newer than the {} this gpuslice understands; run a newer gpuslice",
                path, *version, SqliteStore::kSchemaVersion);
  if (*version < 0)
    return Fail(ErrorCode::kFailedPrecondition, "{} has invalid schema version {}", path, *version);
  for (int64_t v = *version; v < SqliteStore::kSchemaVersion; ++v) {
    std::string sql = fmt::format("BEGIN IMMEDIATE; {} PRAGMA user_version = {}; COMMIT;",
                                  kMigrations[static_cast<std::size_t>(v)], v + 1);
    if (auto r = sqlite::Exec(db, sql.c_str()); !r) {
      (void)sqlite::Exec(db, "ROLLBACK");
      return Fail(r.error().WithContext(fmt::format("migrate {} to schema version {}", path, v + 1)));
    }
  }
  return {};
}

Result<int> LockDataDir(const std::string& lock_path) {
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(ErrorCode::kFailedPrecondition, "open {}: {}", lock_path, std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return Fail(ErrorCode::kFailedPrecondition,
                  "{} is locked: another gpuslice store has this data dir open", lock_path);
    return Fail(ErrorCode::kFailedPrecondition, "lock {}: {}", lock_path, std::strerror(err));
  }
  return fd;
}

JobRecord ReadJob(sqlite3_stmt* s) {
  return JobRecord{static_cast<uint64_t>(sqlite3_column_int64(s, 0)), ColumnText(s, 1), ColumnText(s, 2),
                   ColumnText(s, 3), sqlite3_column_int64(s, 4)};
}

}  // namespace

SqliteStore::Impl::~Impl() {
  Shutdown();
  if (lock_fd >= 0) ::close(lock_fd);
}

Result<void> SqliteStore::Impl::PrepareWriter() {
  sqlite3* db = writer.get();
  auto prep = [&](sqlite::StmtPtr& out, const std::string& sql) -> Result<void> {
    auto s = sqlite::Prepare(db, sql);
    if (!s) return Fail(s.error());
    out = std::move(*s);
    return {};
  };
  Result<void> r = prep(w.begin, "BEGIN IMMEDIATE");
  if (r) r = prep(w.commit, "COMMIT");
  if (r) r = prep(w.rollback, "ROLLBACK");
  if (r) r = prep(w.savepoint, "SAVEPOINT batch");
  if (r) r = prep(w.release, "RELEASE batch");
  if (r) r = prep(w.rollback_to, "ROLLBACK TO batch");
  if (r)
    r = prep(w.put_job,
             "INSERT OR REPLACE INTO jobs (id, team, state, body, updated_at) VALUES (?, ?, ?, ?, ?)");
  if (r) r = prep(w.delete_job, "DELETE FROM jobs WHERE id = ?");
  if (r) r = prep(w.append_event, "INSERT INTO events (seq, kind, body) VALUES (?, ?, ?)");
  for (std::size_t i = 0; r && i < kCollections; ++i) {
    std::string_view table = CollectionName(static_cast<Collection>(i));
    r = prep(w.put[i], fmt::format("INSERT OR REPLACE INTO {} (key, value) VALUES (?, ?)", table));
    if (r) r = prep(w.del[i], fmt::format("DELETE FROM {} WHERE key = ?", table));
  }
  return r;
}

Result<void> SqliteStore::Impl::PrepareReader() {
  sqlite3* db = reader.get();
  auto prep = [&](sqlite::StmtPtr& out, const std::string& sql) -> Result<void> {
    auto s = sqlite::Prepare(db, sql);
    if (!s) return Fail(s.error());
    out = std::move(*s);
    return {};
  };
  Result<void> res = prep(r.begin, "BEGIN");
  if (res) res = prep(r.commit, "COMMIT");
  if (res) res = prep(r.get_job, fmt::format("{} WHERE id = ?", kJobColumns));
  if (res) res = prep(r.read_events, "SELECT seq, kind, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?");
  if (res) res = prep(r.last_seq, "SELECT COALESCE(MAX(seq), 0) FROM events");
  // One statement per filter shape so each can use its index (jobs_by_team / jobs_by_state).
  const char* where[4] = {"", " AND team = ?2", " AND state = ?3", " AND team = ?2 AND state = ?3"};
  for (std::size_t i = 0; res && i < 4; ++i)
    res = prep(r.list_jobs[i], fmt::format("{} WHERE id > ?1{} ORDER BY id LIMIT ?4", kJobColumns, where[i]));
  for (std::size_t i = 0; res && i < kCollections; ++i) {
    std::string_view table = CollectionName(static_cast<Collection>(i));
    res = prep(r.get[i], fmt::format("SELECT value FROM {} WHERE key = ?", table));
    if (res) res = prep(r.list[i], fmt::format("SELECT key, value FROM {} ORDER BY key", table));
  }
  return res;
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const SqliteOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec)
    return Fail(ErrorCode::kFailedPrecondition, "create data dir {}: {}", options.data_dir, ec.message());
  impl->path = (std::filesystem::path(options.data_dir) / options.file_name).string();
  auto fd = LockDataDir(impl->path + ".lock");
  if (!fd) return Fail(fd.error());
  impl->lock_fd = *fd;

  auto writer = sqlite::OpenDb(impl->path, options.busy_timeout_ms);
  if (!writer) return Fail(writer.error());
  impl->writer = std::move(*writer);
  sqlite3* db = impl->writer.get();
  // The first statement reads the header: a file that is not a database fails here.
  auto mode = sqlite::Prepare(db, "PRAGMA journal_mode = WAL");
  if (!mode) return Fail(mode.error().WithContext(impl->path));
  int rc = sqlite3_step(mode->get());
  if (rc != SQLITE_ROW)
    return Fail(sqlite::SqliteError(db, rc, fmt::format("set WAL mode on {}", impl->path)));
  if (std::string got = ColumnText(mode->get(), 0); got != "wal")
    return Fail(ErrorCode::kFailedPrecondition, "{}: journal mode is '{}', WAL could not be enabled",
                impl->path, got);
  mode->reset();
  if (auto r = sqlite::Exec(db, "PRAGMA synchronous = FULL"); !r) return Fail(r.error());
  if (auto r = Migrate(db, impl->path); !r) return Fail(r.error());
  if (auto r = impl->PrepareWriter(); !r) return Fail(r.error().WithContext(impl->path));
  auto last = QueryInt(db, "SELECT COALESCE(MAX(seq), 0) FROM events");
  if (!last) return Fail(last.error().WithContext(impl->path));
  impl->last_seq = static_cast<uint64_t>(*last);

  auto reader = sqlite::OpenDb(impl->path, options.busy_timeout_ms);
  if (!reader) return Fail(reader.error());
  impl->reader = std::move(*reader);
  if (auto r = sqlite::Exec(impl->reader.get(), "PRAGMA query_only = 1"); !r) return Fail(r.error());
  if (auto r = impl->PrepareReader(); !r) return Fail(r.error().WithContext(impl->path));

  if (auto r = impl->StartCheckpointer(); !r) return Fail(r.error());
  impl->committer = std::thread([p = impl.get()] { p->CommitterLoop(); });
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

const std::string& SqliteStore::path() const {
  return impl_->path;
}

#define GPUSLICE_READ_LOCK()                                                                              \
  std::lock_guard lock(impl_->read_mu);                                                                   \
  if (impl_->read_closed) return Fail(ErrorCode::kFailedPrecondition, "store {} is closed", impl_->path); \
  sqlite3* db = impl_->reader.get()

Result<JobRecord> SqliteStore::GetJob(uint64_t id) {
  GPUSLICE_READ_LOCK();
  sqlite3_stmt* s = impl_->r.get_job.get();
  StmtScope scope(s);
  sqlite3_bind_int64(s, 1, static_cast<int64_t>(id));
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return ReadJob(s);
  if (rc == SQLITE_DONE) return Fail(ErrorCode::kNotFound, "no job {}", id);
  return Fail(sqlite::SqliteError(db, rc, "get job"));
}

Result<std::string> SqliteStore::Get(Collection c, std::string_view key) {
  GPUSLICE_READ_LOCK();
  sqlite3_stmt* s = impl_->r.get[Index(c)].get();
  StmtScope scope(s);
  BindText(s, 1, key);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return ColumnText(s, 0);
  if (rc == SQLITE_DONE) return Fail(ErrorCode::kNotFound, "no {} entry '{}'", CollectionName(c), key);
  return Fail(sqlite::SqliteError(db, rc, fmt::format("get {}", CollectionName(c))));
}

namespace {

// Steps `s` to the end, calling `row(s)` per row.
template <typename F>
Result<void> ForEachRow(sqlite3* db, sqlite3_stmt* s, std::string_view what, F&& row) {
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) row(s);
  if (rc != SQLITE_DONE) return Fail(sqlite::SqliteError(db, rc, what));
  return {};
}

Result<std::vector<JobRecord>> ListJobsWith(sqlite3* db, const ReaderStmts& r, const JobFilter& f) {
  std::size_t shape = (f.team ? 1 : 0) | (f.state ? 2 : 0);
  sqlite3_stmt* s = r.list_jobs[shape].get();
  StmtScope scope(s);
  // Ids above INT64_MAX do not exist (ValidateBatch), so clamp rather than wrap negative.
  sqlite3_bind_int64(s, 1, static_cast<int64_t>(std::min<uint64_t>(f.after_id, INT64_MAX)));
  if (f.team) BindText(s, 2, *f.team);
  if (f.state) BindText(s, 3, *f.state);
  sqlite3_bind_int64(s, 4, f.limit == 0 ? -1 : static_cast<int64_t>(f.limit));
  std::vector<JobRecord> out;
  if (auto res = ForEachRow(db, s, "list jobs", [&](sqlite3_stmt* st) { out.push_back(ReadJob(st)); }); !res)
    return Fail(res.error());
  return out;
}

Result<std::map<std::string, std::string>> ListWith(sqlite3* db, const ReaderStmts& r, Collection c) {
  sqlite3_stmt* s = r.list[Index(c)].get();
  StmtScope scope(s);
  std::map<std::string, std::string> out;
  auto res = ForEachRow(db, s, fmt::format("list {}", CollectionName(c)),
                        [&](sqlite3_stmt* st) { out.emplace(ColumnText(st, 0), ColumnText(st, 1)); });
  if (!res) return Fail(res.error());
  return out;
}

Result<uint64_t> LastSeqWith(sqlite3* db, const ReaderStmts& r) {
  sqlite3_stmt* s = r.last_seq.get();
  StmtScope scope(s);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) return Fail(sqlite::SqliteError(db, rc, "last event seq"));
  return static_cast<uint64_t>(sqlite3_column_int64(s, 0));
}

}  // namespace

Result<std::vector<JobRecord>> SqliteStore::ListJobs(const JobFilter& filter) {
  GPUSLICE_READ_LOCK();
  return ListJobsWith(db, impl_->r, filter);
}

Result<std::map<std::string, std::string>> SqliteStore::List(Collection c) {
  GPUSLICE_READ_LOCK();
  return ListWith(db, impl_->r, c);
}

Result<std::vector<EventRecord>> SqliteStore::ReadEvents(uint64_t after_seq, std::size_t limit) {
  GPUSLICE_READ_LOCK();
  sqlite3_stmt* s = impl_->r.read_events.get();
  StmtScope scope(s);
  sqlite3_bind_int64(s, 1, static_cast<int64_t>(std::min<uint64_t>(after_seq, INT64_MAX)));
  sqlite3_bind_int64(s, 2, limit == 0 ? -1 : static_cast<int64_t>(limit));
  std::vector<EventRecord> out;
  auto res = ForEachRow(db, s, "read events", [&](sqlite3_stmt* st) {
    out.push_back(EventRecord{static_cast<uint64_t>(sqlite3_column_int64(st, 0)), ColumnText(st, 1),
                              ColumnText(st, 2)});
  });
  if (!res) return Fail(res.error());
  return out;
}

Result<uint64_t> SqliteStore::LastEventSeq() {
  GPUSLICE_READ_LOCK();
  return LastSeqWith(db, impl_->r);
}

Result<Snapshot> SqliteStore::LoadAll() {
  GPUSLICE_READ_LOCK();
  // One read transaction: every collection from the same commit.
  {
    StmtScope scope(impl_->r.begin.get());
    if (auto res = sqlite::StepDone(db, impl_->r.begin.get(), "begin read"); !res) return Fail(res.error());
  }
  auto load = [&]() -> Result<Snapshot> {
    Snapshot snap;
    auto jobs = ListJobsWith(db, impl_->r, JobFilter{});
    if (!jobs) return Fail(jobs.error());
    snap.jobs = std::move(*jobs);
    std::map<std::string, std::string>* tables[kCollections] = {&snap.teams, &snap.tokens, &snap.nodes,
                                                                &snap.meta};
    for (std::size_t i = 0; i < kCollections; ++i) {
      auto t = ListWith(db, impl_->r, static_cast<Collection>(i));
      if (!t) return Fail(t.error());
      *tables[i] = std::move(*t);
    }
    auto last = LastSeqWith(db, impl_->r);
    if (!last) return Fail(last.error());
    snap.last_event_seq = *last;
    return snap;
  };
  Result<Snapshot> snap = load();
  StmtScope scope(impl_->r.commit.get());
  if (auto res = sqlite::StepDone(db, impl_->r.commit.get(), "end read"); !res && snap)
    return Fail(res.error());
  return snap;
}

Result<std::string> SqliteStore::IntegrityCheck() {
  GPUSLICE_READ_LOCK();
  auto s = sqlite::Prepare(db, "PRAGMA integrity_check");
  if (!s) return Fail(s.error());
  std::string out;
  auto res = ForEachRow(db, s->get(), "integrity check", [&](sqlite3_stmt* st) {
    if (!out.empty()) out += "\n";
    out += ColumnText(st, 0);
  });
  if (!res) return Fail(res.error());
  return out;
}

#undef GPUSLICE_READ_LOCK

}  // namespace gpuslice::store
