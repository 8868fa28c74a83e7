// Thin RAII helpers over the SQLite C API, shared by SqliteStore's files. Internal to src/store.
//
// Thread-safety: none of their own; a connection and its statements are used by one thread at a
// time (SqliteStore keeps the writer connection on its committer thread and the reader behind a
// mutex).
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"

namespace gpuslice::store::sqlite {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Resets and unbinds a statement when the scope ends, so it can run again and holds no read lock.
class StmtScope {
 public:
  explicit StmtScope(sqlite3_stmt* s) : s_(s) {}
  ~StmtScope() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  StmtScope(const StmtScope&) = delete;
  StmtScope& operator=(const StmtScope&) = delete;

 private:
  sqlite3_stmt* s_;
};

// An Error for SQLite result `rc` on `db` while doing `what`. Codes: corrupt / not-a-database /
// cannot open / read-only → kFailedPrecondition (an operator must act); busy, locked, full, I/O
// error → kUnavailable (retry may succeed); anything else → kInternal.
Error SqliteError(sqlite3* db, int rc, std::string_view what);

// Opens (creating if asked) the database at `path` with a busy timeout. Touches no page yet.
Result<DbPtr> OpenDb(const std::string& path, int busy_timeout_ms);
Result<StmtPtr> Prepare(sqlite3* db, std::string_view sql);
// Runs one or more statements that return no rows of interest.
Result<void> Exec(sqlite3* db, const char* sql);
// Steps a statement that returns no rows (INSERT, DELETE, BEGIN, …) to completion.
Result<void> StepDone(sqlite3* db, sqlite3_stmt* s, std::string_view what);

inline void BindText(sqlite3_stmt* s, int i, std::string_view text) {
  // SQLITE_STATIC: the caller keeps `text` alive until the statement is reset.
  sqlite3_bind_text(s, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}
inline std::string ColumnText(sqlite3_stmt* s, int i) {
  const unsigned char* p = sqlite3_column_text(s, i);
  return p == nullptr ? std::string()
                      : std::string(reinterpret_cast<const char*>(p),
                                    static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}

}  // namespace gpuslice::store::sqlite
