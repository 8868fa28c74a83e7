// Supervisor: lifecycle, recovery after an agent restart, and the polling loop.
#include "agent/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>

#include "agent/cgroup.h"
#include "agent/proc.h"
#include "agent/supervisor_internal.h"
#include "common/read_file.h"

namespace gpuslice::agent {
namespace {

using api::WorkloadState;

constexpr std::size_t kMaxStateFileBytes = 64 << 20;
constexpr std::size_t kFinalDrainBytes = 64 << 20;

// initial * 2^step, capped at max.
std::chrono::milliseconds BackoffDelay(const SupervisorOptions& o, int step) {
  std::chrono::milliseconds d = o.restart_backoff_initial;
  for (int i = 0; i < step && d < o.restart_backoff_max; ++i) d *= 2;
  return std::min(d, o.restart_backoff_max);
}

Result<void> MakeDir(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "cannot create directory {}: {}", path, ec.message());
  return {};
}

// Waits up to `wait` for the lock: a killed supervisor's child may hold it for a moment, between
// its fork and its exec (the lock's descriptor is close-on-exec, so no workload keeps it).
Result<UniqueFd> LockStateDir(const std::string& state_dir, std::chrono::milliseconds wait) {
  const std::string path = state_dir + "/supervisor.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return Fail(ErrorCode::kUnavailable, "cannot open {}: {}", path, std::strerror(errno));
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK)
      return Fail(ErrorCode::kUnavailable, "cannot lock {}: {}", path, std::strerror(errno));
    if (std::chrono::steady_clock::now() >= deadline) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "another supervisor uses the state directory {} (waited {} ms)", state_dir, wait.count());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return fd;
}

}  // namespace

api::ActualWorkload WorkloadStatus::ToActual() const {
  api::ActualWorkload a;
  a.job_id = job_id;
  a.state = state;
  if (pid) a.pid = *pid;
  a.exit_code = exit_code;
  a.signal = signal;
  a.restarts = restarts;
  a.message = message;
  if (a.message.size() > api::kMaxMessageBytes) {
    std::size_t cut = api::kMaxMessageBytes;
    while (cut > 0 && (static_cast<unsigned char>(a.message[cut]) & 0xC0) == 0x80) --cut;  // whole UTF-8
    a.message.resize(cut);
  }
  return a;
}

Supervisor::Supervisor(SupervisorOptions options, const Clock& clock, UniqueFd lock)
    : options_(std::move(options)),
      clock_(clock),
      lock_(std::move(lock)),
      state_path_(options_.state_dir + "/supervisor-state.json"),
      boot_id_(ReadBootId()) {}

Supervisor::~Supervisor() = default;

Result<std::unique_ptr<Supervisor>> Supervisor::Open(SupervisorOptions options, const Clock& clock) {
  if (options.state_dir.empty() || options.log_dir.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "the supervisor needs a state directory and a log directory");
  }
  for (const std::string& dir : {options.state_dir, options.state_dir + "/pipes", options.log_dir}) {
    if (auto r = MakeDir(dir); !r) return Fail(r.error());
  }
  auto lock = LockStateDir(options.state_dir, options.lock_wait);
  if (!lock) return Fail(lock.error());
  std::unique_ptr<Supervisor> s(new Supervisor(std::move(options), clock, std::move(*lock)));
  if (auto r = s->Recover(); !r) return Fail(r.error());
  return s;
}

