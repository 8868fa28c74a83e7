#include "sim/simulator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "common/read_file.h"
#include "common/rng.h"
#include "mig/mig_parted.h"
#include "mig/yaml_guard.h"
#include "sched/scheduler.h"
#include "sim/demand_bound.h"

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

// What a job's slice takes on a model: the compute slices of the smallest profile that holds it
// (the whole GPU's for a whole-GPU request) and the share of the GPU's placement units that
// profile occupies (1 for a whole GPU); {0, 0} when the model cannot host it.
struct Footprint {
  int slices = 0;
  double gpu_share = 0;
};

Footprint FootprintOn(const JobSpec& job, const mig::GpuModel* model, Geometries& geometries) {
  if (job.profile == kWholeGpu) return {sched::WholeSlices(*model), 1.0};
  const mig::Geometry* g = geometries.For(model);
  if (g == nullptr || model->memory_units <= 0) return {};
  int q = -1;
  if (!job.profile.empty()) {
    q = model->ProfileIndex(job.profile);
  } else if (Result<int> r = g->ResolveSize({job.memory, job.compute_slices}); r) {
    q = *r;
  }
  if (q < 0) return {};
  const mig::Profile& p = model->profiles[static_cast<std::size_t>(q)];
  return {p.compute_slices, static_cast<double>(p.size_units) / model->memory_units};
}

