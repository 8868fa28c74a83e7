// LogBook: the server's copy of every job's output, as the agents ship it (DESIGN.md §6).
//
// A job's output is one byte stream; the agent that runs the job ships it in chunks, each
// stamped with the stream offset of its first byte. The book keeps <dir>/<job>.log and takes a
// chunk only where it continues the stream: bytes it already has are skipped (an agent that
// restarted, or retried a request whose answer it lost, sends them again), and a chunk that would
// leave a gap is refused with the size the book has, so the agent can go back. So the copy is
// exact, whatever is retried, and `gpuslice logs` reads it from any offset while the job runs.
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

  // Takes the chunk `data` that starts at stream offset `offset`; returns the stream's size after.
  // kFailedPrecondition (message names the size) when `offset` is past the end: a gap.
  // kUnavailable for I/O errors.
  Result<std::uint64_t> Append(std::uint64_t job, std::uint64_t offset, std::string_view data);

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
  std::uint64_t SizeLocked(std::uint64_t job) const;

  const std::string dir_;
  mutable std::mutex mu_;
  mutable std::map<std::uint64_t, std::uint64_t> sizes_;  // guarded by mu_; a cache of file sizes
};

}  // namespace gpuslice::server
