// LogBook: the server's copy of every job's output, as the agents ship it (DESIGN.md §6).
//
// A job's output is one byte stream, the output of its runs one after the other (a preempted or
// requeued job runs again, maybe on another node). BeginRun marks where the next run starts;
// the agent running it ships its output in chunks, each stamped with the offset of its first
// byte within the run. The book keeps <dir>/<job>.log (and the run's start in <job>.run) and
// takes a chunk only where it continues the run: bytes it already has are skipped (an agent that
// restarted, or retried a request whose answer it lost, sends them again), and a chunk that would
// leave a gap is refused with the run's size, so the agent can go back. So the copy is exact,
// whatever is retried, and `gpuslice logs` reads the whole stream from any offset while it grows.
//
// Not a durable record: the files are written without fsync (output is not an acknowledged
// decision; after a crash the agent re-sends what the book lost, as far as its own rotated files
// still hold it).
//
// Thread-safety: every method may be called from any thread (one mutex; file I/O under it is
// one append or one read of at most `max` bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/error.h"

namespace gpuslice::server {

class LogBook {
 public:
  // Creates `dir` if needed; sizes of existing logs are read lazily. kUnavailable when it cannot.
  static Result<std::unique_ptr<LogBook>> Open(std::string dir);

  // The job's next run starts here (at the stream's current end). kUnavailable for I/O errors.
  Result<void> BeginRun(std::uint64_t job);
  // Takes the chunk `data` that starts at offset `offset` of the current run; returns the run's
  // size after. kFailedPrecondition (message names the size) when `offset` is past the run's
  // end: a gap. kUnavailable for I/O errors.
  Result<std::uint64_t> Append(std::uint64_t job, std::uint64_t offset, std::string_view data);
  std::uint64_t RunSize(std::uint64_t job) const;

  struct Chunk {
    std::string data;
    std::uint64_t next = 0;  // the offset after `data`
    std::uint64_t size = 0;  // the stream's size now
  };
  // Up to `max` bytes from `offset` (empty at or past the end; a job with no output yet has
  // size 0). kUnavailable for I/O errors.
  Result<Chunk> Read(std::uint64_t job, std::uint64_t offset, std::size_t max) const;
  std::uint64_t Size(std::uint64_t job) const;

 private:
  explicit LogBook(std::string dir) : dir_(std::move(dir)) {}
  std::string PathOf(std::uint64_t job) const;
  std::string RunPathOf(std::uint64_t job) const;  // where the current run begins (<job>.run)
  std::uint64_t SizeLocked(std::uint64_t job) const;
  std::uint64_t RunBaseLocked(std::uint64_t job) const;

  const std::string dir_;
  mutable std::mutex mu_;
  mutable std::map<std::uint64_t, std::uint64_t> sizes_;      // guarded by mu_; a cache of file sizes
  mutable std::map<std::uint64_t, std::uint64_t> run_bases_;  // guarded by mu_; a cache of <job>.run
};

}  // namespace gpuslice::server
