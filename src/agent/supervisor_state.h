// What the supervisor runs, as stored on disk so that a restarted agent can find it again.
//
// The state file (<state_dir>/supervisor-state.json) lists every workload the supervisor knows:
// its spec (to restart it), the identity of its process (pid = process group id, start time in
// clock ticks, the boot id of the node) and where its output goes. It is rewritten whole,
// atomically (temporary file, fsync, rename, fsync of the directory), on every change, so after
// a crash it holds either the old or the new list, never a mix.
//
// The file is the agent's own and not a public format; `version` guards against reading a
// future one. Thread-safety: plain values and functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/node_state.h"
#include "common/error.h"
#include "common/write_file.h"

namespace gpuslice::agent {

// One workload to run, as the agent resolves it from the desired state.
struct WorkloadSpec {
  std::string job_id;  // a sane name (api::IsSaneName)
  // What CUDA_VISIBLE_DEVICES names: MIG instances ("MIG-...", the prefix is added when missing)
  // or whole GPUs ("GPU-..."). Stored under the state file's older key "mig_uuids", so that an
  // agent re-adopts what an earlier version started.
  std::vector<std::string> device_uuids;
  std::vector<std::string> argv;           // argv[0]: a path or a program on PATH
  std::map<std::string, std::string> env;  // extra environment
  std::optional<std::string> working_dir;
  std::optional<std::string> run_as_user;
  std::optional<std::int64_t> cpu_millicores;
  std::optional<std::int64_t> memory_mib;
  api::RestartPolicy restart = api::RestartPolicy::kNever;
  std::chrono::milliseconds grace_period{10'000};

  friend bool operator==(const WorkloadSpec&, const WorkloadSpec&) = default;
};

// The spec of a desired workload that runs on these devices: the MIG UUIDs of its instances, or
// the GPU UUIDs of its whole GPUs.
WorkloadSpec SpecFromDesired(const api::DesiredWorkload& workload, std::vector<std::string> device_uuids);

struct WorkloadRecord {
  WorkloadSpec spec;
  api::WorkloadState state = api::WorkloadState::kStarting;
  int pid = 0;  // also the process group id; 0 when no process
  std::uint64_t start_ticks = 0;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::int64_t restarts = 0;
  int backoff_step = 0;         // restarts since the last run that lasted
  bool stop_requested = false;  // Stop() was called; the exit is a stop, not a failure
  std::string log_path;
  std::string fifo_path;
  std::string cgroup_path;
  std::string message;

  friend bool operator==(const WorkloadRecord&, const WorkloadRecord&) = default;
};

struct SupervisorState {
  std::string boot_id;
  std::vector<WorkloadRecord> workloads;

  friend bool operator==(const SupervisorState&, const SupervisorState&) = default;
};

std::string EncodeSupervisorState(const SupervisorState& state);
// Errors: kInternal naming what is wrong (a damaged or foreign file).
Result<SupervisorState> DecodeSupervisorState(std::string_view text);

using gpuslice::WriteFileAtomically;  // common/write_file.h

}  // namespace gpuslice::agent
