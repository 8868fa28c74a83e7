#include "agent/proc.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <string_view>

namespace gpuslice::agent {
namespace {

// Splits the part of /proc/<pid>/stat after the command name: "(comm)" may itself hold spaces
// and parentheses, so parsing starts after the last ')'.
Result<ProcStat> ParseStat(std::string_view text) {
  const std::size_t close = text.rfind(')');
  if (close == std::string_view::npos || close + 2 > text.size()) {
    return Fail(ErrorCode::kInternal, "unexpected /proc stat line");
  }
  std::string_view rest = text.substr(close + 2);
  ProcStat out;
  // Field 3 is the state; fields are counted from 1 with pid and comm as 1 and 2.
  for (int field = 3; field <= 22 && !rest.empty(); ++field) {
    const std::size_t space = rest.find(' ');
    const std::string_view value = rest.substr(0, space);
    if (field == 3) out.state = value.empty() ? '?' : value.front();
    if (field == 5) std::from_chars(value.data(), value.data() + value.size(), out.pgid);
    if (field == 22) {
      const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), out.start_ticks);
      if (ec != std::errc()) return Fail(ErrorCode::kInternal, "unexpected start time in /proc stat");
      return out;
    }
    if (space == std::string_view::npos) break;
    rest = rest.substr(space + 1);
  }
  return Fail(ErrorCode::kInternal, "short /proc stat line");
}

}  // namespace

Result<ProcStat> ReadProcStat(int pid) {
  if (pid <= 0) return Fail(ErrorCode::kNotFound, "no process {}", pid);
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return Fail(ErrorCode::kNotFound, "no process {}", pid);
  std::string line;
  std::getline(in, line);
  if (line.empty()) return Fail(ErrorCode::kNotFound, "no process {}", pid);
  return ParseStat(line);
}

bool IsSameProcess(int pid, std::uint64_t start_ticks) {
  auto stat = ReadProcStat(pid);
  return stat && stat->state != 'Z' && stat->state != 'X' && stat->start_ticks == start_ticks;
}

std::string ReadBootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

int OpenPidfd(int pid) {
#ifdef SYS_pidfd_open
  // pidfds are close-on-exec by definition.
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

bool PidfdExited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

}  // namespace gpuslice::agent
