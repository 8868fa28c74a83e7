// Scheduler: geometry-aware preemption (DESIGN.md §4 step 3).
//
// Tried for the head of a group after quota or placement failed on every model. Who may be a
// victim (Kueue's policies as HyperPod task governance sets them; placement-and-quota.md §2.5):
//   * reclaim: a preemptible job of another team in the same cohort tree that borrows in the
//     contested GPU class (usage > nominal), when the preemptor stays within its own nominal
//     quota after admission (reclaimWithinCohort: Any);
//   * priority: a preemptible job of the preemptor's own team with a lower priority
//     (withinClusterQueue: LowerPriority).
// Jobs that are not preemptible are never victims; they never borrow either (scheduler.h), so
// borrowed capacity is always reclaimable.
// Candidates are taken in Kueue's order: reclaim before priority, lower priority first, most
// recently started first, then id.
//
// Steps (same-node gangs take steps 2 and 3 node by node, on the nodes where a candidate runs or
// was evicted, and win on the first node where every slice fits):
//   1. quota: if the job's quota does not fit, evict candidates greedily (skipping reclaim
//      candidates whose team no longer borrows) until it fits, then drop every victim that is
//      not needed (Kueue's minimisation pass, last to first);
//   2. then slice by slice: the normal placement with those victims gone;
//   3. else, per GPU of the model where a candidate ran when the attempt began, and per legal
//      start of the profile, the candidates whose instances overlap that start; choose the
//      (GPU, start) with the lowest (highest victim priority, number of victims, their total
//      cost, GPU, start), evict them, place there;
//   4. anything fails: every eviction is undone. A preemption therefore happens only when it
//      lets the preemptor be placed in the same pass. The pass remembers the failure for the
//      preemptor's (team, priority, model, profile, same node) and its gang size: a gang as big
//      or bigger of that key is not tried again in the pass, a smaller one is.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <limits>
#include <map>

#include "sched/scheduler.h"
#include "sched/scheduler_internal.h"

