#include "agent/reconciler.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

namespace gpuslice::agent {

using gpu::GpuErrorKind;
using gpu::GpuResult;

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "?";
}

// What one pass knows about one GPU.
struct Reconciler::GpuView {
  gpu::GpuInfo info;
  bool mig_on = false;   // MIG capable and enabled: the only GPUs the reconciler changes
  bool lost = false;     // health kLost, or a call answered kGpuLost
  bool read_ok = false;  // instances and processes were read this pass
  std::string message;   // why it is not ok
  std::vector<gpu::Instance> instances;
  std::vector<gpu::GpuProcess> processes;

  bool Busy(int gi) const { return ProcessCount(gi) > 0; }
  int ProcessCount(int gi) const {
    return static_cast<int>(std::count_if(processes.begin(), processes.end(), [gi](const gpu::GpuProcess& p) {
      return p.gpu_instance_id == gi;
    }));
  }
  // The instance realising (profile, start); only a complete one (with a CI and a UUID) counts.
  const gpu::Instance* Find(std::string_view profile, int start) const {
    for (const gpu::Instance& in : instances) {
      if (in.placement.start == start && in.profile == profile && !in.mig_uuid.empty()) return &in;
    }
    return nullptr;
  }
};

struct Reconciler::Pass {
  explicit Pass(const api::DesiredNodeState& d) : desired(d) {}

  const api::DesiredNodeState& desired;
  ReconcileReport report;
  std::map<int, GpuView> gpus;
  bool list_failed = false;
  bool changed = false;   // a step changed the GPUs or the workloads: read again before reporting
  bool stopping = false;  // an undesired workload is still ending

  GpuView* Gpu(int index) {
    auto it = gpus.find(index);
    return it == gpus.end() ? nullptr : &it->second;
  }
  void Block(std::string why) { report.blocked.push_back(std::move(why)); }
};

namespace {

bool Finished(api::WorkloadState s) {
  return s == api::WorkloadState::kExited || s == api::WorkloadState::kFailed ||
         s == api::WorkloadState::kStopped;
}

const api::DesiredInstance* FindDesired(const api::DesiredNodeState& d, std::string_view key) {
  for (const api::DesiredInstance& in : d.instances) {
    if (in.key == key) return &in;
  }
  return nullptr;
}

bool IsDesired(const api::DesiredNodeState& d, int gpu, const gpu::Instance& in) {
  if (in.mig_uuid.empty()) return false;  // half-made: destroyed and created again
  return std::any_of(d.instances.begin(), d.instances.end(), [&](const api::DesiredInstance& want) {
    return want.gpu_index == gpu && want.profile == in.profile && want.start == in.placement.start;
  });
}

}  // namespace

Reconciler::Reconciler(gpu::GpuBackend& backend, Supervisor& supervisor, const Clock& clock,
                       ReconcilerOptions options)
    : backend_(backend), supervisor_(supervisor), clock_(clock), options_(std::move(options)) {
  if (options_.read_only) options_.manage_mig = false;
}

void Reconciler::Log(LogLevel level, std::string_view message) const {
  if (options_.log) options_.log(level, message);
}

// ---- reading ------------------------------------------------------------------------------------

void Reconciler::MarkLost(Pass& pass, GpuView& view, std::string_view why) {
  if (!view.lost) Log(LogLevel::kError, fmt::format("GPU {} is lost: {}", view.info.index, why));
  view.lost = true;
  view.read_ok = false;
  view.message = std::string(why);
  pass.Block(fmt::format("GPU {}: lost", view.info.index));
}

void Reconciler::ReadGpu(Pass& pass, GpuView& view) {
  const int g = view.info.index;
  view.read_ok = false;
  GpuResult<std::vector<gpu::Instance>> instances = backend_.Instances(g);
  if (!instances) {
    if (instances.error().kind == GpuErrorKind::kGpuLost)
      return MarkLost(pass, view, instances.error().error.message);
    view.message = "instances: " + instances.error().error.message;
    return;
  }
  GpuResult<std::vector<gpu::GpuProcess>> processes = backend_.Processes(g);
  if (!processes) {
    if (processes.error().kind == GpuErrorKind::kGpuLost)
      return MarkLost(pass, view, processes.error().error.message);
    view.message = "processes: " + processes.error().error.message;
    return;
  }
  view.instances = std::move(*instances);
  view.processes = std::move(*processes);
  view.read_ok = true;
}

