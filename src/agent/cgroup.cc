#include "agent/cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <string>

namespace gpuslice::agent {
namespace {

constexpr std::int64_t kCpuPeriodUs = 100'000;

bool WriteText(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return false;
  return ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

std::set<std::string> ReadWords(const std::string& path) {
  std::ifstream in(path);
  std::set<std::string> words;
  for (std::string w; in >> w;) words.insert(w);
  return words;
}

std::string NotEnforced(std::string why) {
  return "limits not enforced: " + why;
}

// Makes sure the parent passes the controllers the limits need down to its children.
std::string EnableControllers(const std::string& parent, const CgroupLimits& limits) {
  std::set<std::string> needed;
  if (limits.cpu_millicores) needed.insert("cpu");
  if (limits.memory_mib) needed.insert("memory");
  const std::set<std::string> available = ReadWords(parent + "/cgroup.controllers");
  std::set<std::string> enabled = ReadWords(parent + "/cgroup.subtree_control");
  for (const std::string& c : needed) {
    if (!available.contains(c))
      return NotEnforced(fmt::format("controller '{}' is not available in {}", c, parent));
    if (enabled.contains(c)) continue;
    if (!WriteText(parent + "/cgroup.subtree_control", "+" + c)) {
      return NotEnforced(
          fmt::format("cannot enable controller '{}' in {}: {}", c, parent, std::strerror(errno)));
    }
  }
  return "";
}

std::string WriteLimits(const std::string& path, const CgroupLimits& limits) {
  if (limits.cpu_millicores) {
    const std::int64_t quota_us = *limits.cpu_millicores * kCpuPeriodUs / 1000;
    if (!WriteText(path + "/cpu.max",
                   fmt::format("{} {}", std::max<std::int64_t>(quota_us, 1000), kCpuPeriodUs))) {
      return NotEnforced(fmt::format("cannot write {}/cpu.max: {}", path, std::strerror(errno)));
    }
  }
  if (limits.memory_mib && !WriteText(path + "/memory.max", std::to_string(*limits.memory_mib << 20))) {
    return NotEnforced(fmt::format("cannot write {}/memory.max: {}", path, std::strerror(errno)));
  }
  return "";
}

}  // namespace

CgroupPlacement PrepareCgroup(const std::string& parent, const std::string& name,
                              const CgroupLimits& limits) {
  CgroupPlacement out;
  if (!limits.any()) return out;
  if (parent.empty()) {
    out.reason = NotEnforced("the agent has no cgroup parent configured");
    return out;
  }
  if (::access((parent + "/cgroup.controllers").c_str(), R_OK) != 0) {
    out.reason = NotEnforced(parent + " is not a cgroup v2 directory");
    return out;
  }
  if (std::string why = EnableControllers(parent, limits); !why.empty()) {
    out.reason = std::move(why);
    return out;
  }
  const std::string path = parent + "/" + name;
  RemoveCgroup(path);  // a leftover of an earlier run of the same job
  if (::mkdir(path.c_str(), 0755) != 0) {
    out.reason = NotEnforced(fmt::format("cannot create {}: {}", path, std::strerror(errno)));
    return out;
  }
  UniqueFd procs(::open((path + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
  std::string why =
      procs.valid() ? WriteLimits(path, limits)
                    : NotEnforced(fmt::format("cannot open {}/cgroup.procs: {}", path, std::strerror(errno)));
  if (!why.empty()) {
    ::rmdir(path.c_str());
    out.reason = std::move(why);
    return out;
  }
  out.path = path;
  out.procs = std::move(procs);
  return out;
}

void RemoveCgroup(const std::string& path) {
  if (path.empty()) return;
  if (::access((path + "/cgroup.kill").c_str(), W_OK) == 0) WriteText(path + "/cgroup.kill", "1");
  // rmdir fails while killed processes are still being torn down; retry briefly.
  for (int i = 0; i < 10 && ::rmdir(path.c_str()) != 0 && errno == EBUSY; ++i) ::usleep(2000);
}

}  // namespace gpuslice::agent
