#include "store/sqlite_db.h"

namespace gpuslice::store::sqlite {

Error SqliteError(sqlite3* db, int rc, std::string_view what) {
  const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string text = fmt::format("{}: {} (sqlite code {})", what, msg, rc);
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Error{ErrorCode::kFailedPrecondition,
                   text + "; the database file is damaged or is not a gpuslice database"};
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH: return Error{ErrorCode::kFailedPrecondition, std::move(text)};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOMEM: return Error{ErrorCode::kUnavailable, std::move(text)};
    default: return Error{ErrorCode::kInternal, std::move(text)};
  }
}

Result<DbPtr> OpenDb(const std::string& path, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  // NOMUTEX: each connection is confined to one thread at a time by SqliteStore.
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) return Fail(SqliteError(db.get(), rc, fmt::format("open {}", path)));
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), busy_timeout_ms);
  return db;
}

Result<StmtPtr> Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &raw,
                              nullptr);
  StmtPtr s(raw);
  if (rc != SQLITE_OK) return Fail(SqliteError(db, rc, fmt::format("prepare '{}'", sql)));
  return s;
}

Result<void> Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) return Fail(SqliteError(db, rc, fmt::format("exec '{}'", sql)));
  return {};
}

Result<void> StepDone(sqlite3* db, sqlite3_stmt* s, std::string_view what) {
  int rc = sqlite3_step(s);
  while (rc == SQLITE_ROW) rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) return Fail(SqliteError(db, rc, what));
  return {};
}

}  // namespace gpuslice::store::sqlite