void Reconciler::ReadGpus(Pass& pass) {
  GpuResult<std::vector<gpu::GpuInfo>> gpus = backend_.ListGpus();
  if (!gpus) {
    pass.list_failed = true;
    pass.Block("GPUs cannot be listed: " + gpus.error().error.message);
    Log(LogLevel::kError, pass.report.blocked.back());
    return;
  }
  for (gpu::GpuInfo& info : *gpus) {
    GpuView& view = pass.gpus[info.index];
    view.info = std::move(info);
    view.mig_on = view.info.mig_capable && view.info.mig.current;
    if (view.info.health.state == gpu::HealthState::kLost) {
      MarkLost(pass, view, view.info.health.detail.empty() ? "GPU_IS_LOST" : view.info.health.detail);
      continue;
    }
    if (view.info.health.state == gpu::HealthState::kResetRequired) view.message = view.info.health.detail;
    if (view.mig_on) ReadGpu(pass, view);
  }
}

// ---- backoff ------------------------------------------------------------------------------------

bool Reconciler::Due(Pass& pass, const std::string& step) {
  auto it = backoff_.find(step);
  if (it == backoff_.end() || clock_.MonoNow() >= it->second.next) return true;
  ++pass.report.deferred;
  Log(LogLevel::kDebug, fmt::format("{}: waiting to retry", step));
  return false;
}

void Reconciler::Succeeded(const std::string& step) {
  backoff_.erase(step);
}

// delay = min(initial * 2^(failures - 1), max)
void Reconciler::Failed(Pass& pass, const std::string& step, std::string_view why) {
  Backoff& b = backoff_[step];
  ++b.failures;
  auto delay = options_.backoff_initial;
  for (int i = 1; i < b.failures && delay < options_.backoff_max; ++i) delay *= 2;
  delay = std::min(delay, options_.backoff_max);
  b.next = clock_.MonoNow() + delay;
  ++pass.report.failed;
  Log(LogLevel::kWarning, fmt::format("{}: failed ({} time{}): {}; retry in {} ms", step, b.failures,
                                      b.failures == 1 ? "" : "s", why, delay.count()));
}

// ---- steps --------------------------------------------------------------------------------------

void Reconciler::StopUndesired(Pass& pass) {
  std::set<std::string_view> wanted;
  for (const api::DesiredWorkload& w : pass.desired.workloads) wanted.insert(w.job_id);
  for (const WorkloadStatus& s : supervisor_.List()) {
    if (wanted.count(s.job_id) != 0) continue;
    if (options_.read_only) {
      pass.Block(fmt::format("workload {}: not desired (read-only)", s.job_id));
      continue;
    }
    const std::string step = "stop workload " + s.job_id;
    if (!Finished(s.state)) {
      pass.stopping = true;
      if (stop_sent_.count(s.job_id) != 0) continue;  // SIGKILL after the grace period is Poll's job
      if (!Due(pass, step)) continue;
      if (Result<void> r = supervisor_.Stop(s.job_id); !r) {
        Failed(pass, step, r.error().message);
        continue;
      }
      Succeeded(step);
      stop_sent_.insert(s.job_id);
      ++pass.report.stopped;
      pass.changed = true;
      Log(LogLevel::kInfo,
          fmt::format("workload {}: not desired, stopping (pid {})", s.job_id, s.pid.value_or(0)));
      continue;
    }
    const std::string remove = "remove workload " + s.job_id;
    if (!Due(pass, remove)) continue;
    if (Result<void> r = supervisor_.Remove(s.job_id); !r) {
      Failed(pass, remove, r.error().message);
      continue;
    }
    Succeeded(remove);
    stop_sent_.erase(s.job_id);
    ++pass.report.removed;
    pass.changed = true;
    Log(LogLevel::kInfo,
        fmt::format("workload {}: ended ({}), forgotten", s.job_id, api::WorkloadStateName(s.state)));
  }
}

