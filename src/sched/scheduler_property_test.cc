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
//     >= 0 everywhere);
//   * every preemption stopped a preemptible job and let its preemptor be placed in the same
//     pass: a higher-priority
//     job of the same team, or another team's job;
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
  for (const std::string& team : teams) {
    const QuotaNodeId t = q.Find(team).value();
    std::int64_t used = 0;
    for (const std::string& cls : kClasses) {
      const ClassId c = q.FindClass(cls).value();
      const std::int64_t in_class = q.Usage(t, c).value().value();
      used += in_class;
      RC_ASSERT(q.Available(t, c).value().value() >= 0);
      const ClassQuota limits = q.quota(t, c).value();  // every team has an entry (Teams())
      RC_ASSERT(in_class <= limits.nominal.value() + limits.borrowing_limit->value());
    }
    RC_ASSERT(used == cost[t.value()]);
  }
}

// Every preemption stopped a preemptible job for a preemptor that now runs, by the rules.
void CheckPreemptions(const Scheduler& s, const std::vector<Decision>& decisions,
                      const std::map<std::uint64_t, JobId>& bound_before) {
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
  QuotaTree tree = Teams({{"a", 3000}, {"b", 2000}, {"c", 0}}, kClasses, 2000);
  const std::vector<std::string> teams{"a", "b", "c"};
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
    const std::vector<Decision> decisions = s.Schedule(now);
    for (const Decision& d : decisions) {
      if (d.kind == Decision::Kind::kCreateInstance) RC_ASSERT(!closed.contains(d.gpu));
      if (d.kind == Decision::Kind::kCreateInstance || d.kind == Decision::Kind::kDestroyInstance)
        RC_ASSERT(s.gpu(d.gpu).base_mode != GpuMode::kStatic);
    }
    CheckPreemptions(s, decisions, bound_before);
    CheckLayouts(s);
    CheckJobsAndQuota(s, teams);
    CheckIndexes(s);
  }
}

}  // namespace
}  // namespace gpuslice::sched
