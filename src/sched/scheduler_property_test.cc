// Stateful property: random submits (any profile, priority, preemptible or not, gangs),
// finishes, cancels, cordons, drains, uncordons, mode switches and node losses on a small mixed
// cluster with borrowing teams, a scheduling pass after every event. After every pass:
//   * each GPU's instances form a valid layout that matches its occupancy;
//   * every running job holds exactly `count` bindings, each instance serves at most one job, and
//     an instance's job is running;
//   * no decision destroys an instance that was busy, unless its job was preempted earlier in
//     the same pass;
//   * each team's quota usage equals the cost of its running jobs, never exceeds nominal +
//     borrowing limit, and no team or cohort is over what Kueue's arithmetic allows (available
//     >= 0 everywhere); teams have random borrowing and lending limits, and an independent
//     oracle checks the lending limits: what the teams draw beyond the part of their nominal
//     they do not lend never exceeds what they lend together;
//   * every preemption stopped a preemptible job and let its preemptor be placed in the same
//     pass: a higher-priority job of the same team, or a reclaim — the victim's team was
//     borrowing in that GPU class and the preemptor's team stays within its nominal quota;
//   * removed nodes hold nothing, and cordoned or draining GPUs got no new instances;
//   * a pass never creates or destroys an instance on a static GPU;
//   * a static layout set at runtime (SetStaticLayout, any legal layout or nullopt) leaves the GPU
//     with exactly that layout, idle, and its cordon or drain; a refused one changes nothing;
//   * the scheduler's derived indexes agree with its state (Scheduler::CheckIndexesForTest).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "sched/scheduler.h"
#include "sched/scheduler_testing.h"