void Reconciler::DestroyUnneeded(Pass& pass) {
  std::map<std::string, std::string, std::less<>> in_use;  // MIG UUID -> job of a live workload
  for (const WorkloadStatus& s : supervisor_.List()) {
    if (Finished(s.state)) continue;
    for (const std::string& u : s.device_uuids) {
      if (u.starts_with("GPU-")) continue;  // a whole GPU: no instance
      in_use[u.starts_with("MIG-") ? u : "MIG-" + u] = s.job_id;
    }
  }
  for (auto& [g, view] : pass.gpus) {
    if (!view.mig_on || !view.read_ok) continue;
    std::vector<int> destroyed;
    for (const gpu::Instance& in : view.instances) {
      if (IsDesired(pass.desired, g, in)) continue;
      const std::string what =
          fmt::format("GPU {} instance {} ({} at {})", g, in.gpu_instance_id, in.profile, in.placement.start);
      if (view.Busy(in.gpu_instance_id)) {
        pass.Block(what + ": not desired but processes run on it");
        Log(LogLevel::kWarning, pass.report.blocked.back() + "; left alone");
        continue;
      }
      if (auto it = in_use.find(in.mig_uuid); !in.mig_uuid.empty() && it != in_use.end()) {
        pass.Block(fmt::format("{}: not desired but workload {} still uses it", what, it->second));
        continue;
      }
      if (!options_.manage_mig) {
        pass.Block(what + ": not desired (MIG not managed)");
        continue;
      }
      const std::string step = "destroy " + what;
      if (!Due(pass, step)) continue;
      if (GpuResult<void> r = backend_.DestroyInstance(g, in.gpu_instance_id); !r) {
        if (r.error().kind == GpuErrorKind::kGpuLost) return MarkLost(pass, view, r.error().error.message);
        Failed(pass, step, r.error().error.message);
        continue;
      }
      Succeeded(step);
      ++pass.report.destroyed;
      pass.changed = true;
      destroyed.push_back(in.gpu_instance_id);
      Log(LogLevel::kInfo, fmt::format("{}: destroyed (idle, not desired)", what));
    }
    std::erase_if(view.instances, [&](const gpu::Instance& in) {
      return std::find(destroyed.begin(), destroyed.end(), in.gpu_instance_id) != destroyed.end();
    });
  }
}

// The device profile of `want` on its GPU, checked to allow `want.start`; nullptr (reported)
// when the geometry cannot be read, the GPU has no such profile, or the start is not legal.
const gpu::GpuProfile* Reconciler::ResolveProfile(Pass& pass, GpuView& view, const api::DesiredInstance& want,
                                                  const std::string& what) {
  auto geo = geometry_.find(want.gpu_index);
  if (geo == geometry_.end()) {
    GpuResult<gpu::GpuGeometry> g = backend_.Geometry(want.gpu_index);
    if (!g) {
      if (g.error().kind == GpuErrorKind::kGpuLost) {
        MarkLost(pass, view, g.error().error.message);
      } else {
        pass.Block(fmt::format("{}: geometry of GPU {}: {}", what, want.gpu_index, g.error().error.message));
      }
      return nullptr;
    }
    geo = geometry_.emplace(want.gpu_index, std::move(*g)).first;
  }
  const auto& profiles = geo->second.profiles;
  auto p = std::find_if(profiles.begin(), profiles.end(),
                        [&](const gpu::GpuProfile& gp) { return gp.name == want.profile; });
  if (p == profiles.end()) {
    pass.Block(what + ": the GPU has no profile " + want.profile);
    return nullptr;
  }
  if (std::none_of(p->placements.begin(), p->placements.end(),
                   [&](const gpu::UnitRange& r) { return r.start == want.start; })) {
    pass.Block(fmt::format("{}: start {} is not a legal placement of {}", what, want.start, want.profile));
    return nullptr;
  }
  return &*p;
}