// Steps: read the state file; for each workload that was running, adopt the process if it is
// still the same one (same boot, pid and start time), else record that it ended unseen (which
// may schedule a restart); re-arm pending restarts; write the state back.
Result<void> Supervisor::Recover() {
  SupervisorState state;
  if (auto text = ReadFile(state_path_, kMaxStateFileBytes)) {
    auto decoded = DecodeSupervisorState(*text);
    if (!decoded) return Fail(decoded.error().WithContext(state_path_));
    state = std::move(*decoded);
  } else if (text.error().code != ErrorCode::kNotFound) {
    return Fail(text.error());
  }
  const bool same_boot = state.boot_id == boot_id_;
  const Clock::MonoTime now = clock_.MonoNow();
  for (WorkloadRecord& rec : state.workloads) {
    auto owned = std::make_unique<Entry>();
    Entry& e = *owned;
    e.rec = std::move(rec);
    e.started = now;
    const std::string job_id = e.rec.spec.job_id;
    if (!entries_.emplace(job_id, std::move(owned)).second) continue;  // damaged file: first wins
    if (e.rec.state == WorkloadState::kRunning) {
      if (!same_boot) {
        Finish(e, std::nullopt, std::nullopt, "the node restarted while the process ran");
      } else if (const std::string marker = GateMarkerOf(e.rec); ::access(marker.c_str(), F_OK) == 0) {
        // Recorded, but the agent died before opening the start gate: the process ran nothing
        // and exits (or has exited) on its own. Start it again, as the same run.
        if (IsSameProcess(e.rec.pid, e.rec.start_ticks)) ::kill(e.rec.pid, SIGKILL);
        ::unlink(marker.c_str());
        e.rec.state = WorkloadState::kStarting;
        e.rec.pid = 0;
        e.resume_start = true;
        e.restart_at = now;
      } else if (IsSameProcess(e.rec.pid, e.rec.start_ticks)) {
        Adopt(e);
      } else {
        Finish(e, std::nullopt, std::nullopt, "the process ended while the agent was not running");
      }
    } else if (e.rec.state == WorkloadState::kStarting) {
      e.restart_at = now + BackoffDelay(options_, e.rec.backoff_step);
    }
  }
  return Save();
}

void Supervisor::Adopt(Entry& e) {
  e.pidfd.Reset(OpenPidfd(e.rec.pid));
  // The process may have ended (and its pid been reused) between the check and pidfd_open.
  if (e.pidfd.valid() && !IsSameProcess(e.rec.pid, e.rec.start_ticks)) {
    Finish(e, std::nullopt, std::nullopt, "the process ended while the agent was not running");
    return;
  }
  e.adopted = true;
  e.is_child = false;
  if (auto log = RotatingLog::Open(e.rec.log_path, options_.log_rotation)) {
    e.log.emplace(std::move(*log));
  } else {
    e.rec.message = "output not logged: " + log.error().message;
  }
  if (auto pipe = LogPipe::Reopen(e.rec.fifo_path)) {
    e.pipe.emplace(std::move(*pipe));
  } else {
    e.rec.message = "output not logged: " + pipe.error().message;
  }
  if (e.rec.stop_requested) {  // the earlier agent was stopping it: start the grace period anew
    e.kill_at = clock_.MonoNow() + e.rec.spec.grace_period;
    SignalGroup(e, SIGTERM);
  }
}

Result<void> Supervisor::Start(const WorkloadSpec& spec) {
  if (auto r = ValidateSpec(spec); !r) return r;
  if (auto it = entries_.find(spec.job_id); it != entries_.end()) {
    const WorkloadState s = it->second->rec.state;
    if (s == WorkloadState::kRunning || s == WorkloadState::kStarting) {
      return Fail(ErrorCode::kAlreadyExists, "job {} is already {}", spec.job_id, api::WorkloadStateName(s));
    }
    entries_.erase(it);
  }
  auto owned = std::make_unique<Entry>();
  Entry& e = *owned;
  e.rec.spec = spec;
  e.rec.state = WorkloadState::kStarting;
  e.rec.log_path = options_.log_dir + "/" + spec.job_id + ".log";
  e.rec.fifo_path = options_.state_dir + "/pipes/" + spec.job_id + ".fifo";
  entries_.emplace(spec.job_id, std::move(owned));
  if (auto r = Launch(e); !r) {
    entries_.erase(spec.job_id);
    (void)Save();  // best effort: the failed start left no process behind to remember
    return r;
  }
  return {};
}

Result<void> Supervisor::Stop(std::string_view job_id) {
  auto it = entries_.find(job_id);
  if (it == entries_.end()) return Fail(ErrorCode::kNotFound, "no job {} on this node", job_id);
  Entry& e = *it->second;
  if (e.rec.state == WorkloadState::kStarting) {  // waiting to be restarted: nothing runs
    e.restart_at.reset();
    e.rec.stop_requested = true;
    e.rec.state = WorkloadState::kStopped;
    e.rec.message.clear();
    return Save();
  }
  if (e.rec.state != WorkloadState::kRunning || e.rec.stop_requested) return {};
  e.rec.stop_requested = true;
  e.kill_at = clock_.MonoNow() + e.rec.spec.grace_period;
  SignalGroup(e, SIGTERM);
  if (e.rec.spec.grace_period.count() == 0) {
    SignalGroup(e, SIGKILL);
    e.killed = true;
  }
  return Save();
}

