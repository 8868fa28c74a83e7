#include "sim/simulator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <sstream>

#include "common/read_file.h"
#include "common/rng.h"
#include "mig/mig_parted.h"
#include "mig/yaml_guard.h"
#include "sched/scheduler.h"

namespace gpuslice::sim {
namespace {

constexpr int kSamples = 500;  // points per series in replay mode

// Geometry per model, built once per run.
class Geometries {
 public:
  const mig::Geometry* For(const mig::GpuModel* m) {
    auto it = cache_.find(m);
    if (it == cache_.end()) {
      Result<mig::Geometry> g = mig::Geometry::Build(*m);
      it = cache_.emplace(m, g ? std::make_unique<mig::Geometry>(std::move(*g)) : nullptr).first;
    }
    return it->second.get();
  }

 private:
  std::map<const mig::GpuModel*, std::unique_ptr<mig::Geometry>> cache_;
};

// Compute slices a job's slice takes on a model: the smallest profile that holds it, or the
// whole GPU; 0 when the model cannot host it.
int SlicesOn(const JobSpec& job, const mig::GpuModel* model, Geometries& geometries) {
  const int whole = sched::WholeSlices(*model);
  if (job.profile == kWholeGpu) return whole;
  const mig::Geometry* g = geometries.For(model);
  if (g == nullptr) return 0;
  int q = -1;
  if (!job.profile.empty()) {
    q = model->ProfileIndex(job.profile);
  } else if (Result<int> r = g->ResolveSize({job.memory, job.compute_slices}); r) {
    q = *r;
  }
  return q < 0 ? 0 : model->profiles[static_cast<std::size_t>(q)].compute_slices;
}

Result<sched::QuotaTree> BuildQuota(const ClusterSpec& cluster) {
  sched::QuotaTree tree;
  const std::vector<const mig::GpuModel*> classes = cluster.GpuClasses();
  for (const mig::GpuModel* m : classes) (void)tree.AddClass(m->name);
  if (cluster.teams.empty()) {  // one team with the whole cluster
    const sched::QuotaNodeId team = tree.AddTeam("default").value();
    for (const ModelTotals& t : Totals(cluster).per_model) {
      (void)tree.SetQuota(team, tree.FindClass(t.model->name).value(), {MilliGpu(t.gpus * 1000)});
    }
    return tree;
  }
  std::map<std::string, sched::QuotaNodeId> cohorts;
  for (const TeamSpec& t : cluster.teams) {
    sched::QuotaNodeId parent;
    if (!t.cohort.empty()) {
      if (!cohorts.contains(t.cohort)) {
        Result<sched::QuotaNodeId> c = tree.AddCohort(t.cohort);
        if (!c) return Fail(c.error());
        cohorts[t.cohort] = *c;
      }
      parent = cohorts[t.cohort];
    }
    Result<sched::QuotaNodeId> team = tree.AddTeam(t.name, parent);
    if (!team) return Fail(team.error());
    for (const ClassQuotaSpec& q : t.quotas) {
      const sched::ClassQuota quota{q.nominal, q.borrowing_limit, q.lending_limit};
      if (auto r = tree.SetQuota(*team, tree.FindClass(q.gpu_class->name).value(), quota); !r)
        return Fail(r.error());
    }
    if (auto r = tree.SetWeight(*team, t.weight); !r) return Fail(r.error());
  }
  return tree;
}

sched::GpuMode SchedMode(GpuMode m) {
  switch (m) {
    case GpuMode::kDynamic: return sched::GpuMode::kDynamic;
    case GpuMode::kWhole: return sched::GpuMode::kWhole;
    case GpuMode::kCordoned: return sched::GpuMode::kCordoned;
    case GpuMode::kDraining: return sched::GpuMode::kDraining;
    case GpuMode::kStatic: return sched::GpuMode::kStatic;
  }
  return sched::GpuMode::kDynamic;
}

std::vector<mig::Layout> LayoutsOf(const std::vector<mig::GpuPlan>& plans) {
  std::vector<mig::Layout> out;
  for (const mig::GpuPlan& p : plans) out.push_back(p.placements);
  return out;
}

// Adds the cluster's nodes to `s` the way `policy` runs them.
Result<void> AddNodes(const PolicySpec& policy, const ClusterSpec& cluster, const SimOptions& options,
                      sched::Scheduler& s) {
  std::optional<mig::MigPartedConfig> config;
  if (policy.kind == PolicySpec::Kind::kStatic) {
    std::string path = policy.static_file;
    if (!path.empty() && path[0] != '/' && !options.base_dir.empty()) path = options.base_dir + "/" + path;
    Result<std::string> text = ReadFile(path, mig::kMaxYamlInputBytes + 1);
    if (!text) return Fail(text.error());
    Result<mig::MigPartedConfig> parsed = mig::ParseMigPartedConfig(*text);
    if (!parsed) return Fail(parsed.error().WithContext(path));
    config = std::move(*parsed);
  }
  for (const NodeSpec& n : ExpandNodes(cluster)) {
    sched::GpuMode mode = SchedMode(n.mode);
    std::vector<mig::Layout> layouts;
    if (mode == sched::GpuMode::kStatic)
      layouts = LayoutsOf(cluster.groups[static_cast<std::size_t>(n.group)].layout->plans);
    if (policy.kind == PolicySpec::Kind::kWholeGpu) mode = sched::GpuMode::kWhole;
    if (policy.kind == PolicySpec::Kind::kStatic) {
      mode = sched::GpuMode::kWhole;
      layouts.clear();
      if (n.model->mig_capable) {
        std::vector<mig::PlanGpu> gpus;
        for (int i = 0; i < n.gpus; ++i) gpus.push_back({i, {n.model, n.sku}});
        Result<std::vector<mig::GpuPlan>> plans = mig::PlanConfig(*config, policy.static_config, gpus);
        if (!plans) return Fail(plans.error());
        const bool all = std::all_of(plans->begin(), plans->end(),
                                     [](const mig::GpuPlan& p) { return p.matched && p.mig_enabled; });
        if (all) {
          mode = sched::GpuMode::kStatic;
          layouts = LayoutsOf(*plans);
        }
      }
    }
    if (!n.model->mig_capable && mode != sched::GpuMode::kCordoned && mode != sched::GpuMode::kDraining) {
      mode = sched::GpuMode::kWhole;
    }
    if (auto r = s.AddNode(n.name, *n.model, n.gpus, mode, layouts); !r) return Fail(r.error());
  }
  return {};
}

// The scheduler's job for a workload job under `policy`.
Result<sched::Job> ToJob(const JobSpec& spec, const PolicySpec& policy, const sched::QuotaTree& quota,
                         bool default_team) {
  Result<sched::QuotaNodeId> team = quota.Find(default_team ? "default" : spec.team);
  if (!team) return Fail(ErrorCode::kNotFound, "job {}: the cluster has no team '{}'", spec.name, spec.team);
  sched::Job j;
  j.name = spec.name;
  j.team = *team;
  j.priority = spec.priority;
  j.preemptible = spec.preemptible;
  j.kind = spec.kind;
  j.submit_ms = spec.submit_ms;
  if (spec.duration_ms) j.expected_duration_ms = *spec.duration_ms;
  j.count = spec.count;
  j.same_node = spec.same_node;
  j.request.gpu_model = spec.gpu_model;
  if (policy.kind == PolicySpec::Kind::kWholeGpu || spec.profile == kWholeGpu) {
    j.request.profile = std::string(kWholeGpu);
  } else if (!spec.profile.empty()) {
    j.request.profile = spec.profile;
  } else {
    j.request.size.memory = spec.memory;
    j.request.size.compute_slices = spec.compute_slices;
  }
  return j;
}

}  // namespace

Result<std::unique_ptr<sched::Scheduler>> BuildScheduler(const PolicySpec& policy, const ClusterSpec& cluster,
                                                         const SimOptions& options) {
  Result<sched::QuotaTree> quota = BuildQuota(cluster);
  if (!quota) return Fail(quota.error());
  sched::SchedulerOptions so = options.scheduler;
  if (policy.kind == PolicySpec::Kind::kFirstFit) {
    so.placement = sched::SchedulerOptions::Placement::kFirstFit;
    so.warm_idle_ms = 0;
  }
  auto s = std::make_unique<sched::Scheduler>(std::move(*quota), so);
  if (auto r = AddNodes(policy, cluster, options, *s); !r) return Fail(r.error());
  return s;
}

namespace {

std::int64_t Scaled(std::int64_t ms, double scale) {
  return std::llround(static_cast<double>(ms) * scale);
}

// Slices a running job holds in the accounting above.
int RunningSlices(const sched::Scheduler& s, const sched::Job& job, const JobSpec& spec, Geometries& g) {
  int slices = 0;
  for (const sched::Binding& b : job.bindings) slices += SlicesOn(spec, s.gpu(b.gpu).model, g);
  return slices;
}

std::vector<std::string> TeamNames(const ClusterSpec& cluster) {
  std::vector<std::string> names;
  for (const TeamSpec& t : cluster.teams) names.push_back(t.name);
  if (names.empty()) names.push_back("default");
  return names;
}

void SampleTeams(const sched::Scheduler& s, const std::vector<std::string>& teams,
                 const std::vector<const mig::GpuModel*>& classes, double x, PolicyResult& out) {
  for (const std::string& t : teams) {
    const sched::QuotaNodeId id = s.quota().Find(t).value();
    std::int64_t used = 0;
    for (const mig::GpuModel* m : classes) {
      if (Result<MilliGpu> u = s.quota().Usage(id, s.quota().FindClass(m->name).value())) used += u->value();
    }
    out.team_usage_mgpu[t].push_back({x, static_cast<double>(used)});
  }
}

// Replay: the workload's own times (scaled); pending jobs wait; time-averaged allocation.
Result<PolicyResult> Replay(sched::Scheduler& s, const PolicySpec& policy, const ClusterSpec& cluster,
                            const std::vector<JobSpec>& jobs, const SimOptions& options) {
  Geometries geometries;
  const bool default_team = cluster.teams.empty();
  std::vector<std::size_t> order(jobs.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return jobs[a].submit_ms < jobs[b].submit_ms; });