void Reconciler::CreateMissing(Pass& pass) {
  for (const api::DesiredInstance& want : pass.desired.instances) {
    const std::string what =
        fmt::format("instance {} (GPU {} {} at {})", want.key, want.gpu_index, want.profile, want.start);
    GpuView* view = pass.Gpu(want.gpu_index);
    if (view == nullptr) {
      if (!pass.list_failed) pass.Block(what + ": no such GPU");
      continue;
    }
    if (view->lost) continue;  // already reported
    if (!view->mig_on) {
      pass.Block(what + ": the GPU is not in MIG mode; gpuslice does not change it");
      continue;
    }
    if (!view->read_ok) {
      pass.Block(what + ": GPU state unknown: " + view->message);
      continue;
    }
    if (view->Find(want.profile, want.start) != nullptr) continue;
    if (!options_.manage_mig) {
      pass.Block(what + ": missing (MIG not managed)");
      continue;
    }
    const gpu::GpuProfile* p = ResolveProfile(pass, *view, want, what);
    if (p == nullptr) continue;
    const std::string step = "create " + what;
    if (!Due(pass, step)) continue;
    GpuResult<gpu::Instance> made = backend_.CreateInstance(want.gpu_index, {p->profile_id, want.start});
    if (!made) {
      if (made.error().kind == GpuErrorKind::kGpuLost) {
        MarkLost(pass, *view, made.error().error.message);
        continue;
      }
      Failed(pass, step, made.error().error.message);
      continue;
    }
    Succeeded(step);
    ++pass.report.created;
    pass.changed = true;
    Log(LogLevel::kInfo, fmt::format("{}: created (GI {}, {})", what, made->gpu_instance_id, made->mig_uuid));
    view->instances.push_back(std::move(*made));
  }
}

// The MIG UUIDs of `w`'s instances, or the first one that does not exist (yet).
tl::expected<std::vector<std::string>, std::string> Reconciler::InstanceDevices(
    Pass& pass, const api::DesiredWorkload& w) {
  std::vector<std::string> uuids;
  for (const std::string& key : w.instance_keys) {
    const api::DesiredInstance* want = FindDesired(pass.desired, key);
    GpuView* view = want == nullptr ? nullptr : pass.Gpu(want->gpu_index);
    const gpu::Instance* in =
        view == nullptr || view->lost ? nullptr : view->Find(want->profile, want->start);
    if (in == nullptr) return tl::unexpected("waiting for instance " + key);
    uuids.push_back(in->mig_uuid);
  }
  return uuids;
}

// The UUIDs of `w`'s whole GPUs, or why one of them cannot be used whole now. A GPU is usable
// whole when it exists, is not lost, and has MIG off as its current mode (a MIG-capable GPU with
// MIG on is left as it is: the reconciler never changes MIG mode). A pending mode does not count:
// it takes effect only with a GPU reset, and what a process sees is the current one.
tl::expected<std::vector<std::string>, std::string> Reconciler::WholeGpuDevices(
    Pass& pass, const api::DesiredWorkload& w) {
  std::vector<std::string> uuids;
  for (const int g : w.gpu_indices) {
    const GpuView* view = pass.Gpu(g);
    if (view == nullptr) {
      return tl::unexpected(pass.list_failed ? fmt::format("waiting for GPU {}", g)
                                             : fmt::format("GPU {} does not exist on this node", g));
    }
    if (view->lost) return tl::unexpected(fmt::format("waiting for GPU {} (lost)", g));
    if (view->info.mig_capable && view->info.mig.current) {
      return tl::unexpected(fmt::format("GPU {} has MIG enabled; a whole-GPU job needs it disabled{}", g,
                                        view->info.mig.pending ? "" : " (MIG off is pending a GPU reset)"));
    }
    if (view->info.uuid.empty()) return tl::unexpected(fmt::format("GPU {}: the driver reported no UUID", g));
    uuids.push_back(view->info.uuid);
  }
  return uuids;
}

