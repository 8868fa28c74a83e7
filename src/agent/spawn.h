// Starting one workload process: fork, set it up, and exec, reporting every failure as a value.
//
// The child is a session and process-group leader (setsid), so the supervisor can signal the
// whole tree with kill(-pgid). Setup in the child uses only async-signal-safe calls (the agent
// may have other threads): everything that allocates - argv, envp, the program path, the user's
// ids - is prepared here before fork.
//
// Start gate: after fork the child waits until the parent has recorded (pid, start time)
// durably (`on_forked`), and runs nothing of the workload before. If the agent dies in between,
// the child sees the gate close and exits: a workload never runs unrecorded. With a
// `gate_marker`, the file is created before fork and the child removes it as it passes the gate:
// a recorded process that is gone while its marker is still there never ran anything, so a
// restarted agent may start it again without running the workload twice.
//
// Failures in the child (chdir, setuid, exec) come back over a close-on-exec socket: end of
// file means exec succeeded. Joining the cgroup is not fatal: it comes back as a warning.
//
// Thread-safety: plain functions; Spawn forks.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace gpuslice::agent {

struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string home;
};

// The user's ids and groups. Errors: kNotFound for an unknown user.
Result<Credentials> LookupUser(const std::string& name);

// `program` if it holds a '/', else the first executable `<dir>/<program>` on `path_var`
// (":"-separated; empty entries mean "."). Errors: kNotFound.
Result<std::string> ResolveProgram(const std::string& program, const std::string& path_var);

struct SpawnRequest {
  std::string program;            // resolved path
  std::vector<std::string> argv;  // argv[0] as given
  std::vector<std::string> env;   // "NAME=value"
  std::optional<std::string> working_dir;
  std::optional<Credentials> user;  // switch to this user (the caller is root)
  int stdout_fd = -1;               // becomes fd 1 and 2
  int keeper_fd = -1;               // becomes fd 3 (see log_pipe.h); -1: none
  int cgroup_procs_fd = -1;         // the child writes itself here; -1: none
  std::string gate_marker;          // created before fork, removed by the child at the gate; "": none
};

struct Spawned {
  pid_t pid = 0;  // also the process group id
  std::uint64_t start_ticks = 0;
  std::string warning;  // "limits not enforced: cannot join cgroup: ..." or empty
};

// Forks and execs. `on_forked(pid, start_ticks)` runs in the parent before the child may exec;
// when it fails the child is killed and reaped and its error returned. Errors: kUnavailable when
// fork fails; kInvalidArgument / kPermissionDenied / kNotFound for setup or exec failures in the
// child, naming the step ("chdir /x: No such file or directory"). A failed child is reaped.
Result<Spawned> Spawn(const SpawnRequest& request,
                      const std::function<Result<void>(pid_t pid, std::uint64_t start_ticks)>& on_forked);

}  // namespace gpuslice::agent
