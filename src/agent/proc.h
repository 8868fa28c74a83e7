// Process identity on Linux: /proc/<pid>/stat, the boot id, and pidfds.
//
// A pid alone does not name a process across time: pids are reused. The supervisor names a
// process by (pid, start time in clock ticks since boot, boot id), which no other process can
// share, and checks all three before it signals or adopts a process it did not fork itself.
//
// Thread-safety: plain functions; they read /proc and make system calls.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"

namespace gpuslice::agent {

struct ProcStat {
  char state = '?';  // R, S, D, Z (zombie), T, ...
  int pgid = 0;
  std::uint64_t start_ticks = 0;  // field 22: start time in clock ticks after boot
};

// Reads /proc/<pid>/stat. Errors: kNotFound when there is no such process; kInternal when the
// file cannot be understood.
Result<ProcStat> ReadProcStat(int pid);

// True when `pid` is alive (not a zombie) and started at `start_ticks`: the same process.
bool IsSameProcess(int pid, std::uint64_t start_ticks);

// The kernel's boot id (/proc/sys/kernel/random/boot_id), or "" when unreadable.
std::string ReadBootId();

// pidfd_open(2) with O_CLOEXEC semantics (Linux 5.3+): a descriptor that becomes readable when
// the process exits. Returns -1 (and sets errno) where the kernel lacks it.
int OpenPidfd(int pid);

// True when the pidfd reports that its process has exited (non-blocking).
bool PidfdExited(int pidfd);

}  // namespace gpuslice::agent