  // Horizon, and per job the fewest slices any model can give it (for the upper bound).
  const double total = static_cast<double>(s.usage().total_slices);
  std::int64_t horizon = 0;
  std::vector<int> min_slices(jobs.size(), 0);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const JobSpec& j = jobs[i];
    const std::int64_t start = Scaled(j.submit_ms, options.time_scale);
    horizon = std::max(horizon, j.duration_ms ? start + *j.duration_ms : start);
    for (const mig::GpuModel* m : cluster.GpuClasses()) {
      const int n = SlicesOn(j, m, geometries);
      if (n > 0 && (min_slices[i] == 0 || n < min_slices[i])) min_slices[i] = n;
    }
  }
  PolicyResult out;
  out.policy = policy.name;
  out.jobs_submitted = static_cast<std::int64_t>(jobs.size());
  const std::vector<std::string> teams = TeamNames(cluster);
  const std::vector<const mig::GpuModel*> classes = cluster.GpuClasses();
  // time, job id, spec index, the start it belongs to (a preempted job's old finish is stale)
  using Finish = std::tuple<std::int64_t, std::uint64_t, std::size_t, std::int64_t>;
  std::map<std::uint64_t, int> slices_of;  // running job -> slices counted in `allocated`
  std::priority_queue<Finish, std::vector<Finish>, std::greater<>> finishes;
  std::map<std::uint64_t, std::size_t> spec_of;  // scheduler job id -> spec index
  std::size_t next = 0;
  std::int64_t now = 0, last = 0;
  double area = 0, allocated = 0;
  const std::int64_t sample_every = std::max<std::int64_t>(1, horizon / kSamples);
  std::int64_t next_sample = 0;
  std::size_t processed = 0;
  const std::size_t events_total = jobs.size() * 2;
  while (next < order.size() || !finishes.empty()) {
    const std::int64_t t_submit =
        next < order.size() ? Scaled(jobs[order[next]].submit_ms, options.time_scale) : INT64_MAX;
    const std::int64_t t_finish = finishes.empty() ? INT64_MAX : std::get<0>(finishes.top());
    now = std::min(t_submit, t_finish);
    area += allocated * static_cast<double>(now - last);
    while (next_sample <= now) {
      out.allocation.push_back({static_cast<double>(next_sample) / 3.6e6, allocated / total});
      SampleTeams(s, teams, classes, static_cast<double>(next_sample) / 3.6e6, out);
      next_sample += sample_every;
    }
    last = now;
    while (!finishes.empty() && std::get<0>(finishes.top()) == now) {
      const auto [t, id, idx, started_at] = finishes.top();
      finishes.pop();
      const sched::Job& job = *s.FindJob(JobId(id));
      if (job.state != sched::JobState::kRunning || job.start_ms != started_at) continue;  // preempted
      allocated -= slices_of[id];
      slices_of.erase(id);
      (void)s.Finish(JobId(id), now);
      ++processed;
    }
    while (next < order.size() && Scaled(jobs[order[next]].submit_ms, options.time_scale) == now) {
      const JobSpec& spec = jobs[order[next]];
      Result<sched::Job> job = ToJob(spec, policy, s.quota(), default_team);
      if (!job) return Fail(job.error());
      job->submit_ms = now;
      Result<JobId> id = s.Submit(std::move(*job));
      if (!id) return Fail(id.error());
      spec_of[id->value()] = order[next];
      ++next;
      ++processed;
    }
    std::set<std::uint64_t> started;
    for (const sched::Decision& d : s.Schedule(now)) {
      if (d.kind == sched::Decision::Kind::kBind) started.insert(d.job.value());
      if (d.kind == sched::Decision::Kind::kPreempt) {
        // The victim stops and starts over when it is placed again.
        allocated -= slices_of[d.job.value()];
        slices_of.erase(d.job.value());
        ++out.jobs_preempted;
      }
    }
    for (std::uint64_t id : started) {
      const sched::Job& job = *s.FindJob(JobId(id));
      if (job.state != sched::JobState::kRunning) continue;  // placed, then preempted in the same pass
      const std::size_t idx = spec_of[id];
      slices_of[id] = RunningSlices(s, job, jobs[idx], geometries);
      allocated += slices_of[id];
      if (job.preemptions == 0) {
        out.waits_s.push_back(static_cast<double>(now - job.submit_ms) / 1000.0);
        ++out.jobs_placed;
      }
      if (jobs[idx].duration_ms) finishes.push({now + *jobs[idx].duration_ms, id, idx, now});
    }
    if (options.progress && processed % 1024 == 0)
      options.progress(static_cast<double>(processed) / events_total);
  }
  const double span = static_cast<double>(std::max<std::int64_t>(now, 1));
  out.allocation_ratio = area / (total * span);
  out.allocation.push_back({static_cast<double>(now) / 3.6e6, allocated / total});
  // Upper bound: no job runs before its submit time or longer than its duration, so the work
  // any placement can do within the span is at most W = Σ slices × min(duration, span − submit).
  double work = 0;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const std::int64_t start = Scaled(jobs[i].submit_ms, options.time_scale);
    const std::int64_t until = jobs[i].duration_ms ? std::min(now, start + *jobs[i].duration_ms) : now;
    work += static_cast<double>(min_slices[i]) * jobs[i].count *
            static_cast<double>(std::max<std::int64_t>(0, until - start));
  }
  out.upper_bound = std::min(1.0, work / (total * span));
  out.wait_s = Percentiles(out.waits_s);
  out.instances_created = s.usage().instances_created;
  out.instances_destroyed = s.usage().instances_destroyed;
  return out;
}

