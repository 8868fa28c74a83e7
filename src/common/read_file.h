// ReadFile: a whole file into memory, with the errors a person needs.
//
// The file-reading helpers of the command-line and simulator layers (mig/ and sched/ never
// read files). A file larger than `max_bytes` is not read: the caller's parser would refuse it
// anyway, and an unbounded read of a wrong path (a device, a huge log) must not eat the memory.
//
// Errors: kNotFound (no such file), kPermissionDenied, kInvalidArgument (a directory, a read
// error, or larger than max_bytes); each names the path.
// ReadAt: up to `length` bytes of an open file from `offset` (fewer at its end), for readers of
// growing logs; kUnavailable naming `path` on a read error.
//
// Thread-safety: plain functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"

namespace gpuslice {

Result<std::string> ReadFile(const std::string& path, std::size_t max_bytes);
Result<std::string> ReadAt(int fd, const std::string& path, std::uint64_t offset, std::size_t length);

}  // namespace gpuslice