namespace gpuslice::sched {
namespace {

const std::vector<std::string> kClasses{"A100-40GB", "A30"};

void CheckLayouts(const Scheduler& s) {
  for (GpuRef g = 0; g < s.num_gpus(); ++g) {
    const Gpu& gpu = s.gpu(g);
    if (gpu.removed) RC_ASSERT(gpu.instances.empty() && !gpu.whole_job.valid());
    if (gpu.geometry == nullptr) continue;
    mig::Layout layout;
    for (const Instance& inst : gpu.instances) {
      layout.push_back(inst.placement);
      if (inst.job.valid()) RC_ASSERT(s.FindJob(inst.job)->state == JobState::kRunning);
    }
    const Result<mig::Occupancy> occ = gpu.geometry->Occupy(layout);
    RC_ASSERT(occ.has_value());
    RC_ASSERT(*occ == gpu.occupancy);
  }
}

void CheckJobsAndQuota(const Scheduler& s, const std::vector<std::string>& teams) {
  std::map<std::uint64_t, std::int64_t> cost;
  std::map<std::uint64_t, int> bindings_seen;
  s.ForEachJob([&](const Job& j) {
    if (j.state != JobState::kRunning) {
      RC_ASSERT(j.bindings.empty());
      return;
    }
    RC_ASSERT(static_cast<int>(j.bindings.size()) == j.count);
    for (const Binding& b : j.bindings) {
      cost[j.team.value()] += b.cost.value();
      RC_ASSERT(!s.gpu(b.gpu).removed);
      if (b.instance.valid()) RC_ASSERT(++bindings_seen[b.instance.value()] == 1);
    }
  });
  const QuotaTree& q = s.quota();
  for (const std::string& cls : kClasses) {
    const ClassId c = q.FindClass(cls).value();
    RC_ASSERT(q.Available(q.Find("research").value(), c).value().value() >= 0);
    // The lending oracle (one flat cohort without quota of its own): a team keeps
    // nominal - lending limit for itself; whatever the teams use beyond that comes out of what
    // they lend together.
    std::int64_t drawn = 0, lent = 0;
    for (const std::string& team : teams) {
      const ClassQuota limits = q.quota(q.Find(team).value(), c).value();
      const std::int64_t kept =
          limits.lending_limit ? std::max<std::int64_t>(0, (limits.nominal - *limits.lending_limit).value())
                               : 0;
      drawn += std::max<std::int64_t>(0, q.Usage(q.Find(team).value(), c).value().value() - kept);
      lent += limits.nominal.value() - kept;
    }
    RC_ASSERT(drawn <= lent);
  }
  for (const std::string& team : teams) {
    const QuotaNodeId t = q.Find(team).value();
    std::int64_t used = 0;
    for (const std::string& cls : kClasses) {
      const ClassId c = q.FindClass(cls).value();
      const std::int64_t in_class = q.Usage(t, c).value().value();
      used += in_class;
      RC_ASSERT(q.Available(t, c).value().value() >= 0);
      const ClassQuota limits = q.quota(t, c).value();  // every team has an entry (RandomTeams())
      if (limits.borrowing_limit)
        RC_ASSERT(in_class <= limits.nominal.value() + limits.borrowing_limit->value());
    }
    RC_ASSERT(used == cost[t.value()]);
  }
}

// Per running job, what it holds per GPU class: taken before a pass, so that the preemptions of
// the pass can be checked against the quota state they started from.
using Charges = std::map<std::uint64_t, std::map<std::uint64_t, std::int64_t>>;  // job -> class -> mGPU

Charges ChargesOf(const Scheduler& s) {
  Charges out;
  s.ForEachJob([&](const Job& j) {
    for (const Binding& b : j.bindings) out[j.id.value()][s.gpu(b.gpu).quota_class.value()] += b.cost.value();
  });
  return out;
}

// Team usage per class before the pass.
std::map<std::pair<std::uint64_t, std::uint64_t>, std::int64_t> TeamUsage(const Scheduler& s,
                                                                          const Charges& charges) {
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::int64_t> out;
  for (const auto& [job, per_class] : charges) {
    for (const auto& [cls, amount] : per_class) out[{s.FindJob(JobId(job))->team.value(), cls}] += amount;
  }
  return out;
}

// Every preemption stopped a preemptible job for a preemptor that now runs, by the rules. With
// `before` (the charges of the running jobs before the pass), a preemption across teams is
// checked to be a reclaim. The check uses bounds that hold whatever order the pass worked in: the
// victim's team may have been borrowing only if its usage before the pass plus everything it was
// bound earlier in the pass exceeds its nominal; the preemptor's team is within its nominal only
// if its usage before the pass minus what it lost to preemptions earlier in the pass, plus the
// preemptor's own charge, fits its nominal.
void CheckPreemptions(const Scheduler& s, const std::vector<Decision>& decisions,
                      const std::map<std::uint64_t, JobId>& bound_before, const Charges* before = nullptr) {
  const Charges after = before != nullptr ? ChargesOf(s) : Charges{};
  auto usage = before != nullptr ? TeamUsage(s, *before) : decltype(TeamUsage(s, {})){};
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::int64_t> gained, lost;  // in this pass so far
  std::set<std::uint64_t> unknown_gain;  // teams with a job bound and preempted again in this pass
  auto charge_of = [&](JobId job) -> const std::map<std::uint64_t, std::int64_t>& {
    static const std::map<std::uint64_t, std::int64_t> kNone;
    if (const auto it = before->find(job.value()); it != before->end()) return it->second;
    if (const auto it = after.find(job.value()); it != after.end()) return it->second;
    return kNone;
  };
  std::set<std::uint64_t> preempted;
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    const Decision& d = decisions[i];
    if (d.kind == Decision::Kind::kPreempt) {
      const Job& victim = *s.FindJob(d.job);
      const Job& by = *s.FindJob(d.by);
      RC_ASSERT(victim.preemptible);
      // The preemptor is bound in the same pass, after the preemption.
      RC_ASSERT(
          std::any_of(decisions.begin() + static_cast<std::ptrdiff_t>(i), decisions.end(),
                      [&](const Decision& x) { return x.kind == Decision::Kind::kBind && x.job == d.by; }));
      RC_ASSERT((victim.team == by.team && victim.priority < by.priority) || victim.team != by.team);
      preempted.insert(d.job.value());
      if (before == nullptr) continue;
      const QuotaTree& q = s.quota();
      for (const auto& [cls, amount] : charge_of(d.job)) {
        if (victim.team != by.team) {
          const std::pair key{victim.team.value(), cls};
          const std::int64_t nominal = q.quota(victim.team, ClassId(cls))->nominal.value();
          // The victim's team was borrowing (unless it gained a job this pass that was preempted
          // again, whose charge is unknown afterwards).
          if (!unknown_gain.contains(victim.team.value())) RC_ASSERT(usage[key] + gained[key] > nominal);
          const std::pair own{by.team.value(), cls};
          const std::int64_t own_nominal = q.quota(by.team, ClassId(cls))->nominal.value();
          const auto& by_charge = charge_of(d.by);
          const auto in_cls = by_charge.find(cls);
          RC_ASSERT(usage[own] - lost[own] + (in_cls == by_charge.end() ? 0 : in_cls->second) <= own_nominal);
        }
        lost[{victim.team.value(), cls}] += amount;
      }
    }
    if (d.kind == Decision::Kind::kBind && before != nullptr && !before->contains(d.job.value())) {
      const Job& job = *s.FindJob(d.job);
      if (!after.contains(d.job.value())) unknown_gain.insert(job.team.value());
      for (const auto& [cls, amount] : charge_of(d.job)) gained[{job.team.value(), cls}] += amount;
    }
    if (d.kind == Decision::Kind::kDestroyInstance) {
      const auto it = bound_before.find(d.instance.value());
      // Never destroy a busy instance, unless its job was preempted just before.
      RC_ASSERT(it == bound_before.end() || !it->second.valid() || preempted.contains(it->second.value()));
    }
  }
}

void CheckIndexes(const Scheduler& s) {
  if (const Result<void> r = s.CheckIndexesForTest(); !r) RC_FAIL(r.error().message);
}

// Teams under one cohort "research" with random nominal quotas, borrowing limits (sometimes
// none) and lending limits (sometimes none) in every class.
QuotaTree RandomTeams(const std::vector<std::string>& teams) {
  QuotaTree tree;
  const QuotaNodeId cohort = tree.AddCohort("research").value();
  for (const std::string& c : kClasses) (void)tree.AddClass(c);
  for (const std::string& name : teams) {
    const QuotaNodeId t = tree.AddTeam(name, cohort).value();
    for (const std::string& c : kClasses) {
      ClassQuota q{MilliGpu(*rc::gen::element<std::int64_t>(0, 1000, 2000, 3000))};
      if (*rc::gen::inRange(0, 3) > 0)
        q.borrowing_limit = MilliGpu(*rc::gen::element<std::int64_t>(0, 1000, 2000));
      if (*rc::gen::inRange(0, 3) > 0)
        q.lending_limit = MilliGpu(*rc::gen::element<std::int64_t>(0, 500, 1000, 2000));
      RC_ASSERT(tree.SetQuota(t, tree.FindClass(c).value(), q).has_value());
    }
  }
  return tree;
}

// Every non-empty legal layout of the model, computed once per model.
const std::vector<mig::Layout>& LegalLayouts(const mig::Geometry& g) {
  static std::map<std::string, std::vector<mig::Layout>> cache;
  auto [it, fresh] = cache.try_emplace(g.model().name);
  if (fresh) it->second = g.Enumerate();
  return it->second;
}

// A random SetStaticLayout: a legal layout, nullopt, or an illegal layout (a legal one with its
// first instance twice). Checks the outcome either way.
void ChangeLayout(Scheduler& s, GpuRef g, std::int64_t now) {
  const Gpu& gpu = s.gpu(g);
  std::optional<mig::Layout> layout;
  bool legal = true;
  const int kind = *rc::gen::inRange(0, 6);
  if (kind > 0 && gpu.geometry != nullptr) {
    layout = *rc::gen::elementOf(LegalLayouts(*gpu.geometry));
    if (kind == 5) {
      layout->push_back(layout->front());
      legal = false;
    }
  }
  const std::string before = GpuState(s, g);
  const GpuMode mode_before = gpu.mode, base_before = gpu.base_mode;
  std::map<std::uint64_t, JobId> bound_before;
  for (const Instance& inst : gpu.instances) bound_before[inst.id.value()] = inst.job;
  const Result<std::vector<Decision>> d = s.SetStaticLayout(g, layout, now);
  if (!d) {
    RC_ASSERT(GpuState(s, g) == before);
    RC_ASSERT(!legal || gpu.removed || gpu.whole_job.valid() ||
              std::any_of(gpu.instances.begin(), gpu.instances.end(),
                          [](const Instance& i) { return i.job.valid(); }));
    return;
  }
  RC_ASSERT(legal);
  CheckPreemptions(s, *d, bound_before);
  RC_ASSERT(gpu.base_mode == (layout ? GpuMode::kStatic : GpuMode::kDynamic));
  const bool held = mode_before == GpuMode::kCordoned || mode_before == GpuMode::kDraining;
  RC_ASSERT(gpu.mode == (held ? mode_before : gpu.base_mode));
  if (!layout) {
    if (base_before != GpuMode::kDynamic) RC_ASSERT(gpu.instances.empty());
    return;
  }
  mig::Layout have;
  for (const Instance& inst : gpu.instances) {
    if (!d->empty()) RC_ASSERT(!inst.job.valid());  // a real change happens only on a GPU without jobs
    have.push_back(inst.placement);
  }
  std::sort(have.begin(), have.end());
  std::sort(layout->begin(), layout->end());
  RC_ASSERT(have == *layout);
}

RC_GTEST_PROP(SchedulerProperty, InvariantsHoldAfterAnyEvents, ()) {
  const std::vector<std::string> teams{"a", "b", "c"};
  QuotaTree tree = RandomTeams(teams);
  Scheduler s(std::move(tree),
              SchedulerOptions{.warm_idle_ms = 300'000,
                               .reserve_after_ms = *rc::gen::element<std::int64_t>(0, 600'000),
                               .max_reservations = *rc::gen::inRange(0, 3)});
  std::vector<NodeId> nodes;
  nodes.push_back(s.AddNode("x", Model("A100-40GB"), 2, GpuMode::kDynamic).value());
  nodes.push_back(s.AddNode("y", Model("A30"), 2, GpuMode::kDynamic).value());
  nodes.push_back(s.AddNode("z", Model("A100-40GB"), 1, GpuMode::kWhole).value());
  const std::vector<std::string> profiles{"1g.5gb",  "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb",
                                          "7g.40gb", "1g.6gb",  "2g.12gb", "whole",   "1g.5gb+me"};
  std::vector<JobId> jobs;
  std::int64_t now = 0;
  const int steps = *rc::gen::inRange(1, 80);
  for (int step = 0; step < steps; ++step) {
    now += *rc::gen::inRange(0, 600'000);
    const int action = *rc::gen::inRange(0, 22);
    std::set<GpuRef> closed;  // GPUs that must get no new instance this pass
    if (action < 10 || jobs.empty()) {
      Job j = SliceJob(s, *rc::gen::elementOf(teams), *rc::gen::elementOf(profiles), *rc::gen::inRange(0, 3),
                       now);
      j.count = *rc::gen::inRange(1, 3);
      j.same_node = *rc::gen::arbitrary<bool>();
      j.preemptible = *rc::gen::arbitrary<bool>();
      if (*rc::gen::arbitrary<bool>()) j.expected_duration_ms = *rc::gen::inRange(0, 3'600'000);
      jobs.push_back(s.Submit(j).value());
    } else if (action < 16) {
      const JobId id = *rc::gen::elementOf(jobs);
      if (action < 14) {
        (void)s.Finish(id, now);
      } else {
        (void)s.Cancel(id, now);
      }
    } else if (action < 19) {
      const GpuRef g = *rc::gen::inRange<GpuRef>(0, static_cast<GpuRef>(s.num_gpus()));
      const GpuMode mode =
          *rc::gen::element(GpuMode::kCordoned, GpuMode::kDraining, GpuMode::kDynamic, GpuMode::kWhole);
      std::map<std::uint64_t, JobId> bound_before;
      for (const Instance& inst : s.gpu(g).instances) bound_before[inst.id.value()] = inst.job;
      if (const auto d = s.SetGpuMode(g, mode, now)) CheckPreemptions(s, *d, bound_before);
    } else if (action < 21) {
      ChangeLayout(s, *rc::gen::inRange<GpuRef>(0, static_cast<GpuRef>(s.num_gpus())), now);
    } else if (nodes.size() < 6) {
      // A node is lost, and a replacement joins.
      const NodeId n = *rc::gen::elementOf(nodes);
      (void)s.RemoveNode(n, now);
      nodes.push_back(
          s.AddNode("r" + std::to_string(nodes.size()), Model("A100-40GB"), 1, GpuMode::kDynamic).value());
    }
    for (GpuRef g = 0; g < s.num_gpus(); ++g) {
      const GpuMode m = s.gpu(g).mode;
      if (m == GpuMode::kCordoned || m == GpuMode::kDraining) closed.insert(g);
    }
    std::map<std::uint64_t, JobId> bound_before;
    for (GpuRef g = 0; g < s.num_gpus(); ++g) {
      for (const Instance& inst : s.gpu(g).instances) bound_before[inst.id.value()] = inst.job;
    }
    CheckIndexes(s);
    const Charges charges = ChargesOf(s);
    const std::vector<Decision> decisions = s.Schedule(now);
    for (const Decision& d : decisions) {
      if (d.kind == Decision::Kind::kCreateInstance) RC_ASSERT(!closed.contains(d.gpu));
      if (d.kind == Decision::Kind::kCreateInstance || d.kind == Decision::Kind::kDestroyInstance)
        RC_ASSERT(s.gpu(d.gpu).base_mode != GpuMode::kStatic);
    }
    CheckPreemptions(s, decisions, bound_before, &charges);
    CheckLayouts(s);
    CheckJobsAndQuota(s, teams);
    CheckIndexes(s);
  }
}

}  // namespace
}  // namespace gpuslice::sched