// Arrival: jobs drawn with replacement arrive one by one and never finish; unplaceable ones fail.
Result<PolicyResult> Arrival(sched::Scheduler& s, const PolicySpec& policy, const ClusterSpec& cluster,
                             const std::vector<JobSpec>& jobs, const SimOptions& options) {
  Geometries geometries;
  const bool default_team = cluster.teams.empty();
  const double total = static_cast<double>(s.usage().total_slices);
  const std::vector<std::string> teams = TeamNames(cluster);
  const std::vector<const mig::GpuModel*> classes = cluster.GpuClasses();
  PolicyResult out;
  out.policy = policy.name;
  bool any = false;
  for (const JobSpec& j : jobs) {
    for (const mig::GpuModel* m : classes) any |= SlicesOn(j, m, geometries) > 0;
  }
  if (!any)
    return Fail(ErrorCode::kInvalidArgument, "no job of the workload fits any GPU model of the cluster");
  Rng rng(options.seed);
  double arrived = 0, placeable = 0, allocated = 0;
  int next_percent = 1;
  double at_100 = -1, bound_at_100 = -1;
  const double limit = options.arrival_limit * total;
  for (std::int64_t i = 0; arrived < limit; ++i) {
    const JobSpec& spec =
        jobs[static_cast<std::size_t>(rng.Uniform(0, static_cast<std::int64_t>(jobs.size()) - 1))];
    int best = 0;
    for (const mig::GpuModel* m : classes) best = std::max(best, SlicesOn(spec, m, geometries));
    Result<sched::Job> job = ToJob(spec, policy, s.quota(), default_team);
    if (!job) return Fail(job.error());
    job->submit_ms = i;
    Result<JobId> id = s.Submit(std::move(*job));
    if (!id) return Fail(id.error());
    ++out.jobs_submitted;
    const double demand = static_cast<double>(best * spec.count);
    arrived += demand;
    placeable += demand;
    if (!s.Schedule(i).empty() && s.FindJob(*id)->state == sched::JobState::kRunning) {
      allocated += RunningSlices(s, *s.FindJob(*id), spec, geometries);
      ++out.jobs_placed;
      out.waits_s.push_back(0);
    } else {
      (void)s.Cancel(*id, i);  // fails on arrival
    }
    while (next_percent <= 100.0 * arrived / total &&
           static_cast<double>(next_percent) <= 100.0 * options.arrival_limit) {
      out.allocation.push_back({static_cast<double>(next_percent), allocated / total});
      SampleTeams(s, teams, classes, next_percent, out);
      if (next_percent == 100) {
        at_100 = allocated / total;
        bound_at_100 = std::min(1.0, placeable / total);
      }
      ++next_percent;
    }
    if (options.progress && (i & 1023) == 0) options.progress(std::min(1.0, arrived / limit));
  }
  out.allocation_ratio = at_100 >= 0 ? at_100 : allocated / total;
  out.upper_bound = bound_at_100 >= 0 ? bound_at_100 : std::min(1.0, placeable / total);
  out.wait_s = Percentiles(out.waits_s);
  out.instances_created = s.usage().instances_created;
  out.instances_destroyed = s.usage().instances_destroyed;
  return out;
}

}  // namespace