Result<void> Supervisor::Remove(std::string_view job_id) {
  auto it = entries_.find(job_id);
  if (it == entries_.end()) return Fail(ErrorCode::kNotFound, "no job {} on this node", job_id);
  const WorkloadState s = it->second->rec.state;
  if (s == WorkloadState::kRunning || s == WorkloadState::kStarting) {
    return Fail(ErrorCode::kFailedPrecondition, "job {} is {}; stop it first", job_id,
                api::WorkloadStateName(s));
  }
  entries_.erase(it);
  return Save();
}

Result<void> Supervisor::Poll() {
  bool changed = false;
  for (auto& [job_id, owned] : entries_) {
    Entry& e = *owned;
    PumpLogs(e, options_.pump_budget_bytes);
    if (e.rec.state == WorkloadState::kRunning) changed |= CheckExit(e);
    const Clock::MonoTime now = clock_.MonoNow();
    if (e.rec.state == WorkloadState::kRunning && e.kill_at && !e.killed && now >= *e.kill_at) {
      SignalGroup(e, SIGKILL);
      e.killed = true;
    }
    if (e.rec.state == WorkloadState::kStarting && e.restart_at && now >= *e.restart_at) {
      Relaunch(e);
      changed = true;
    }
  }
  if (changed) {
    if (auto r = Save(); !r && !pending_error_) pending_error_ = r.error();
  }
  if (pending_error_) return Fail(*std::exchange(pending_error_, std::nullopt));
  return {};
}

// Children tell their status through waitid. WNOWAIT leaves the zombie in place while the rest
// of the group is killed: as long as it is unreaped its pid, and so the group id, cannot be
// reused, so kill(-pgid) cannot hit a stranger. Adopted processes tell only that they ended.
bool Supervisor::CheckExit(Entry& e) {
  const int pid = e.rec.pid;
  if (e.is_child) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
      if (info.si_pid == 0) return false;
      ::kill(-pid, SIGKILL);
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (WIFSIGNALED(status)) {
        Finish(e, std::nullopt, WTERMSIG(status), "");
      } else {
        Finish(e, WEXITSTATUS(status), std::nullopt, "");
      }
      return true;
    }
    // ECHILD: reaped elsewhere (the agent ignores SIGCHLD, say); only identity is left to check.
    if (IsSameProcess(pid, e.rec.start_ticks)) return false;
    Finish(e, std::nullopt, std::nullopt, "the process was reaped by someone else");
    return true;
  }
  const bool gone = e.pidfd.valid() ? PidfdExited(e.pidfd.get()) : !IsSameProcess(pid, e.rec.start_ticks);
  if (!gone) return false;
  Finish(e, std::nullopt, std::nullopt, "the process was started by an earlier agent");
  return true;
}

// Records how the process ended, releases what it held, and decides on a restart. A non-empty
// `unknown_why` means the exit status is unknown and says why.
void Supervisor::Finish(Entry& e, std::optional<int> exit_code, std::optional<int> signal,
                        std::string unknown_why) {
  if (e.pipe) {
    PumpLogs(e, kFinalDrainBytes);
    if (e.pipe) e.pipe->Remove();
    e.pipe.reset();
  } else if (!e.rec.fifo_path.empty()) {
    ::unlink(e.rec.fifo_path.c_str());
  }
  e.pidfd.Reset();
  RemoveCgroup(e.rec.cgroup_path);
  e.rec.cgroup_path.clear();
  e.rec.pid = 0;
  e.rec.start_ticks = 0;
  e.rec.exit_code = exit_code;
  e.rec.signal = signal;
  e.kill_at.reset();
  e.killed = false;
  e.is_child = false;

  WorkloadState state = WorkloadState::kExited;
  std::string how = "exit code 0";
  e.rec.message.clear();
  if (!unknown_why.empty()) {
    how = "an exit with unknown status";
    e.rec.message = "exit status unknown: " + unknown_why;
  } else if (signal) {
    state = WorkloadState::kFailed;
    how = fmt::format("signal {}", *signal);
    e.rec.message = "killed by " + how;
  } else if (exit_code && *exit_code != 0) {
    state = WorkloadState::kFailed;
    how = fmt::format("exit code {}", *exit_code);
  }
  if (e.rec.stop_requested) {
    e.rec.state = WorkloadState::kStopped;
    if (unknown_why.empty()) e.rec.message.clear();
    return;
  }
  e.rec.state = state;
  const api::RestartPolicy policy = e.rec.spec.restart;
  if (policy == api::RestartPolicy::kAlways || (policy == api::RestartPolicy::kOnFailure &&
                                                (state == WorkloadState::kFailed || !unknown_why.empty()))) {
    ScheduleRestart(e, how);
  }
}