void Reconciler::StartWorkloads(Pass& pass) {
  for (const api::DesiredWorkload& w : pass.desired.workloads) {
    if (std::optional<WorkloadStatus> s = supervisor_.Get(w.job_id); s) {
      // Running, adopted, restarting or finished by itself: the Supervisor's business. Only one
      // this reconciler stopped (it was dropped, then desired again) is started afresh.
      if (!Finished(s->state) || stop_sent_.count(w.job_id) == 0) continue;
      if (!options_.read_only && supervisor_.Remove(w.job_id)) stop_sent_.erase(w.job_id);
      if (supervisor_.Get(w.job_id)) continue;
    }
    const tl::expected<std::vector<std::string>, std::string> devices =
        w.gpu_indices.empty() ? InstanceDevices(pass, w) : WholeGpuDevices(pass, w);
    if (!devices) {
      pass.Block(fmt::format("workload {}: {}", w.job_id, devices.error()));
      continue;
    }
    if (options_.read_only) {
      pass.Block(fmt::format("workload {}: not running (read-only)", w.job_id));
      continue;
    }
    const std::string step = "start workload " + w.job_id;
    if (!Due(pass, step)) continue;
    if (Result<void> r = supervisor_.Start(SpecFromDesired(w, *devices)); !r) {
      Failed(pass, step, r.error().message);
      continue;
    }
    Succeeded(step);
    ++pass.report.started;
    pass.changed = true;
    const std::optional<WorkloadStatus> s = supervisor_.Get(w.job_id);
    Log(LogLevel::kInfo, fmt::format("workload {}: started (pid {}) on {}", w.job_id,
                                     s && s->pid ? *s->pid : 0, fmt::join(*devices, ",")));
  }
}

// ---- report -------------------------------------------------------------------------------------

// The Supervisor's workloads; those bound to a lost GPU are failed, whatever their process does
// (a desired one not started yet is listed as failed too).
void Reconciler::AddWorkloads(Pass& pass, const std::map<int, std::string>& lost, api::ActualNodeState& a) {
  std::map<std::string, std::string, std::less<>> failed;  // job -> message
  for (const api::DesiredWorkload& w : pass.desired.workloads) {
    std::vector<int> gpus = w.gpu_indices;
    for (const std::string& key : w.instance_keys) {
      if (const api::DesiredInstance* want = FindDesired(pass.desired, key)) gpus.push_back(want->gpu_index);
    }
    for (const int g : gpus) {
      if (auto it = lost.find(g); it != lost.end()) {
        failed[w.job_id] =
            fmt::format("GPU {} lost: {}", it->first, it->second).substr(0, api::kMaxMessageBytes);
      }
    }
  }
  for (const WorkloadStatus& s : supervisor_.List()) {
    api::ActualWorkload w = s.ToActual();
    if (auto it = failed.find(w.job_id); it != failed.end()) {
      w.state = api::WorkloadState::kFailed;
      w.message = it->second;
      failed.erase(it);
    }
    a.workloads.push_back(std::move(w));
  }
  for (auto& [job, message] : failed) {
    a.workloads.push_back({.job_id = job, .state = api::WorkloadState::kFailed, .message = message});
  }
  std::sort(a.workloads.begin(), a.workloads.end(),
            [](const api::ActualWorkload& x, const api::ActualWorkload& y) { return x.job_id < y.job_id; });
}

// One usage sample per instance and pass at most, taken only when due (reconciler.h, "Usage").
// The backend's numbers are checked before they go into a report: memory needs
// 0 <= used <= total, 0 < total <= kMaxMemoryMib; activity 0..100. Whatever is left out is said
// in the message.
const Reconciler::UsageSample& Reconciler::SampleUsage(Pass& pass, GpuView& view, const gpu::Instance& in,
                                                       int processes, Clock::MonoTime now) {
  const int g = view.info.index;
  UsageSample& s = usage_[{g, in.gpu_instance_id}];
  s.reported = usage_reports_;
  if (s.processes == processes && now - s.taken < options_.usage_period && s.mig_uuid == in.mig_uuid)
    return s;
  s = UsageSample{.mig_uuid = in.mig_uuid, .processes = processes, .taken = now, .reported = usage_reports_};
  GpuResult<gpu::InstanceUsage> u = backend_.Usage(g, in.gpu_instance_id);
  if (!u) {
    if (u.error().kind == GpuErrorKind::kGpuLost) MarkLost(pass, view, u.error().error.message);
    s.message = ("usage not read: " + u.error().error.message).substr(0, api::kMaxMessageBytes);
    Log(LogLevel::kDebug, fmt::format("GPU {} instance {}: {}", g, in.gpu_instance_id, s.message));
    return s;
  }
  std::vector<std::string> why;
  const std::int64_t used = u->memory_used.value(), total = u->memory_total.value();
  if (total > 0 && total <= api::kMaxMemoryMib && used >= 0 && used <= total) {
    s.memory_used_mib = used;
    s.memory_total_mib = total;
  } else {
    why.push_back(fmt::format("memory not reported: implausible reply ({} of {} MiB used)", used, total));
  }
  if (!u->activity_percent) {
    why.push_back(u->activity_note.empty() ? "activity not measured by this backend" : u->activity_note);
  } else if (*u->activity_percent < 0 || *u->activity_percent > 100) {
    why.push_back(fmt::format("activity not reported: implausible reply ({}%)", *u->activity_percent));
  } else {
    s.activity_percent = u->activity_percent;
  }
  s.message = fmt::format("{}", fmt::join(why, "; ")).substr(0, api::kMaxMessageBytes);
  return s;
}

