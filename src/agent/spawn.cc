#include "agent/spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/log_pipe.h"
#include "agent/proc.h"

namespace gpuslice::agent {
namespace {

// What the child reports over the status socket; `fatal` steps end the child.
enum class Step : int { kSetsid = 1, kCgroup, kFds, kGroups, kGid, kUid, kChdir, kExec };

struct Report {
  int step = 0;
  int err = 0;
  int fatal = 0;
};

std::string_view StepName(Step s) {
  switch (s) {
    case Step::kSetsid: return "setsid";
    case Step::kCgroup: return "join cgroup";
    case Step::kFds: return "set up stdout/stderr";
    case Step::kGroups: return "setgroups";
    case Step::kGid: return "setgid";
    case Step::kUid: return "setuid";
    case Step::kChdir: return "chdir";
    case Step::kExec: return "exec";
  }
  return "setup";
}

// Everything the child needs, built before fork so that the child allocates nothing.
struct Prepared {
  std::vector<char*> argv;
  std::vector<char*> envp;
  const SpawnRequest* request = nullptr;
  int devnull = -1;
};

void SendReport(int sock, Step step, int err, bool fatal) {
  const Report r{static_cast<int>(step), err, fatal ? 1 : 0};
  (void)!::write(sock, &r, sizeof r);
}

[[noreturn]] void ChildFail(int sock, Step step) {
  SendReport(sock, step, errno, true);
  ::_exit(127);
}

void ResetSignals() {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) {
    if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &dfl, nullptr);  // EINVAL for glibc's own: fine
  }
}

// Moves the descriptors into place: /dev/null on 0, the log pipe on 1 and 2, the keeper on 3;
// everything else above becomes close-on-exec.
void ArrangeFds(const Prepared& p, int sock) {
  const SpawnRequest& r = *p.request;
  const int out = ::fcntl(r.stdout_fd, F_DUPFD_CLOEXEC, 10);
  const int keep = r.keeper_fd >= 0 ? ::fcntl(r.keeper_fd, F_DUPFD_CLOEXEC, 10) : -1;
  const int in = ::fcntl(p.devnull, F_DUPFD_CLOEXEC, 10);
  if (out < 0 || in < 0 || (r.keeper_fd >= 0 && keep < 0)) ChildFail(sock, Step::kFds);
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) ChildFail(sock, Step::kFds);
  if (keep >= 0 && ::dup2(keep, 3) < 0) ChildFail(sock, Step::kFds);
#ifdef SYS_close_range
  constexpr unsigned kCloexec = 1U << 2;  // CLOSE_RANGE_CLOEXEC (Linux 5.11+); older kernels: EINVAL
  (void)::syscall(SYS_close_range, keep >= 0 ? 4U : 3U, ~0U, kCloexec);
#endif
}

[[noreturn]] void RunChild(const Prepared& p, int sock) {
  const SpawnRequest& r = *p.request;
  ResetSignals();
  sock = ::fcntl(sock, F_DUPFD_CLOEXEC, 10);  // out of the way of fds 0-3
  if (sock < 0) ::_exit(126);
  if (::setsid() < 0) ChildFail(sock, Step::kSetsid);
  char go = 0;
  ssize_t n;
  do n = ::read(sock, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) ::_exit(126);  // the agent went away before recording us: run nothing
  if (!r.gate_marker.empty()) ::unlink(r.gate_marker.c_str());  // from here on the workload may run
  if (r.cgroup_procs_fd >= 0 && ::write(r.cgroup_procs_fd, "0", 1) != 1)
    SendReport(sock, Step::kCgroup, errno, false);
  ArrangeFds(p, sock);
  if (r.user) {
    if (::setgroups(r.user->groups.size(), r.user->groups.data()) != 0) ChildFail(sock, Step::kGroups);
    if (::setgid(r.user->gid) != 0) ChildFail(sock, Step::kGid);
    if (::setuid(r.user->uid) != 0) ChildFail(sock, Step::kUid);
  }
  if (r.working_dir && ::chdir(r.working_dir->c_str()) != 0) ChildFail(sock, Step::kChdir);
  ::execve(r.program.c_str(), p.argv.data(), p.envp.data());
  ChildFail(sock, Step::kExec);
}

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

ErrorCode CodeOf(int err) {
  if (err == ENOENT || err == ENOTDIR) return ErrorCode::kNotFound;
  if (err == EACCES || err == EPERM) return ErrorCode::kPermissionDenied;
  return ErrorCode::kInvalidArgument;
}

