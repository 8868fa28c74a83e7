// cgroup v2 CPU and memory limits for one workload, where the host lets the agent set them.
//
// The agent is given a parent cgroup directory (e.g. /sys/fs/cgroup/gpuslice.slice, delegated
// to it by systemd's Delegate=yes). For a workload with limits it makes a child cgroup there,
// writes cpu.max and memory.max, and opens cgroup.procs so the forked child can move itself in
// before it runs the workload (no window in which the workload runs unlimited). Hosts without
// cgroup v2, without delegation or without the controllers get no limits and a reason instead:
// a missing limit must not stop a workload from starting (the reason is reported to the user).
//
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "agent/log_pipe.h"

namespace gpuslice::agent {

struct CgroupLimits {
  std::optional<std::int64_t> cpu_millicores;  // cpu.max = "<millicores * 100> 100000"
  std::optional<std::int64_t> memory_mib;      // memory.max in bytes
  bool any() const { return cpu_millicores.has_value() || memory_mib.has_value(); }
};

struct CgroupPlacement {
  std::string path;    // the workload's cgroup; empty when limits are not enforced
  UniqueFd procs;      // its cgroup.procs, open for writing
  std::string reason;  // "limits not enforced: ..." when path is empty and limits were asked
};

// Makes `<parent>/<name>` with `limits`. Never fails: problems become `reason`.
CgroupPlacement PrepareCgroup(const std::string& parent, const std::string& name, const CgroupLimits& limits);

// Kills what is left in the cgroup (cgroup.kill, Linux 5.14+) and removes it; best effort.
void RemoveCgroup(const std::string& path);

}  // namespace gpuslice::agent