// Appends the instances of one GPU read this pass, with their keys and usage. A usage call may
// find the GPU lost; then none of them are reported.
void Reconciler::ReportInstances(Pass& pass, GpuView& view, Clock::MonoTime now, api::ActualNodeState& a) {
  const int g = view.info.index;
  const std::size_t first = a.instances.size();
  for (const gpu::Instance& in : view.instances) {
    if (in.mig_uuid.empty()) continue;  // no CI: nothing a workload could use
    const int processes = std::min(view.ProcessCount(in.gpu_instance_id), api::kMaxInstanceProcesses);
    const UsageSample& u = SampleUsage(pass, view, in, processes, now);
    if (view.lost) {
      a.instances.resize(first);
      return;
    }
    api::ActualInstance& ai = a.instances.emplace_back(
        api::ActualInstance{.gpu_index = g,
                            .profile = in.profile.empty() ? fmt::format("id{}", in.profile_id) : in.profile,
                            .start = in.placement.start,
                            .mig_uuid = in.mig_uuid,
                            .busy = processes > 0,
                            .processes = processes,
                            .memory_used_mib = u.memory_used_mib,
                            .memory_total_mib = u.memory_total_mib,
                            .activity_percent = u.activity_percent,
                            .usage_message = u.message});
    for (const api::DesiredInstance& want : pass.desired.instances) {
      if (want.gpu_index == g && want.profile == in.profile && want.start == in.placement.start)
        ai.key = want.key;
    }
  }
}

api::ActualNodeState Reconciler::BuildActual(Pass& pass) {
  api::ActualNodeState a;
  a.node = pass.desired.node;
  a.generation_applied = generation_applied_;
  std::map<int, std::string> lost;  // GPU -> why
  const Clock::MonoTime now = clock_.MonoNow();
  ++usage_reports_;
  for (auto& [g, view] : pass.gpus) {
    if (pass.changed && view.mig_on && !view.lost) ReadGpu(pass, view);
    if (view.mig_on && view.read_ok) ReportInstances(pass, view, now, a);  // may find the GPU lost
    api::ActualGpu out{.index = g, .uuid = view.info.uuid.empty() ? "GPU-unknown" : view.info.uuid};
    if (view.lost) {
      out.health = api::GpuHealth::kLost;
      lost[g] = view.message;
    } else if (!view.message.empty()) {
      out.health = api::GpuHealth::kDegraded;
    }
    out.message = view.message.substr(0, api::kMaxMessageBytes);
    a.gpus.push_back(std::move(out));
  }
  std::erase_if(usage_, [&](const auto& entry) { return entry.second.reported != usage_reports_; });
  AddWorkloads(pass, lost, a);
  return a;
}

api::ActualNodeState Reconciler::Observe(const api::DesiredNodeState& desired) {
  Pass pass(desired);
  ReadGpus(pass);
  return BuildActual(pass);
}

ReconcileReport Reconciler::Reconcile(const api::DesiredNodeState& desired) {
  Pass pass(desired);
  ReadGpus(pass);
  StopUndesired(pass);
  DestroyUnneeded(pass);
  CreateMissing(pass);
  StartWorkloads(pass);
  ReconcileReport& r = pass.report;
  r.converged = !pass.list_failed && !pass.stopping && r.failed == 0 && r.deferred == 0 && r.blocked.empty();
  if (r.converged && generation_applied_ != desired.generation) {
    generation_applied_ = desired.generation;
    Log(LogLevel::kInfo, fmt::format("generation {} applied", desired.generation));
  }
  r.actual = BuildActual(pass);
  return std::move(pass.report);
}

}  // namespace gpuslice::agent