namespace gpuslice::sched {
namespace {

// The quota a running job holds, per class.
QuotaRequest ChargeOf(const std::vector<Gpu>& gpus, const Job& job) {
  std::map<std::uint64_t, std::int64_t> per_class;
  for (const Binding& b : job.bindings) per_class[gpus[b.gpu].quota_class.value()] += b.cost.value();
  QuotaRequest out;
  for (const auto& [cls, amount] : per_class) out.push_back({ClassId(cls), MilliGpu(amount)});
  return out;
}

QuotaNodeId RootOf(const QuotaTree& tree, QuotaNodeId n) {
  while (tree.parent(n).valid()) n = tree.parent(n);
  return n;
}

}  // namespace

std::vector<Scheduler::Victim> Scheduler::VictimCandidates(const Job& job, const ModelState& m,
                                                           MilliGpu cost) const {
  std::vector<Victim> out;
  const ClassId cls = m.quota_class;
  auto cost_in_class = [&](const Job& v) {
    std::int64_t c = 0;
    for (const Binding& b : v.bindings) c += gpus_[b.gpu].quota_class == cls ? b.cost.value() : 0;
    return MilliGpu(c);
  };
  auto add = [&](std::uint64_t id, bool reclaim) {
    const Job& v = jobs_.at(id);
    const MilliGpu c = cost_in_class(v);
    if (c.value() > 0) out.push_back({v.id, reclaim, v.priority, v.start_ms, c});
  };
  // Reclaim needs the preemptor within its nominal quota once admitted.
  const std::optional<ClassQuota> own = quota_.quota(job.team, cls);
  const Result<MilliGpu> used = quota_.Usage(job.team, cls);
  const bool within_nominal = own && used && used->value() + cost.value() * job.count <= own->nominal.value();
  const QuotaNodeId root = RootOf(quota_, job.team);
  for (const auto& [team, running] : preemptible_) {
    if (team == job.team.value()) {
      for (const auto& [priority, neg_start, id] : running) {
        if (priority >= job.priority) break;  // sorted by priority
        add(id, false);
      }
      continue;
    }
    const QuotaNodeId other(team);
    if (!within_nominal || RootOf(quota_, other) != root) continue;
    if (const Result<bool> b = quota_.IsBorrowing(other, cls); !b || !*b) continue;
    for (const auto& [priority, neg_start, id] : running) add(id, true);
  }
  std::sort(out.begin(), out.end(), [](const Victim& a, const Victim& b) {
    return std::make_tuple(!a.reclaim, a.priority, -a.start_ms, a.job.value()) <
           std::make_tuple(!b.reclaim, b.priority, -b.start_ms, b.job.value());
  });
  return out;
}

void Scheduler::Evict(JobId id, Tentative& t) {
  Job& v = jobs_.at(id.value());
  const GpuRef first = v.bindings.empty() ? 0 : v.bindings.front().gpu;
  t.evicted.push_back({id, v.bindings});
  t.decisions.push_back({Decision::Kind::kPreempt, first, InstanceId(), {}, id, t.job});
  ReleaseJob(v, t.now_ms);
  ++v.preemptions;
  v.preempted_by = t.job;
  Enqueue(v);
}

void Scheduler::Unevict(Tentative& t) {
  for (auto it = t.evicted.rbegin(); it != t.evicted.rend(); ++it) {
    Job& v = jobs_.at(it->first.value());
    Dequeue(v);
    for (const Binding& b : it->second) {
      if (b.instance.valid()) {
        SetBusy(b.gpu, b.instance, v.id);
        continue;
      }
      ModelState& m = *models_[static_cast<std::size_t>(model_of_gpu_[b.gpu])];
      m.free_whole.erase(b.gpu);
      gpus_[b.gpu].whole_job = v.id;
      usage_.busy_slices += WholeSlices(*m.model);
    }
    v.bindings = it->second;
    (void)quota_.Charge(v.team, ChargeOf(gpus_, v));
    v.state = JobState::kRunning;
    --v.preemptions;
    v.preempted_by = JobId();
    if (v.preemptible) preemptible_[v.team.value()].insert({v.priority, -v.start_ms, v.id.value()});
  }
  t.evicted.clear();
}

// Step 1: evicts just enough candidates for `request` to fit the job's quota. False (nothing
// evicted) when even all of them are not enough.
bool Scheduler::EvictForQuota(const Job& job, const QuotaRequest& request,
                              const std::vector<Victim>& candidates, const ModelState& m, Tentative& t) {
  if (QuotaFits(job, request)) return true;
  // Choose on the quota arithmetic alone, releasing and re-charging as we go.
  std::vector<std::size_t> chosen;
  for (std::size_t i = 0; i < candidates.size() && !QuotaFits(job, request); ++i) {
    const Job& v = jobs_.at(candidates[i].job.value());
    if (candidates[i].reclaim) {
      const Result<bool> b = quota_.IsBorrowing(v.team, m.quota_class);
      if (!b || !*b) continue;  // its team is back within nominal
    }
    (void)quota_.Release(v.team, ChargeOf(gpus_, v));
    chosen.push_back(i);
  }
  const bool fits = QuotaFits(job, request);
  // Minimise: put back every victim, last to first, that the job can do without.
  for (std::size_t k = chosen.size(); fits && k-- > 1;) {
    const Job& v = jobs_.at(candidates[chosen[k - 1]].job.value());
    (void)quota_.Charge(v.team, ChargeOf(gpus_, v));
    if (QuotaFits(job, request)) {
      chosen.erase(chosen.begin() + static_cast<std::ptrdiff_t>(k - 1));
    } else {
      (void)quota_.Release(v.team, ChargeOf(gpus_, v));
    }
  }
  for (std::size_t i : chosen) {  // restore; Evict releases for real
    const Job& v = jobs_.at(candidates[i].job.value());
    (void)quota_.Charge(v.team, ChargeOf(gpus_, v));
  }
  if (!fits) return false;
  for (std::size_t i : chosen) Evict(candidates[i].job, t);
  return true;
}

// Step 3: the GPU and the running candidates to stop there so that one slice of `profile` (or a
// whole GPU, profile < 0) fits, chosen by (highest victim priority, number of victims, their
// cost, GPU, start). nullopt when no such set exists.
std::optional<std::pair<GpuRef, std::vector<JobId>>> Scheduler::GeometryVictims(
    const Job& job, int profile, const CandidateIndex& candidates, const std::vector<GpuRef>* only) const {
  // A candidate is a victim here while it still runs (one evicted earlier in this attempt does not).
  const auto open_victim = [&](std::uint64_t job) -> const Victim* {
    const auto it = candidates.by_job.find(job);
    return it != candidates.by_job.end() && jobs_.at(job).state == JobState::kRunning ? it->second : nullptr;
  };
  using Score = std::tuple<int, std::size_t, std::int64_t, GpuRef, int>;
  std::optional<Score> best;
  std::optional<std::pair<GpuRef, std::vector<JobId>>> pick;
  auto consider = [&](const Score& s, const std::map<std::uint64_t, const Victim*>& hit) {
    if (best && !(s < *best)) return;
    best = s;
    pick = std::make_pair(std::get<3>(s), std::vector<JobId>{});
    for (const auto& [id, v] : hit) pick->second.push_back(v->job);
  };
  for (GpuRef ref : only != nullptr ? *only : candidates.gpus) {
    const Gpu& gpu = gpus_[ref];
    if (gpu.removed || ReservedForOther(ref, job.id)) continue;
    if (profile < 0) {  // a whole GPU in whole mode held by a candidate
      const Victim* holder = gpu.mode == GpuMode::kWhole ? open_victim(gpu.whole_job.value()) : nullptr;
      if (holder == nullptr) continue;
      const Victim& v = *holder;
      consider(Score{v.priority, 1, v.cost.value(), ref, 0}, {{v.job.value(), &v}});
      continue;
    }
    if (gpu.mode != GpuMode::kDynamic) continue;
    const mig::Geometry& g = *gpu.geometry;
    mig::Occupancy pinned;  // instances of jobs that are not candidates stay where they are
    bool any = false;
    for (const Instance& inst : gpu.instances) {
      if (!inst.job.valid()) continue;
      if (open_victim(inst.job.value()) != nullptr) {
        any = true;
      } else {
        g.Add(pinned, inst.placement);
      }
    }
    if (!any) continue;
    for (mig::UnitMask starts = g.FreeStarts(pinned, profile); starts != 0; starts &= starts - 1) {
      const int start = std::countr_zero(starts);
      const mig::UnitMask want = g.Mask({profile, start});
      std::map<std::uint64_t, const Victim*> hit;
      for (const Instance& inst : gpu.instances) {
        if (inst.job.valid() && (g.Mask(inst.placement) & want) != 0) {
          if (const Victim* v = open_victim(inst.job.value()); v != nullptr) hit[inst.job.value()] = v;
        }
      }
      mig::Occupancy kept = pinned;  // the candidates that stay must still leave the slot legal
      for (const Instance& inst : gpu.instances) {
        if (inst.job.valid() && open_victim(inst.job.value()) != nullptr && !hit.contains(inst.job.value()) &&
            g.CanAdd(kept, inst.placement))
          g.Add(kept, inst.placement);
      }
      if (hit.empty() || !g.CanAdd(kept, {profile, start})) continue;
      int top = std::numeric_limits<int>::min();
      std::int64_t total = 0;
      for (const auto& [id, v] : hit) {
        top = std::max(top, v->priority);
        total += v->cost.value();
      }
      consider(Score{top, hit.size(), total, ref, start}, hit);
    }
  }
  return pick;
}

// Slice by slice, on `only` (null: any GPU of the model): the normal placement, else the cheapest
// geometry victims for this slice. False as soon as a slice cannot be made to fit.
bool Scheduler::PreemptSlices(Job& job, ModelState& m, int profile, const CandidateIndex& candidates,
                              const std::vector<GpuRef>* only, std::int64_t now_ms, Tentative& t) {
  for (int i = 0; i < job.count; ++i) {
    if (PlaceSlice(job, m, profile, only, now_ms, t)) continue;
    const auto pick = GeometryVictims(job, profile, candidates, only);
    if (!pick) return false;
    for (JobId v : pick->second) Evict(v, t);
    const std::vector<GpuRef> one{pick->first};
    if (!PlaceSlice(job, m, profile, &one, now_ms, t)) return false;
  }
  return true;
}

// A same-node gang, node by node. On a node where no candidate ran when the attempt began,
// PreemptSlices could only place the gang as things stand: one plain placement over every node
// decides that for all of them at once, unless this pass already saw it fail (space the quota
// evictions freed lies on the candidates' nodes). Then PreemptSlices on each candidates' node, in
// node order: the first node where every slice fits wins, and a node that fails is undone before
// the next is tried. A node of whole GPUs with fewer free or candidate-held GPUs than the gang
// needs is not tried.
bool Scheduler::PreemptOnOneNode(Job& job, ModelState& m, int profile, const CandidateIndex& candidates,
                                 PassCache& cache, std::int64_t now_ms, Tentative& t) {
  const std::pair<int, int> shape{m.index, profile};
  if (!FailsAtSize(cache.no_node, shape, job.count)) {
    if (PlaceOn(job, m, profile, now_ms, t)) return true;
    NoteFailure(cache.no_node, shape, job.count);  // with space freed or not: it fails without
  }
  auto whole_room = [&](const std::vector<GpuRef>& gpus) {
    return std::count_if(gpus.begin(), gpus.end(), [&](GpuRef ref) {
      const Gpu& gpu = gpus_[ref];
      return WholeFreeFor(m, ref, job.id) ||
             (gpu.mode == GpuMode::kWhole && !gpu.removed && !ReservedForOther(ref, job.id) &&
              gpu.whole_job.valid() && candidates.by_job.contains(gpu.whole_job.value()));
    });
  };
  std::vector<GpuRef> here;
  for (const Node& node : nodes_) {
    if (!candidates.nodes[node.id.value() - 1]) continue;
    GpusOf(node, m, here);
    if (here.empty() || (profile < 0 && whole_room(here) < job.count)) continue;
    Tentative sub{t.job, t.cost};
    sub.now_ms = now_ms;
    if (PreemptSlices(job, m, profile, candidates, &here, now_ms, sub)) {
      t.Absorb(sub);  // after the quota evictions already in `t`
      return true;
    }
    Rollback(sub);
  }
  return false;
}

Scheduler::CandidateIndex Scheduler::IndexCandidates(const std::vector<Victim>& candidates,
                                                     const ModelState& m) const {
  CandidateIndex index;
  index.nodes.assign(nodes_.size(), false);
  for (const Victim& v : candidates) {
    index.by_job.emplace(v.job.value(), &v);
    for (const Binding& b : jobs_.at(v.job.value()).bindings) {
      if (model_of_gpu_[b.gpu] != m.index) continue;
      index.gpus.push_back(b.gpu);
      index.nodes[gpus_[b.gpu].node.value() - 1] = true;
    }
  }
  std::sort(index.gpus.begin(), index.gpus.end());
  index.gpus.erase(std::unique(index.gpus.begin(), index.gpus.end()), index.gpus.end());
  return index;
}

bool Scheduler::TryPreempt(Job& job, ModelState& m, int profile, MilliGpu cost, std::int64_t now_ms,
                           PassCache& cache, Tentative& t) {
  const auto memo = std::make_tuple(job.team.value(), job.priority, m.index, profile, OnOneNode(job));
  if (FailsAtSize(cache.no_victims, memo, job.count)) return false;
  const std::vector<Victim> candidates = VictimCandidates(job, m, cost);
  if (candidates.empty()) {
    NoteFailure(cache.no_victims, memo, job.count);
    return false;
  }
  t.now_ms = now_ms;
  const QuotaRequest request{{m.quota_class, MilliGpu(cost.value() * job.count)}};
  const CandidateIndex index = IndexCandidates(candidates, m);  // before any eviction
  bool ok = EvictForQuota(job, request, candidates, m, t);
  ok = ok && (OnOneNode(job) ? PreemptOnOneNode(job, m, profile, index, cache, now_ms, t)
                             : PreemptSlices(job, m, profile, index, nullptr, now_ms, t));
  if (ok && QuotaFits(job, request)) return true;
  Rollback(t);
  NoteFailure(cache.no_victims, memo, job.count);
  return false;
}

}  // namespace gpuslice::sched