Result<PolicyResult> RunPolicy(const PolicySpec& policy, const ClusterSpec& cluster,
                               const std::vector<JobSpec>& jobs, const SimOptions& options) {
  if (jobs.empty()) return Fail(ErrorCode::kInvalidArgument, "the workload has no jobs");
  if (options.time_scale <= 0 || options.arrival_limit <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "time scale and arrival limit must be positive");
  }
  Result<std::unique_ptr<sched::Scheduler>> s = BuildScheduler(policy, cluster, options);
  if (!s) return Fail(s.error().WithContext(fmt::format("policy {}", policy.name)));
  if ((*s)->usage().total_slices == 0) return Fail(ErrorCode::kInvalidArgument, "the cluster has no GPUs");
  Result<PolicyResult> r = options.mode == SimOptions::Mode::kReplay
                               ? Replay(**s, policy, cluster, jobs, options)
                               : Arrival(**s, policy, cluster, jobs, options);
  if (!r) return Fail(r.error().WithContext(fmt::format("policy {}", policy.name)));
  return r;
}

Result<PolicySpec> ParsePolicy(std::string_view text) {
  PolicySpec p;
  p.name = std::string(text);
  if (text == "gpuslice") return p;
  if (text == "first-fit") {
    p.kind = PolicySpec::Kind::kFirstFit;
    return p;
  }
  if (text == "whole-gpu") {
    p.kind = PolicySpec::Kind::kWholeGpu;
    return p;
  }
  if (text.starts_with("static:")) {
    const std::string_view rest = text.substr(7);
    const std::size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) {
      return Fail(ErrorCode::kInvalidArgument, "policy '{}': write static:FILE:CONFIG", text);
    }
    p.kind = PolicySpec::Kind::kStatic;
    p.static_file = std::string(rest.substr(0, colon));
    p.static_config = std::string(rest.substr(colon + 1));
    return p;
  }
  return Fail(ErrorCode::kInvalidArgument,
              "unknown policy '{}' (gpuslice, first-fit, whole-gpu, static:FILE:CONFIG)", text);
}

}  // namespace gpuslice::sim