void Supervisor::ScheduleRestart(Entry& e, std::string_view after) {
  const Clock::MonoTime now = clock_.MonoNow();
  if (now - e.started >= options_.restart_backoff_reset) e.rec.backoff_step = 0;
  const std::chrono::milliseconds delay = BackoffDelay(options_, e.rec.backoff_step);
  e.rec.backoff_step = std::min(e.rec.backoff_step + 1, 62);
  e.rec.state = WorkloadState::kStarting;
  e.restart_at = now + delay;
  e.rec.message = fmt::format("restart {} in {} ms after {}", e.rec.restarts + 1, delay.count(), after);
}

void Supervisor::Relaunch(Entry& e) {
  e.restart_at.reset();
  if (!std::exchange(e.resume_start, false)) ++e.rec.restarts;
  e.started = clock_.MonoNow();
  if (auto r = Launch(e); !r) {
    e.rec.state = WorkloadState::kFailed;
    ScheduleRestart(e, "a failed restart (" + r.error().message + ")");
  }
}

void Supervisor::PumpLogs(Entry& e, std::size_t budget) {
  if (!e.pipe || !e.log) return;
  auto eof = e.pipe->Pump(*e.log, budget);
  if (!eof) {
    if (!pending_error_) pending_error_ = eof.error();
    return;
  }
  if (*eof) {  // every writer closed its end: nothing more can come
    e.pipe->Remove();
    e.pipe.reset();
  }
}

// Adopted processes are checked to be the same process first: their pid is not pinned by us.
void Supervisor::SignalGroup(Entry& e, int sig) {
  const int pid = e.rec.pid;
  if (pid <= 0) return;
  if (!e.is_child && !IsSameProcess(pid, e.rec.start_ticks)) return;  // gone: Poll reports it
  if (::kill(-pid, sig) != 0 && errno == ESRCH) ::kill(pid, sig);
}

Result<void> Supervisor::Save() {
  SupervisorState state{boot_id_, {}};
  for (const auto& [job_id, e] : entries_) state.workloads.push_back(e->rec);
  return WriteFileAtomically(state_path_, EncodeSupervisorState(state));
}

WorkloadStatus Supervisor::StatusOf(const Entry& e) const {
  WorkloadStatus s;
  s.job_id = e.rec.spec.job_id;
  s.state = e.rec.state;
  if (e.rec.pid > 0) s.pid = e.rec.pid;
  s.exit_code = e.rec.exit_code;
  s.signal = e.rec.signal;
  s.restarts = e.rec.restarts;
  s.message = e.rec.message;
  s.log_path = e.rec.log_path;
  s.device_uuids = e.rec.spec.device_uuids;
  s.adopted = e.adopted;
  return s;
}

std::optional<WorkloadStatus> Supervisor::Get(std::string_view job_id) const {
  auto it = entries_.find(job_id);
  if (it == entries_.end()) return std::nullopt;
  return StatusOf(*it->second);
}

std::vector<WorkloadStatus> Supervisor::List() const {
  std::vector<WorkloadStatus> out;
  for (const auto& [job_id, e] : entries_) out.push_back(StatusOf(*e));
  return out;
}

std::vector<int> Supervisor::WaitFds() const {
  std::vector<int> fds;
  for (const auto& [job_id, e] : entries_) {
    if (e->pipe) fds.push_back(e->pipe->fd());
    if (e->pidfd.valid()) fds.push_back(e->pidfd.get());
  }
  return fds;
}

std::optional<Clock::MonoTime> Supervisor::NextDeadline() const {
  std::optional<Clock::MonoTime> next;
  auto consider = [&](const std::optional<Clock::MonoTime>& t) {
    if (t && (!next || *t < *next)) next = t;
  };
  for (const auto& [job_id, e] : entries_) {
    if (!e->killed) consider(e->kill_at);
    consider(e->restart_at);
  }
  return next;
}

}  // namespace gpuslice::agent
