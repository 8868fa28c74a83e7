// Workload output: a named pipe the supervisor reads, and a log file it rotates by size.
//
// Why a named pipe (FIFO) in the state directory rather than an anonymous pipe: the supervisor
// must own the pipe to rotate the log (a child writing to the file itself could not be rotated
// safely), yet a workload must outlive an agent that is restarted or killed. The FIFO has a
// name, so a new agent reopens it and goes on reading; and the workload holds a read end of its
// own (fd 3, the "keeper"), so that while no agent reads, its writes never fail with SIGPIPE -
// they fill the pipe buffer (raised to 1 MiB where allowed) and then block until an agent reads
// again, as a blocking log driver does.
//
// RotatingLog: `<name>.log` plus up to `keep` rotated files `<name>.log.1` (newest) ...
// `<name>.log.<keep>`. No file grows past `max_bytes`: output that would not fit goes to a new
// file after the others shift down by one (the oldest is dropped). Files are cut after a newline
// where possible; only a line longer than `max_bytes` is split.
//
// Ownership: each object owns its descriptors (close-on-exec) and closes them when destroyed.
// Thread-safety: none; used from the supervisor's thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"

namespace gpuslice::agent {

// A file descriptor closed on destruction; move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

struct LogRotation {
  std::int64_t max_bytes = 16 << 20;
  int keep = 3;
};

class RotatingLog {
 public:
  // Opens (creating, appending) `path`. Errors: kUnavailable naming the path and errno.
  static Result<RotatingLog> Open(std::string path, LogRotation rotation);

  Result<void> Append(std::string_view data);
  // Rotates now unless the current file is empty: a new run of a job starts a file of its own
  // (what a log reader ships from a file's start then belongs to this run only).
  Result<void> StartNewFile() { return size_ == 0 ? Result<void>{} : Rotate(); }
  const std::string& path() const { return path_; }

 private:
  RotatingLog(std::string path, LogRotation rotation, UniqueFd fd, std::int64_t size)
      : path_(std::move(path)), rotation_(rotation), fd_(std::move(fd)), size_(size) {}
  Result<void> Rotate();
  Result<void> WriteAll(std::string_view data);

  std::string path_;
  LogRotation rotation_;
  UniqueFd fd_;
  std::int64_t size_ = 0;
};

// The descriptors a child needs: the write end for stdout and stderr, and the keeper.
struct ChildLogEnds {
  UniqueFd write_end;
  UniqueFd keeper;
};

class LogPipe {
 public:
  // Makes the FIFO at `path` (replacing a stale one) and opens its ends.
  static Result<LogPipe> Create(std::string path, ChildLogEnds* child_ends);
  // Opens the read end of an existing FIFO, after an agent restart. kNotFound when it is gone.
  static Result<LogPipe> Reopen(std::string path);

  // Moves up to `budget` bytes from the pipe into `log` without blocking. Returns true when
  // every writer has gone (end of file), false when it would block or the budget is spent.
  Result<bool> Pump(RotatingLog& log, std::size_t budget);

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  // Closes the read end and removes the FIFO.
  void Remove();

 private:
  LogPipe(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

  std::string path_;
  UniqueFd fd_;
};

}  // namespace gpuslice::agent
