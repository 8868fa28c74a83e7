// Desired and actual node state: what the server wants a node agent to run, and what it runs.
//
// DesiredNodeState is the body of the server's answer to an agent's long poll (DESIGN.md §5):
// the MIG instances the node should have, at exact placements, and the workloads bound to them
// (or to whole GPUs, for GPUs without MIG), stamped with a generation number. ActualNodeState is
// the agent's report: GPU health, the instances it sees (with their MIG UUIDs), and the state of
// each supervised workload. The wire format is documented with a complete example in
// docs/agent-desired-state.md; change it only compatibly (add optional fields; never rename or
// remove).
//
// Parsing is strict, because these documents cross a trust boundary: unknown fields, duplicate
// keys, wrong types, out-of-range numbers, odd names and oversized inputs are rejected with the
// path of the offending field ("workloads[2].argv: expected an array of strings"). Parse
// functions never throw and never assert on their input. Geometry (is start 4 legal for 3g.40gb
// on this GPU?) is not checked here: the agent checks it against the GPU it has.
//
// Thread-safety: plain values and plain functions.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace gpuslice::api {

// Bounds on what one document may hold. They are far above real use and exist so that a broken
// or hostile server cannot make an agent allocate without bound.
inline constexpr std::size_t kMaxNodeStateBytes = 8 << 20;  // whole JSON text
inline constexpr std::size_t kMaxJsonDepth = 16;
inline constexpr std::size_t kMaxInstances = 512;
inline constexpr std::size_t kMaxWorkloads = 1024;
inline constexpr std::size_t kMaxGpus = 64;
inline constexpr std::size_t kMaxInstanceKeysPerWorkload = 8;
inline constexpr std::size_t kMaxGpusPerWorkload = 8;
inline constexpr std::size_t kMaxArgvEntries = 1024;
inline constexpr std::size_t kMaxEnvEntries = 256;
inline constexpr std::size_t kMaxArgBytes = 32 << 10;         // one argv entry or env value
inline constexpr std::size_t kMaxCommandBytes = 256 << 10;    // argv + env of one workload
inline constexpr std::size_t kMaxPathBytes = 4096;            // working_dir
inline constexpr std::size_t kMaxMessageBytes = 4096;         // free-text messages in reports
inline constexpr std::int64_t kMaxGracePeriodMs = 3'600'000;  // one hour
inline constexpr std::int64_t kMaxCpuMillicores = 1'024'000;
inline constexpr std::int64_t kMaxMemoryMib = std::int64_t{16} << 20;  // 16 TiB
inline constexpr int kMaxInstanceProcesses = 4096;                     // NVML's per-GPU bound
inline constexpr int kMaxGpuIndex = 63;
inline constexpr int kMaxStartUnit = 63;

enum class RestartPolicy { kNever, kOnFailure, kAlways };
enum class WorkloadKind { kBatch, kService, kNotebook };
// starting: accepted, not yet running (or waiting to be restarted); running; exited: ended with
// status 0, or ended while nobody could see its status; failed: ended with a non-zero status, a
// signal it was not asked to take, or could not be started; stopped: ended because it was told to.
enum class WorkloadState { kStarting, kRunning, kExited, kFailed, kStopped };
enum class GpuHealth { kOk, kDegraded, kLost };

std::string_view RestartPolicyName(RestartPolicy p);  // "never", "on-failure", "always"
std::string_view WorkloadKindName(WorkloadKind k);    // "batch", "service", "notebook"
std::string_view WorkloadStateName(WorkloadState s);  // "starting", "running", ...
std::string_view GpuHealthName(GpuHealth h);          // "ok", "degraded", "lost"

// The rules for a command line: a non-empty program name, bounded argv and env, variable names
// [A-Za-z_][A-Za-z0-9_]* that the agent does not set itself, no NUL bytes. Errors name
// `path`.`argv_field`[i] or `path`.env.NAME.
Result<void> ValidateCommand(const std::string& path, std::string_view argv_field,
                             const std::vector<std::string>& argv,
                             const std::map<std::string, std::string>& env);

// ---- desired state (server -> agent) ----

// One MIG instance the node should have: `profile` at memory unit `start` of GPU `gpu_index`.
// `key` is the scheduler's stable name for it ("n1-g0-s4-3g.40gb-17"); workloads refer to it.
struct DesiredInstance {
  int gpu_index = 0;
  std::string profile;
  int start = 0;
  std::string key;

  friend bool operator==(const DesiredInstance&, const DesiredInstance&) = default;
};

