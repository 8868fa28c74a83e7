// LogTail: reads a workload's log (RotatingLog's <job>.log, rotated to <job>.log.1 …) as one byte
// stream, for shipping it to the server.
//
// The tail remembers the file it reads (by inode) and its position there. When the log rotates,
// the file it was reading is now <path>.1: the tail reads that one to its end first, then goes on
// with the new <path> from its start, so nothing is skipped or read twice. If the log rotated
// more than once between two reads, the files in between are gone from its view: it goes on with
// the new file (and says so in dropped()).
//
// Thread-safety: none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"

namespace gpuslice::agent {

class LogTail {
 public:
  explicit LogTail(std::string path) : path_(std::move(path)) {}

  // Up to `max` bytes not read before; empty when there are none (or no log yet). kUnavailable
  // for I/O errors other than a missing file.
  Result<std::string> ReadNew(std::size_t max);

  // Moves to byte `position` of the current <path> (clamped to its size): where a reader that
  // has the first `position` bytes of it goes on.
  void Seek(std::uint64_t position);
  std::uint64_t position() const { return position_; }
  // Times a rotation went by unread (output that could not be followed).
  int dropped() const { return dropped_; }

 private:
  std::string path_;
  std::uint64_t inode_ = 0;  // 0: not reading any file yet
  std::uint64_t position_ = 0;
  int dropped_ = 0;
};

}  // namespace gpuslice::agent
