// Writing files whole: the counterpart of read_file.h.
//
// WriteAll: all of `data` to an open descriptor (short writes and EINTR retried).
// WriteFileAtomically: `data` replaces `path` whole or not at all — a temporary file beside it
// (named with the pid, so processes sharing a directory never collide), fsync, rename, then a
// best-effort fsync of the directory so the rename survives a crash. The temporary is removed on
// failure.
// Errors: kUnavailable naming the file and the step.
//
// Thread-safety: plain functions; concurrent writers of one path need their own serialisation
// (the last rename wins).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/error.h"

namespace gpuslice {

Result<void> WriteAll(int fd, const std::string& path, std::string_view data);
Result<void> WriteFileAtomically(const std::string& path, std::string_view data, mode_t mode = 0600);

}  // namespace gpuslice