// A workload runs either on MIG instances (`instance_keys`) or on whole GPUs (`gpu_indices`):
// exactly one of the two is non-empty. A whole GPU is bound to one workload at most and carries no
// desired instance in the same document; the agent starts the workload only while the GPU's MIG
// mode is off.
struct DesiredWorkload {
  std::string job_id;
  std::vector<std::string> instance_keys;  // 0..8 instances of this document, each bound once
  std::vector<int> gpu_indices;            // 0..8 whole GPUs by index on the node, each bound once
  std::vector<std::string> argv;           // argv[0] is the program (a path or a name on PATH)
  std::map<std::string, std::string> env;  // added to the agent's environment
  std::optional<std::string> working_dir;  // absolute
  std::optional<std::string> run_as_user;
  std::optional<std::int64_t> cpu_millicores;  // cgroup v2 cpu.max; 1000 = one CPU
  std::optional<std::int64_t> memory_mib;      // cgroup v2 memory.max
  RestartPolicy restart = RestartPolicy::kNever;
  WorkloadKind kind = WorkloadKind::kBatch;
  std::int64_t grace_period_ms = 10'000;  // SIGTERM -> SIGKILL on stop

  friend bool operator==(const DesiredWorkload&, const DesiredWorkload&) = default;
};

struct DesiredNodeState {
  std::string node;
  std::uint64_t generation = 0;
  std::vector<DesiredInstance> instances;
  std::vector<DesiredWorkload> workloads;

  friend bool operator==(const DesiredNodeState&, const DesiredNodeState&) = default;
};

// ---- actual state (agent -> server) ----

struct ActualGpu {
  int index = 0;
  std::string uuid;  // "GPU-..."
  GpuHealth health = GpuHealth::kOk;
  std::string message;  // why it is not ok; empty when ok

  friend bool operator==(const ActualGpu&, const ActualGpu&) = default;
};

struct ActualInstance {
  int gpu_index = 0;
  std::string profile;
  int start = 0;
  std::string key;       // the desired instance it realises; empty for one the agent did not create
  std::string mig_uuid;  // "MIG-..."
  bool busy = false;     // processes run on it

  // Usage, as the agent last sampled it (docs/agent-desired-state.md, "Usage"). Every field is
  // absent in reports of agents older than these fields; memory and activity are also absent when
  // the backend could not read them, and then `usage_message` says why.
  std::optional<int> processes;                  // compute processes on it; > 0 exactly when busy
  std::optional<std::int64_t> memory_used_mib;   // given together with memory_total_mib, <= it
  std::optional<std::int64_t> memory_total_mib;  // the instance's memory as the driver reports it
  std::optional<int> activity_percent;           // 0..100: time its SMs were busy, where it can be measured
  std::string usage_message;                     // why a usage field is absent; may be empty

  friend bool operator==(const ActualInstance&, const ActualInstance&) = default;
};

struct ActualWorkload {
  std::string job_id;
  WorkloadState state = WorkloadState::kStarting;
  std::optional<std::int64_t> pid;
  std::optional<int> exit_code;  // when it exited by itself and the status is known
  std::optional<int> signal;     // when a signal ended it
  std::int64_t restarts = 0;
  std::string message;  // "limits not enforced: ...", "exit status unknown: ..."; may be empty

  friend bool operator==(const ActualWorkload&, const ActualWorkload&) = default;
};

struct ActualNodeState {
  std::string node;
  std::uint64_t generation_applied = 0;
  std::vector<ActualGpu> gpus;
  std::vector<ActualInstance> instances;
  std::vector<ActualWorkload> workloads;

  friend bool operator==(const ActualNodeState&, const ActualNodeState&) = default;
};

// ---- validation of names and values, shared with the agent ----

// Node names, job ids, instance keys and profile names: 1..128 bytes of [A-Za-z0-9._+-], not
// starting with '.' or '-' (they become file names and environment values on the node).
bool IsSaneName(std::string_view name);
// Environment variable names: [A-Za-z_][A-Za-z0-9_]*, at most 256 bytes.
bool IsEnvName(std::string_view name);
// Names the agent sets itself and a workload may not override.
bool IsReservedEnvName(std::string_view name);
// POSIX-portable user names: [A-Za-z_][A-Za-z0-9._-]*, at most 32 bytes.
bool IsUserName(std::string_view name);

// Checks every rule the parser checks, for documents built in code (the server validates what it
// sends). Errors: kInvalidArgument with the field path.
Result<void> ValidateDesiredNodeState(const DesiredNodeState& state);
Result<void> ValidateActualNodeState(const ActualNodeState& state);

// ---- JSON codecs ----

// Encoders emit every field (optional ones only when set) in a stable order. Parsed documents
// hold valid UTF-8; for ones built in code (messages with paths, say) dump with
// nlohmann::json::error_handler_t::replace, as dump() throws on invalid UTF-8 by default.
nlohmann::ordered_json ToJson(const DesiredNodeState& state);
nlohmann::ordered_json ToJson(const ActualNodeState& state);

// Parse a JSON text. Errors: kInvalidArgument with the field path, for malformed JSON, texts
// over kMaxNodeStateBytes or deeper than kMaxJsonDepth, duplicate keys, and any rule above.
Result<DesiredNodeState> ParseDesiredNodeState(std::string_view text);
Result<ActualNodeState> ParseActualNodeState(std::string_view text);

}  // namespace gpuslice::api