Error ChildError(const SpawnRequest& r, const Report& rep) {
  const auto step = static_cast<Step>(rep.step);
  std::string what(StepName(step));
  if (step == Step::kChdir && r.working_dir) what += " " + *r.working_dir;
  if (step == Step::kExec) what += " " + r.program;
  return Error{CodeOf(rep.err), fmt::format("{}: {}", what, std::strerror(rep.err))};
}

void KillAndReap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// Reads the child's reports until exec closes the socket. Returns the fatal one, if any.
std::optional<Report> ReadReports(int sock, std::string* warning) {
  for (;;) {
    Report rep;
    std::size_t got = 0;
    while (got < sizeof rep) {
      const ssize_t n = ::read(sock, reinterpret_cast<char*>(&rep) + got, sizeof rep - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;  // exec succeeded (or the child died: its exit tells)
      got += static_cast<std::size_t>(n);
    }
    if (rep.fatal != 0) return rep;
    *warning = fmt::format("limits not enforced: cannot {}: {}", StepName(static_cast<Step>(rep.step)),
                           std::strerror(rep.err));
  }
}

}  // namespace

Result<Credentials> LookupUser(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc;
  while ((rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE &&
         buf.size() < (1 << 20)) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0 || found == nullptr) return Fail(ErrorCode::kNotFound, "no user '{}' on this node", name);
  Credentials c{pw.pw_uid, pw.pw_gid, {}, pw.pw_dir != nullptr ? pw.pw_dir : ""};
  int count = 32;
  for (int tries = 0; tries < 8; ++tries) {
    c.groups.resize(static_cast<std::size_t>(count));
    if (::getgrouplist(name.c_str(), pw.pw_gid, c.groups.data(), &count) >= 0) {
      c.groups.resize(static_cast<std::size_t>(count));
      return c;
    }
  }
  return Fail(ErrorCode::kInternal, "cannot list the groups of user '{}'", name);
}

Result<std::string> ResolveProgram(const std::string& program, const std::string& path_var) {
  if (program.find('/') != std::string::npos) return program;
  std::size_t start = 0;
  for (;;) {
    const std::size_t colon = path_var.find(':', start);
    const std::string_view dir = std::string_view(path_var).substr(
        start, colon == std::string::npos ? std::string::npos : colon - start);
    const std::string candidate = fmt::format("{}/{}", dir.empty() ? std::string_view(".") : dir, program);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return Fail(ErrorCode::kNotFound, "program '{}' is not on PATH ({})", program, path_var);
}

Result<Spawned> Spawn(const SpawnRequest& request,
                      const std::function<Result<void>(pid_t pid, std::uint64_t start_ticks)>& on_forked) {
  Prepared p{CStrings(request.argv), CStrings(request.env), &request, -1};
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int sv[2];
  if (!devnull.valid() || ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return Fail(ErrorCode::kUnavailable, "cannot prepare to start a process: {}", std::strerror(errno));
  }
  p.devnull = devnull.get();
  UniqueFd parent_end(sv[0]), child_end(sv[1]);
  if (!request.gate_marker.empty()) {
    UniqueFd marker(::open(request.gate_marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!marker.valid())
      return Fail(ErrorCode::kUnavailable, "cannot create {}: {}", request.gate_marker, std::strerror(errno));
  }
  const pid_t pid = ::fork();
  if (pid < 0) return Fail(ErrorCode::kUnavailable, "fork: {}", std::strerror(errno));
  if (pid == 0) {
    ::close(sv[0]);  // else the child would never see the gate close if the agent dies
    RunChild(p, sv[1]);
  }
  child_end.Reset();
  auto stat = ReadProcStat(pid);
  if (!stat) {
    KillAndReap(pid);
    return Fail(ErrorCode::kInternal, "cannot read the start time of process {}", pid);
  }
  if (auto r = on_forked(pid, stat->start_ticks); !r) {
    KillAndReap(pid);
    return Fail(r.error());
  }
  Spawned out{pid, stat->start_ticks, ""};
  const char go = 'g';
  if (::send(parent_end.get(), &go, 1, MSG_NOSIGNAL) != 1) {
    KillAndReap(pid);
    return Fail(ErrorCode::kUnavailable, "process {} went away before it started", pid);
  }
  if (auto fatal = ReadReports(parent_end.get(), &out.warning)) {
    KillAndReap(pid);
    return Fail(ChildError(request, *fatal));
  }
  return out;
}

}  // namespace gpuslice::agent
