// `gpuslice agent`: the standalone node agent loop (DESIGN.md §5).
//
//   gpuslice agent --backend sim|nvml [--sim-gpus SPEC] [--sim-state FILE]
//                  (--desired FILE | --server URL --token NODE_TOKEN [--node NAME])
//                  --state-dir DIR [--actual FILE] [--interval-ms N] [--once] [--read-only]
//                  [--manage-mig] [--node NAME] [--usage-period-ms N] [--cgroup-parent DIR]
//                  [--log-max-mib N] [--log-keep N] [--stop-workloads-on-exit]
//
// Every interval, and as soon as the desired-state file's mtime or size changes, it re-reads the
// desired state (docs/agent-desired-state.md), runs one Reconciler pass (reconciler.h), polls the
// Supervisor and writes the actual state atomically (temporary file + rename) to --actual
// (default DIR/actual.json). Between passes it waits on the Supervisor's descriptors, so
// workload output and exits are handled promptly. A desired file that cannot be read or parsed
// is logged and the last good one is kept; so is one for another node than --node.
//
// MIG changes: the sim backend is managed unless --read-only; the nvml backend is opened
// read-only unless --manage-mig is given ("gpuslice never changes MIG state nobody told it to"):
// it then runs workloads on the instances it finds but creates and destroys none. --read-only
// changes nothing at all (no instances, no workload starts or stops); it only reports.
//
// Workloads: output goes to DIR/logs/<job>.log, rotated at --log-max-mib with --log-keep older
// files. CPU and memory limits are enforced only with --cgroup-parent, a cgroup v2 directory
// delegated to the agent (systemd Delegate=yes); without it, or where the host does not allow it,
// a workload with limits runs without them and its status says why. Each MIG instance's usage
// (memory, activity, processes) is sampled at most every --usage-period-ms (and when its
// processes change), within reconcile passes.
//
// With --server, the agent registers the node (its GPUs as the backend reports them), long-polls
// its desired state from the server (cli/agent_server_link.h) and posts every changed actual
// state back, besides writing it to --actual.
//
// Stopping: SIGTERM or SIGINT ends the loop after the current step. Workloads keep running: the
// Supervisor's state in DIR lets the next `gpuslice agent` on the same DIR re-adopt them (and
// kill -9 of the agent is just as safe). Stop workloads by removing them from the desired state.
//
// Exit status: 0 stopped by a signal, or --once and the node converged; 1 the backend or the state
// dir cannot be used, or --once and the node did not converge; 2 bad input (flags, unreadable or
// invalid desired file with --once, bad sim spec or state file).
#pragma once

#include <CLI/CLI.hpp>
#include <iosfwd>
#include <string>

namespace gpuslice::cli {

struct AgentOptions {
  std::string backend = "nvml";  // nvml | sim
  std::string sim_gpus;
  std::string sim_state;
  std::string nvml_library;
  std::string desired;    // the desired-state JSON file, or:
  std::string server;     // a gpuslice server to register with and long-poll
  std::string token;      // node token for `server`
  std::string state_dir;  // supervisor state, logs (DIR/logs), default actual.json
  std::string actual;     // default: state_dir/actual.json
  std::string node;       // when set, documents for another node are refused (kept: the last good one)
  int interval_ms = 1000;
  int usage_period_ms = 10'000;  // how old an instance's usage sample may get; 0: every pass
  std::string cgroup_parent;     // cgroup v2 parent for per-workload limits; empty: none
  int log_max_mib = 16;          // rotate a workload's log at this size
  int log_keep = 3;              // rotated files kept
  bool once = false;
  bool read_only = false;
  bool manage_mig = false;              // nvml only: allow creating/destroying instances
  bool stop_workloads_on_exit = false;  // on a signal, stop the workloads before exiting (gpuslice up)
};

// Runs the agent until a signal (or one pass with `once`); logs go to `err`.
int RunAgent(const AgentOptions& options, std::ostream& err);

// Registers `agent` on `app`; the exit status goes to `*exit_code`.
void AddAgentCommand(CLI::App& app, int* exit_code);

}  // namespace gpuslice::cli