int SlicesOn(const JobSpec& job, const mig::GpuModel* model, Geometries& geometries) {
  return FootprintOn(job, model, geometries).slices;
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

// A job's entry in DemandBound: the most slices it can be counted for, the least GPU share it
// can occupy (both × its gang size); {0, 0} when no model of the cluster hosts it.
struct JobBound {
  double slices = 0, gpu_share = 0;
};

std::vector<JobBound> JobBounds(const std::vector<JobSpec>& jobs,
                                const std::vector<const mig::GpuModel*>& classes, Geometries& geometries) {
  std::vector<JobBound> out(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    int most = 0;
    double least = 0;
    for (const mig::GpuModel* m : classes) {
      const Footprint f = FootprintOn(jobs[i], m, geometries);
      if (f.slices <= 0) continue;
      most = std::max(most, f.slices);
      least = least == 0 ? f.gpu_share : std::min(least, f.gpu_share);
    }
    out[i] = {static_cast<double>(most) * jobs[i].count, least * jobs[i].count};
  }
  return out;
}

double ClusterGpus(const ClusterSpec& cluster) {
  double gpus = 0;
  for (const NodeSpec& n : ExpandNodes(cluster)) gpus += n.gpus;
  return gpus;
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

// Reports progress at each whole percent (at most 101 calls a run, in increasing order).
class Progress {
 public:
  explicit Progress(const std::function<void(double)>& report) : report_(report) {}
  void Update(double done) {
    if (!report_) return;
    const int percent = static_cast<int>(std::clamp(done, 0.0, 1.0) * 100);
    if (percent <= shown_) return;
    shown_ = percent;
    report_(percent / 100.0);
  }

 private:
  const std::function<void(double)>& report_;
  int shown_ = -1;
};

// The simulator's view of the jobs it submitted, kept in step with the scheduler's decisions the
// same way in both modes:
//   kBind     a job starts: its slices (RunningSlices) join `allocated`; its first start counts it
//             placed and records its wait (submit to first start);
//   kPreempt  a running job stops: its slices leave `allocated` and a preemption is counted. The
//             scheduler requeues it; when it starts again it is not counted placed a second time.
// Finished() is for a job that ends. Nothing here reads the clock: times come from the loop.
class Ledger {
 public:
  Ledger(const sched::Scheduler& s, const std::vector<JobSpec>& jobs, Geometries& geometries,
         PolicyResult& out)
      : s_(s), jobs_(jobs), geometries_(geometries), out_(out) {}

  void Submitted(JobId id, std::size_t spec, std::int64_t submit_ms) {
    entries_[id.value()] = {spec, submit_ms, 0, false};
    ++out_.jobs_submitted;
  }

  // Applies one pass's decisions at `now`; returns the jobs that started in it and still run.
  std::vector<std::uint64_t> Apply(const std::vector<sched::Decision>& decisions, std::int64_t now) {
    std::vector<std::uint64_t> started;
    for (const sched::Decision& d : decisions) {
      if (d.kind == sched::Decision::Kind::kBind) started.push_back(d.job.value());
      if (d.kind == sched::Decision::Kind::kPreempt) {
        Stop(d.job.value());
        ++out_.jobs_preempted;
      }
    }
    std::sort(started.begin(), started.end());
    started.erase(std::unique(started.begin(), started.end()), started.end());
    std::erase_if(started, [&](std::uint64_t id) {
      const sched::Job* job = s_.FindJob(JobId(id));
      auto it = entries_.find(id);
      // Placed, then preempted in the same pass: it counts when it starts for good.
      if (job == nullptr || it == entries_.end() || job->state != sched::JobState::kRunning) return true;
      Entry& e = it->second;
      allocated_ -= e.slices;
      e.slices = RunningSlices(s_, *job, jobs_[e.spec], geometries_);
      allocated_ += e.slices;
      if (!e.placed) {
        e.placed = true;
        ++out_.jobs_placed;
        out_.waits_s.push_back(static_cast<double>(now - e.submit_ms) / 1000.0);
      }
      return false;
    });
    return started;
  }

  void Finished(std::uint64_t id) { Stop(id); }

  std::size_t spec_of(std::uint64_t id) const { return entries_.at(id).spec; }
  double allocated() const { return allocated_; }

  // Counts the jobs never placed; with `end_ms`, each adds its wait until then to waits_s (a
  // lower bound of its real wait: it was still waiting when the simulation ended).
  void CountUnplaced(std::optional<std::int64_t> end_ms) {
    for (const auto& [id, e] : entries_) {
      if (e.placed) continue;
      ++out_.jobs_unplaced;
      if (end_ms) out_.waits_s.push_back(static_cast<double>(*end_ms - e.submit_ms) / 1000.0);
    }
  }

  // Times each workload job was preempted (replay: each is submitted once).
  std::vector<int> PreemptionsBySpec() const {
    std::vector<int> out(jobs_.size(), 0);
    for (const auto& [id, e] : entries_) {
      if (const sched::Job* j = s_.FindJob(JobId(id))) out[e.spec] = std::max(out[e.spec], j->preemptions);
    }
    return out;
  }

 private:
  struct Entry {
    std::size_t spec = 0;
    std::int64_t submit_ms = 0;
    int slices = 0;  // counted in allocated_ while it runs
    bool placed = false;
  };
  void Stop(std::uint64_t id) {
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    allocated_ -= it->second.slices;
    it->second.slices = 0;
  }

  const sched::Scheduler& s_;
  const std::vector<JobSpec>& jobs_;
  Geometries& geometries_;
  PolicyResult& out_;
  std::unordered_map<std::uint64_t, Entry> entries_;  // by scheduler job id
  double allocated_ = 0;
};

// Replay's upper bound over the window [a, b] (ms), in slice-ms; the smaller of two bounds on
// ∫ allocated dt, each true for any placement:
//   work:   Σ_j v_j × min(b − max(a, s_j), d_j × (1 + p_j)) — no job runs before its (scaled)
//           submit time s_j, and a job preempted p_j times runs at most (1 + p_j) times its
//           duration d_j (each run but the last is cut short); jobs without a duration run to b;
//   demand: ∫ K(t) dt with K(t) the DemandBound of the jobs submitted by t (none runs earlier).
double ReplayBoundArea(const std::vector<JobSpec>& jobs, const std::vector<std::size_t>& order,
                       const std::vector<JobBound>& bounds, const std::vector<int>& preemptions,
                       double time_scale, std::int64_t a, std::int64_t b, double gpus, double total) {
  double work = 0, demand_area = 0;
  DemandBound demand;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::size_t i = order[k];
    const std::int64_t submit = Scaled(jobs[i].submit_ms, time_scale);
    double run = static_cast<double>(std::max<std::int64_t>(0, b - std::max(a, submit)));
    if (jobs[i].duration_ms)
      run = std::min(run, static_cast<double>(*jobs[i].duration_ms) * (1 + preemptions[i]));
    work += bounds[i].slices * run;
    demand.Add(bounds[i].slices, bounds[i].gpu_share);
    const std::int64_t until =
        k + 1 < order.size() ? std::min(b, Scaled(jobs[order[k + 1]].submit_ms, time_scale)) : b;
    const std::int64_t from = std::max(a, submit);
    if (until > from) demand_area += demand.Value(gpus, total) * static_cast<double>(until - from);
  }
  return std::min(work, demand_area);
}

// ∫ allocated dt over [a, b] and over [a, end of simulation], fed one constant piece at a time.
struct WindowArea {
  std::int64_t a = 0, b = 0;
  double to_b = 0, to_end = 0;
  void Add(std::int64_t from, std::int64_t to, double allocated) {
    const std::int64_t lo = std::max(from, a);
    if (to > lo) to_end += allocated * static_cast<double>(to - lo);
    if (std::min(to, b) > lo) to_b += allocated * static_cast<double>(std::min(to, b) - lo);
  }
};

// Replay: the workload's own times (arrivals scaled); pending jobs wait; allocation is
// time-averaged over the window from the first arrival to the last (the end of the simulation
// if they coincide): after the last arrival the cluster only drains, at a pace the trace's
// longest jobs set. Stages: the constructor orders the jobs and fixes the window, Run() is the
// event loop, Close() turns what it counted into the result.
class ReplayRun {
 public:
  ReplayRun(sched::Scheduler& s, const PolicySpec& policy, const ClusterSpec& cluster,
            const std::vector<JobSpec>& jobs, const SimOptions& options)
      : s_(s),
        policy_(policy),
        cluster_(cluster),
        jobs_(jobs),
        options_(options),
        classes_(cluster.GpuClasses()),
        teams_(TeamNames(cluster)),
        total_(static_cast<double>(s.usage().total_slices)),
        ledger_(s, jobs, geometries_, out_),
        progress_(options.progress) {
    order_.resize(jobs.size());
    for (std::size_t i = 0; i < order_.size(); ++i) order_[i] = i;
    std::stable_sort(order_.begin(), order_.end(),
                     [&](std::size_t a, std::size_t b) { return jobs[a].submit_ms < jobs[b].submit_ms; });
    const auto rank = [&](double q) {
      return static_cast<std::size_t>(std::floor(q * static_cast<double>(order_.size() - 1) + 1e-9));
    };
    area_ = {SubmitOf(rank(options.window_from)), SubmitOf(rank(options.window_to))};
    // The series samples the window (or, when it is empty, up to the last nominal finish).
    std::int64_t horizon = area_.b;
    for (const JobSpec& j : jobs) {
      if (j.duration_ms)
        horizon = std::max(horizon, Scaled(j.submit_ms, options.time_scale) + *j.duration_ms);
    }
    sample_end_ = area_.b > area_.a ? area_.b : horizon;
    sample_every_ = std::max<std::int64_t>(1, (sample_end_ - area_.a) / kSamples);
    next_sample_ = area_.a;
    out_.policy = policy.name;
  }

  Result<void> Run() {
    std::size_t next = 0, events = 0;
    const double events_total =
        static_cast<double>(jobs_.size() + std::count_if(jobs_.begin(), jobs_.end(),
                                                         [](const JobSpec& j) { return j.duration_ms; }));
    std::int64_t last = area_.a;
    while (next < order_.size() || !finishes_.empty()) {
      const std::int64_t t_submit = next < order_.size() ? SubmitOf(next) : INT64_MAX;
      now_ = std::min(t_submit, finishes_.empty() ? INT64_MAX : std::get<0>(finishes_.top()));
      area_.Add(last, now_, ledger_.allocated());
      Sample();
      last = now_;
      events += FinishDue();
      for (; next < order_.size() && SubmitOf(next) == now_; ++next, ++events) {
        if (auto r = Submit(order_[next]); !r) return Fail(r.error());
      }
      for (std::uint64_t id : ledger_.Apply(s_.Schedule(now_), now_)) {
        const JobSpec& spec = jobs_[ledger_.spec_of(id)];
        if (spec.duration_ms) finishes_.push({now_ + *spec.duration_ms, id, now_});
      }
      progress_.Update(static_cast<double>(events) / events_total);
    }
    progress_.Update(1.0);
    return {};
  }

  PolicyResult Close() {
    const std::int64_t end = now_;
    const std::int64_t b = area_.b > area_.a ? area_.b : end;
    const double window = static_cast<double>(b - area_.a);
    const double gpus = ClusterGpus(cluster_);
    const std::vector<JobBound> bounds = JobBounds(jobs_, classes_, geometries_);
    out_.window_s = window / 1000.0;
    if (window > 0) {
      out_.allocation_ratio = (area_.b > area_.a ? area_.to_b : area_.to_end) / (total_ * window);
      const double bound_area = ReplayBoundArea(jobs_, order_, bounds, ledger_.PreemptionsBySpec(),
                                                options_.time_scale, area_.a, b, gpus, total_);
      out_.upper_bound = std::min(1.0, bound_area / (total_ * window));
    } else {  // everything happened at one instant: the allocation then
      out_.allocation_ratio = ledger_.allocated() / total_;
      DemandBound demand;
      for (const JobBound& j : bounds) demand.Add(j.slices, j.gpu_share);
      out_.upper_bound = demand.Value(gpus, total_) / total_;
    }
    out_.allocation.push_back(
        {static_cast<double>(std::min(end, sample_end_)) / 3.6e6, ledger_.allocated() / total_});
    ledger_.CountUnplaced(end);
    out_.wait_s = Percentiles(out_.waits_s);
    out_.instances_created = s_.usage().instances_created;
    out_.instances_destroyed = s_.usage().instances_destroyed;
    return std::move(out_);
  }

 private:
  std::int64_t SubmitOf(std::size_t k) const {
    return Scaled(jobs_[order_[k]].submit_ms, options_.time_scale);
  }

  // Series points up to now (the allocation is constant since the last event).
  void Sample() {
    for (; next_sample_ <= std::min(now_, sample_end_); next_sample_ += sample_every_) {
      out_.allocation.push_back({static_cast<double>(next_sample_) / 3.6e6, ledger_.allocated() / total_});
      SampleTeams(s_, teams_, classes_, static_cast<double>(next_sample_) / 3.6e6, out_);
    }
  }

  // Ends the jobs due now; returns how many ended.
  std::size_t FinishDue() {
    std::size_t ended = 0;
    while (!finishes_.empty() && std::get<0>(finishes_.top()) == now_) {
      const auto [t, id, started_at] = finishes_.top();
      finishes_.pop();
      const sched::Job& job = *s_.FindJob(JobId(id));
      if (job.state != sched::JobState::kRunning || job.start_ms != started_at) continue;  // preempted
      ledger_.Finished(id);
      (void)s_.Finish(JobId(id), now_);
      ++ended;
    }
    return ended;
  }

  Result<void> Submit(std::size_t spec) {
    Result<sched::Job> job = ToJob(jobs_[spec], policy_, s_.quota(), cluster_.teams.empty());
    if (!job) return Fail(job.error());
    job->submit_ms = now_;
    Result<JobId> id = s_.Submit(std::move(*job));
    if (!id) return Fail(id.error());
    ledger_.Submitted(*id, spec, now_);
    return {};
  }

  sched::Scheduler& s_;
  const PolicySpec& policy_;
  const ClusterSpec& cluster_;
  const std::vector<JobSpec>& jobs_;
  const SimOptions& options_;
  const std::vector<const mig::GpuModel*> classes_;
  const std::vector<std::string> teams_;
  const double total_;
  Geometries geometries_;
  PolicyResult out_;
  Ledger ledger_;
  Progress progress_;
  std::vector<std::size_t> order_;  // job indices by submit time
  WindowArea area_;
  std::int64_t sample_end_ = 0, sample_every_ = 1, next_sample_ = 0;
  // time, job id, the start it belongs to (a preempted job's old finish is stale)
  using Finish = std::tuple<std::int64_t, std::uint64_t, std::int64_t>;
  std::priority_queue<Finish, std::vector<Finish>, std::greater<>> finishes_;
  std::int64_t now_ = 0;
};

Result<PolicyResult> Replay(sched::Scheduler& s, const PolicySpec& policy, const ClusterSpec& cluster,
                            const std::vector<JobSpec>& jobs, const SimOptions& options) {
  ReplayRun run(s, policy, cluster, jobs, options);
  if (auto r = run.Run(); !r) return Fail(r.error());
  return run.Close();
}

// Arrival: jobs drawn with replacement arrive one by one and never finish; a job the scheduler
// does not start on arrival fails (is cancelled). Preemption works as in replay: a victim's slices
// are freed and it is requeued (it may start again later, and is counted placed once).
Result<PolicyResult> Arrival(sched::Scheduler& s, const PolicySpec& policy, const ClusterSpec& cluster,
                             const std::vector<JobSpec>& jobs, const SimOptions& options) {
  Geometries geometries;
  const bool default_team = cluster.teams.empty();
  const double total = static_cast<double>(s.usage().total_slices);
  const double gpus = ClusterGpus(cluster);
  const std::vector<std::string> teams = TeamNames(cluster);
  const std::vector<const mig::GpuModel*> classes = cluster.GpuClasses();
  const std::vector<JobBound> bounds = JobBounds(jobs, classes, geometries);
  if (std::none_of(bounds.begin(), bounds.end(), [](const JobBound& b) { return b.slices > 0; }))
    return Fail(ErrorCode::kInvalidArgument, "no job of the workload fits any GPU model of the cluster");
  PolicyResult out;
  out.policy = policy.name;
  Ledger ledger(s, jobs, geometries, out);
  DemandBound arrived;  // the requested demand (slices) and its bound
  Progress progress(options.progress);
  Rng rng(options.seed);
  int next_percent = 1;
  std::optional<double> at_100, bound_at_100;
  const double limit = options.arrival_limit * total;
  for (std::int64_t i = 0; arrived.slices() < limit; ++i) {
    const std::size_t idx =
        static_cast<std::size_t>(rng.Uniform(0, static_cast<std::int64_t>(jobs.size()) - 1));
    Result<sched::Job> job = ToJob(jobs[idx], policy, s.quota(), default_team);
    if (!job) return Fail(job.error());
    job->submit_ms = i;
    Result<JobId> id = s.Submit(std::move(*job));
    if (!id) return Fail(id.error());
    ledger.Submitted(*id, idx, i);
    arrived.Add(bounds[idx].slices, bounds[idx].gpu_share);
    (void)ledger.Apply(s.Schedule(i), i);
    if (s.FindJob(*id)->state != sched::JobState::kRunning) (void)s.Cancel(*id, i);  // fails on arrival
    while (next_percent <= 100.0 * arrived.slices() / total &&
           static_cast<double>(next_percent) <= 100.0 * options.arrival_limit) {
      out.allocation.push_back({static_cast<double>(next_percent), ledger.allocated() / total});
      SampleTeams(s, teams, classes, next_percent, out);
      if (next_percent == 100) {
        at_100 = ledger.allocated() / total;
        bound_at_100 = arrived.Value(gpus, total) / total;
      }
      ++next_percent;
    }
    progress.Update(arrived.slices() / limit);
  }
  progress.Update(1.0);
  out.allocation_ratio = at_100.value_or(ledger.allocated() / total);
  out.upper_bound = bound_at_100.value_or(arrived.Value(gpus, total) / total);
  ledger.CountUnplaced(std::nullopt);  // no clock: a job starts on arrival (wait 0) or fails
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
  if (!(options.window_from >= 0 && options.window_from <= options.window_to && options.window_to <= 1)) {
    return Fail(ErrorCode::kInvalidArgument, "the measurement window must satisfy 0 <= from <= to <= 100%");
  }
  const bool untimed = std::all_of(jobs.begin(), jobs.end(),
                                   [](const JobSpec& j) { return j.submit_ms == 0 && !j.duration_ms; });
  if (options.mode == SimOptions::Mode::kReplay && untimed) {
    return Fail(ErrorCode::kInvalidArgument,
                "replay needs arrival and duration times, and no job of this workload has either (the "
                "5-column Alibaba pod lists, openb_pod_list_multigpu*.csv, carry none): use --mode arrival");
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
