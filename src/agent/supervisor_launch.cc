// Supervisor: turning a WorkloadSpec into a running, recorded process.
#include <unistd.h>

#include <cstring>
#include <map>

#include "agent/cgroup.h"
#include "agent/supervisor_internal.h"

extern char** environ;

namespace gpuslice::agent {
namespace {

constexpr std::string_view kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

bool HasNul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

// Run-as-user needs root, except for running as oneself.
Result<std::optional<Credentials>> ResolveUser(const WorkloadSpec& spec) {
  if (!spec.run_as_user) return std::optional<Credentials>();
  auto user = LookupUser(*spec.run_as_user);
  if (!user) return Fail(user.error());
  if (::geteuid() != 0 && user->uid != ::geteuid()) {
    return Fail(ErrorCode::kPermissionDenied,
                "job {}: running as user '{}' needs the agent to run as root (it runs as uid {})",
                spec.job_id, *spec.run_as_user, ::geteuid());
  }
  if (::geteuid() != 0) return std::optional<Credentials>();  // already that user
  return std::optional<Credentials>(std::move(*user));
}

std::string PathOf(const std::vector<std::string>& env) {
  for (const std::string& kv : env) {
    if (kv.starts_with("PATH=")) return kv.substr(5);
  }
  return std::string(kDefaultPath);
}

}  // namespace

Result<void> ValidateSpec(const WorkloadSpec& spec) {
  if (!api::IsSaneName(spec.job_id)) {
    return Fail(ErrorCode::kInvalidArgument, "job id '{}' is not a valid name", spec.job_id);
  }
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return Fail(ErrorCode::kInvalidArgument, "job {}: argv must name a program", spec.job_id);
  }
  for (const std::string& a : spec.argv) {
    if (HasNul(a))
      return Fail(ErrorCode::kInvalidArgument, "job {}: argv holds a NUL character", spec.job_id);
  }
  if (spec.device_uuids.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "job {}: no MIG instance or GPU to run on", spec.job_id);
  }
  for (const std::string& u : spec.device_uuids) {
    if (!api::IsSaneName(u))
      return Fail(ErrorCode::kInvalidArgument, "job {}: bad device UUID '{}'", spec.job_id, u);
  }
  for (const auto& [name, value] : spec.env) {
    if (!api::IsEnvName(name) || api::IsReservedEnvName(name) || HasNul(value)) {
      return Fail(ErrorCode::kInvalidArgument, "job {}: environment variable '{}' may not be set",
                  spec.job_id, name);
    }
  }
  if (spec.working_dir && (spec.working_dir->empty() || HasNul(*spec.working_dir))) {
    return Fail(ErrorCode::kInvalidArgument, "job {}: bad working directory", spec.job_id);
  }
  if (spec.run_as_user && !api::IsUserName(*spec.run_as_user)) {
    return Fail(ErrorCode::kInvalidArgument, "job {}: bad user name '{}'", spec.job_id, *spec.run_as_user);
  }
  if (spec.grace_period.count() < 0) {
    return Fail(ErrorCode::kInvalidArgument, "job {}: negative grace period", spec.job_id);
  }
  return {};
}

std::string CudaVisibleDevices(const std::vector<std::string>& device_uuids) {
  std::string out;
  for (const std::string& u : device_uuids) {
    if (!out.empty()) out += ',';
    out += u.starts_with("MIG-") || u.starts_with("GPU-") ? u : "MIG-" + u;
  }
  return out;
}

std::vector<std::string> BuildEnvironment(const WorkloadSpec& spec, const Credentials* user) {
  std::map<std::string, std::string> env;
  for (char** p = environ; p != nullptr && *p != nullptr; ++p) {
    const std::string_view kv(*p);
    const std::size_t eq = kv.find('=');
    if (eq == std::string_view::npos || api::IsReservedEnvName(kv.substr(0, eq))) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  if (user != nullptr && spec.run_as_user) {
    env["HOME"] = user->home;
    env["USER"] = *spec.run_as_user;
    env["LOGNAME"] = *spec.run_as_user;
  }
  env["CUDA_VISIBLE_DEVICES"] = CudaVisibleDevices(spec.device_uuids);
  env["GPUSLICE_JOB_ID"] = spec.job_id;
  for (const auto& [name, value] : spec.env) env[name] = value;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

// Steps: resolve user, environment and program (nothing to undo yet); open the log and make the
// pipe; prepare the cgroup; fork, record the process durably, let it exec.
Result<void> Supervisor::Launch(Entry& e) {
  WorkloadRecord& rec = e.rec;
  auto user = ResolveUser(rec.spec);
  if (!user) return Fail(user.error());
  SpawnRequest req;
  req.env = BuildEnvironment(rec.spec, *user ? &**user : nullptr);
  auto program = ResolveProgram(rec.spec.argv[0], PathOf(req.env));
  if (!program) return Fail(program.error().WithContext(fmt::format("job {}", rec.spec.job_id)));
  req.program = std::move(*program);
  req.argv = rec.spec.argv;
  req.working_dir = rec.spec.working_dir;
  req.user = std::move(*user);

  if (!e.log) {  // a new run (restarts keep their run's log open): its output starts a new file
    auto log = RotatingLog::Open(rec.log_path, options_.log_rotation);
    if (!log) return Fail(log.error());
    if (auto fresh = log->StartNewFile(); !fresh) return Fail(fresh.error());
    e.log.emplace(std::move(*log));
  }
  ChildLogEnds ends;
  auto pipe = LogPipe::Create(rec.fifo_path, &ends);
  if (!pipe) return Fail(pipe.error());
  CgroupPlacement cg = PrepareCgroup(options_.cgroup_parent, "gpuslice-" + rec.spec.job_id,
                                     CgroupLimits{rec.spec.cpu_millicores, rec.spec.memory_mib});
  req.stdout_fd = ends.write_end.get();
  req.keeper_fd = ends.keeper.get();
  req.gate_marker = GateMarkerOf(rec);
  req.cgroup_procs_fd = cg.procs.get();

  auto spawned = Spawn(req, [&](pid_t pid, std::uint64_t start_ticks) {
    rec.pid = pid;
    rec.start_ticks = start_ticks;
    rec.state = api::WorkloadState::kRunning;
    rec.cgroup_path = cg.path;
    rec.exit_code.reset();
    rec.signal.reset();
    return Save();
  });
  if (!spawned) {
    ::unlink(req.gate_marker.c_str());
    pipe->Remove();
    RemoveCgroup(cg.path);
    rec.pid = 0;
    rec.cgroup_path.clear();
    return Fail(spawned.error().WithContext(fmt::format("job {}", rec.spec.job_id)));
  }
  e.pipe.emplace(std::move(*pipe));
  e.is_child = true;
  e.adopted = false;
  e.killed = false;
  e.kill_at.reset();
  e.restart_at.reset();
  e.started = clock_.MonoNow();
  rec.message = !spawned->warning.empty() ? spawned->warning : cg.reason;
  // The process is recorded already (on_forked); a failure here only loses the message.
  if (auto r = Save(); !r && !pending_error_) pending_error_ = r.error();
  return {};
}

}  // namespace gpuslice::agent
