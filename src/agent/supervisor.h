// Supervisor: runs the node's workloads as processes and survives agent restarts.
//
// What it does (DESIGN.md §5):
// * Start: fork/exec in a new session and process group, with the agent's environment plus
//   CUDA_VISIBLE_DEVICES=MIG-<uuid>[,MIG-<uuid>...] (or GPU-<uuid>[,...] for a workload on whole
//   GPUs), GPUSLICE_JOB_ID=<job> and the extra env;
//   optionally as another user (the agent must be root) and under cgroup v2 CPU/memory limits
//   (where the host delegates cgroups; otherwise the status says "limits not enforced: <why>").
// * Output: stdout and stderr go through a named pipe the supervisor reads (Poll) into
//   <log_dir>/<job>.log, rotated by size (see log_pipe.h for why a named pipe). A new run of a
//   job (Start) begins a new file, rotating the last run's away; restarts continue the run's file.
// * Stop: SIGTERM to the process group, SIGKILL to it after the grace period. When a workload's
//   leader exits, whatever is left of its process group is killed too.
// * Restarts: `on-failure` restarts after a non-zero exit, a signal it was not asked to take, or
//   an exit nobody saw; `always` after any exit; with exponential backoff on the injected Clock.
// * Recovery: every change is persisted atomically to <state_dir>/supervisor-state.json before it
//   can matter (a process is recorded before it may exec). A Supervisor opened on the same state
//   dir after the agent died re-adopts the processes still running - verified by pid, start time
//   and boot id, so a reused pid is never mistaken for a workload - and reports those that ended
//   meanwhile as exited with an unknown status. Nothing is orphaned or started twice. Adopted
//   processes are not children: their exit is seen through a pidfd (Linux 5.3+) or /proc.
//
// Ownership: the Supervisor owns its descriptors (log pipes, pidfds, the state-dir lock); it does
// not own the processes' lifetimes - destroying it leaves them running for the next one.
// Thread-safety: none. Single-threaded: every call comes from the agent loop. Two supervisors
// on one state dir are refused (an exclusive lock), in one process or in two.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/log_pipe.h"
#include "agent/supervisor_state.h"
#include "api/node_state.h"
#include "common/clock.h"
#include "common/error.h"

namespace gpuslice::agent {

struct SupervisorOptions {
  std::string state_dir;  // state file, lock, named pipes (pipes/)
  std::string log_dir;    // <job>.log, <job>.log.1, ...
  LogRotation log_rotation;
  std::string cgroup_parent;  // cgroup v2 directory for per-job cgroups; empty: no limits
  std::chrono::milliseconds restart_backoff_initial{1'000};
  std::chrono::milliseconds restart_backoff_max{60'000};
  std::chrono::milliseconds restart_backoff_reset{600'000};  // a run this long resets the backoff
  std::size_t pump_budget_bytes = 1 << 20;                   // per workload and Poll
  // How long Open waits for the state-dir lock. A supervisor killed while starting a workload
  // leaves the lock with the forked child until that child execs or exits (milliseconds).
  std::chrono::milliseconds lock_wait{0};
};

struct WorkloadStatus {
  std::string job_id;
  api::WorkloadState state = api::WorkloadState::kStarting;
  std::optional<int> pid;  // = process group id; while it runs
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::int64_t restarts = 0;
  std::string message;
  std::string log_path;
  std::vector<std::string> device_uuids;  // as in WorkloadSpec: "MIG-..." or "GPU-..."
  bool adopted = false;                   // taken over from an earlier agent

  api::ActualWorkload ToActual() const;
};

class Supervisor {
 public:
  // Opens (creating) the state and log directories, takes the state-dir lock, and recovers what
  // an earlier supervisor ran. Errors: kFailedPrecondition when another supervisor holds the
  // state dir for longer than lock_wait; kUnavailable for I/O errors; kInternal for a damaged state file.
  static Result<std::unique_ptr<Supervisor>> Open(SupervisorOptions options, const Clock& clock);

  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  ~Supervisor();

  // Starts a workload; returns once it has exec'd. A finished workload of the same job id is
  // replaced. Errors (nothing is left running or recorded): kAlreadyExists when the job is
  // running or waiting to restart; kInvalidArgument for a bad spec; kPermissionDenied for
  // run-as-user without root; kNotFound for an unknown user, program or working dir; the
  // child's setup or exec failure; kUnavailable when the state cannot be persisted.
  Result<void> Start(const WorkloadSpec& spec);

  // Asks the workload to stop: SIGTERM to its process group now, SIGKILL once the grace period
  // has passed (by Poll). Cancels a pending restart. No-op for a finished workload or one that
  // is already stopping. Errors: kNotFound; kUnavailable when the state cannot be persisted.
  Result<void> Stop(std::string_view job_id);

  // Forgets a finished workload (its log files stay). Errors: kNotFound; kFailedPrecondition
  // while it runs or waits to restart.
  Result<void> Remove(std::string_view job_id);

  // Does all due work without blocking: moves output into logs, notices exits, escalates to
  // SIGKILL, restarts. Call it often (on readable WaitFds, at NextDeadline, or every ~100 ms).
  // All work is attempted; the first error (a log or the state file could not be written) is
  // returned.
  Result<void> Poll();

  std::optional<WorkloadStatus> Get(std::string_view job_id) const;
  std::vector<WorkloadStatus> List() const;  // ordered by job id

  // Descriptors that become readable when Poll has work: log pipes and pidfds.
  std::vector<int> WaitFds() const;
  // The earliest time-based work (SIGKILL escalation, restart), if any.
  std::optional<Clock::MonoTime> NextDeadline() const;

 private:
  struct Entry;

  Supervisor(SupervisorOptions options, const Clock& clock, UniqueFd lock);
  Result<void> Recover();
  void Adopt(Entry& e);
  Result<void> Launch(Entry& e);
  void Relaunch(Entry& e);
  bool CheckExit(Entry& e);
  void Finish(Entry& e, std::optional<int> exit_code, std::optional<int> signal, std::string unknown_why);
  void ScheduleRestart(Entry& e, std::string_view after);
  void PumpLogs(Entry& e, std::size_t budget);
  void SignalGroup(Entry& e, int sig);
  Result<void> Save();
  WorkloadStatus StatusOf(const Entry& e) const;

  SupervisorOptions options_;
  const Clock& clock_;
  UniqueFd lock_;
  std::string state_path_;
  std::string boot_id_;
  std::map<std::string, std::unique_ptr<Entry>, std::less<>> entries_;
  std::optional<Error> pending_error_;  // first error of the current Poll
};

}  // namespace gpuslice::agent
