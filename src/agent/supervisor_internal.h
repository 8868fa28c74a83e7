// Internals of the Supervisor shared by supervisor.cc (lifecycle, recovery, polling) and
// supervisor_launch.cc (turning a spec into a running process). Not part of the interface.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/log_pipe.h"
#include "agent/spawn.h"
#include "agent/supervisor.h"

namespace gpuslice::agent {

// One workload: its persisted record and what only lives in memory.
struct Supervisor::Entry {
  WorkloadRecord rec;
  std::optional<LogPipe> pipe;
  std::optional<RotatingLog> log;
  UniqueFd pidfd;         // adopted processes: readable once the process has exited
  bool is_child = false;  // forked by this supervisor: waitid() tells its exit status
  bool adopted = false;
  bool killed = false;  // SIGKILL sent after the grace period
  Clock::MonoTime started{};
  std::optional<Clock::MonoTime> kill_at;
  std::optional<Clock::MonoTime> restart_at;
  bool resume_start = false;  // the next launch finishes a start the last agent could not (no restart)
};

// The start-gate marker of a workload's process (spawn.h): next to its log pipe.
inline std::string GateMarkerOf(const WorkloadRecord& rec) {
  return rec.fifo_path + ".gate";
}

// Checks what Start needs beyond the wire format's rules. Errors: kInvalidArgument.
Result<void> ValidateSpec(const WorkloadSpec& spec);

// The child's environment: the agent's own (without the names the agent reserves), the user's
// HOME/USER/LOGNAME when it switches user, CUDA_VISIBLE_DEVICES, GPUSLICE_JOB_ID, then `env`.
std::vector<std::string> BuildEnvironment(const WorkloadSpec& spec, const Credentials* user);

// "MIG-a,MIG-b" from UUIDs with or without their "MIG-" prefix; whole GPUs' "GPU-..." UUIDs stay
// as they are ("GPU-a,GPU-b").
std::string CudaVisibleDevices(const std::vector<std::string>& device_uuids);

}  // namespace gpuslice::agent
