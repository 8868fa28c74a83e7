// Scheduler: the pending queue and one scheduling pass.
//
// Pending jobs wait in groups of one shape (team, priority, request, gang, preemptible), oldest
// first. Jobs of one shape are interchangeable for admission: same quota, same candidate slots,
// same victims. So when a group's head cannot be placed, the rest of the group cannot either, and
// the pass moves on to the next group; a pass costs O(groups · log groups) plus the jobs it places.
//
// Order between groups (DESIGN.md §4): priority (high first), then the team's weighted dominant
// share (lower first; Kueue's fair sharing), then the head's submit time, then its id. Shares
// change as the pass admits work, so a group's key is recomputed when it reaches the top and it
// goes back into the heap if it no longer sorts first (shares only grow within a pass, except for
// teams that lose work to preemption, whose groups are re-queued then).
#include <fmt/format.h>

#include <algorithm>
#include <queue>
#include <tuple>

#include "sched/scheduler.h"
#include "sched/scheduler_internal.h"

namespace gpuslice::sched {

std::string Scheduler::ShapeKey(const Job& job) const {
  const SliceRequest& r = job.request;
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", job.team.value(), job.priority, r.profile,
                     r.size.memory ? r.size.memory->value() : -1, r.size.compute_slices,
                     static_cast<int>(r.size.media), r.size.gfx, r.gpu_model, job.count, job.same_node,
                     job.preemptible);
}

void Scheduler::Enqueue(Job& job) {
  std::string shape = ShapeKey(job);
  auto [it, inserted] = group_of_shape_.try_emplace(shape, static_cast<std::uint32_t>(groups_.size()));
  if (inserted) {
    Group g;
    g.shape = std::move(shape);
    g.priority = job.priority;
    g.team = job.team;
    groups_.push_back(std::move(g));
  }
  groups_[it->second].jobs.insert({job.submit_ms, job.id.value()});
  group_of_job_[job.id.value()] = it->second;
  job.state = JobState::kPending;
  ++num_pending_;
}

void Scheduler::Dequeue(const Job& job) {
  const auto it = group_of_job_.find(job.id.value());
  if (it == group_of_job_.end()) return;
  groups_[it->second].jobs.erase({job.submit_ms, job.id.value()});
  group_of_job_.erase(it);
  --num_pending_;
}

std::vector<Decision> Scheduler::Schedule(std::int64_t now_ms) {
  std::vector<Decision> out;
  ExpireIdle(now_ms, out);
  PassCache cache;

  // Max-heap on the inverted key: (-priority, share, submit, id) smallest first.
  using Key = std::tuple<int, double, std::int64_t, std::uint64_t, std::uint32_t>;
  auto key_of = [&](std::uint32_t gi) {
    const Group& g = groups_[gi];
    const auto [submit, id] = *g.jobs.begin();
    const Result<DominantShare> share = quota_.Share(g.team);
    return Key{-g.priority, share ? share->SortKey() : 0.0, submit, id, gi};
  };
  std::priority_queue<Key, std::vector<Key>, std::greater<>> heap;
  std::vector<char> queued(groups_.size(), 0);
  for (std::uint32_t gi = 0; gi < groups_.size(); ++gi) {
    if (groups_[gi].jobs.empty()) continue;
    heap.push(key_of(gi));
    queued[gi] = 1;
  }
  while (!heap.empty()) {
    const Key top = heap.top();
    heap.pop();
    const std::uint32_t gi = std::get<4>(top);
    Group& g = groups_[gi];
    if (g.jobs.empty()) {
      queued[gi] = 0;
      continue;
    }
    if (const Key now_key = key_of(gi); now_key != top && !heap.empty() && heap.top() < now_key) {
      heap.push(now_key);  // its team's share grew this pass: let the others go first
      continue;
    }
    Job& job = jobs_.at(g.jobs.begin()->second);
    const std::size_t first_new = out.size();
    if (!TryPlace(job, now_ms, cache, out)) {
      g.reason = job.pending;
      queued[gi] = 0;  // blocked for the rest of this pass
      continue;
    }
    Dequeue(job);
    DropReservation(job.id);
    if (!groups_[gi].jobs.empty()) heap.push(key_of(gi));
    // Preemption requeued victims: give their groups (maybe new ones) a place in this pass.
    queued.resize(groups_.size(), 0);
    for (std::size_t i = first_new; i < out.size(); ++i) {
      if (out[i].kind != Decision::Kind::kPreempt) continue;
      const std::uint32_t vg = group_of_job_.at(out[i].job.value());
      if (!queued[vg]) {
        heap.push(key_of(vg));
        queued[vg] = 1;
      }
    }
  }
  return out;
}

Pending Scheduler::Why(JobId id) const {
  const Job* job = FindJob(id);
  if (job == nullptr) return {PendingKind::kNone, fmt::format("no job {}", id.value()), {}};
  if (job->state != JobState::kPending) {
    return {PendingKind::kNone, fmt::format("job {} is {}", job->name, JobStateName(job->state)), {}};
  }
  const auto git = group_of_job_.find(id.value());
  Pending p = git != group_of_job_.end() && groups_[git->second].reason.kind != PendingKind::kNone
                  ? groups_[git->second].reason
                  : job->pending;
  if (p.kind == PendingKind::kNone) {
    p.message = job->preempted_by.valid()
                    ? fmt::format("preempted by job {}; waiting for the next scheduling pass",
                                  job->preempted_by.value())
                    : "waiting for the next scheduling pass";
    return p;
  }
  if (p.kind == PendingKind::kNoLegalSlot) {
    // Add the best near-miss on the cheapest model that can host the job (as TryPlace orders them).
    std::vector<std::tuple<std::int64_t, int, int>> models;  // (slice cost, model, profile)
    for (const auto& m : models_) {
      const int q = ProfileFor(*job, *m);
      if (q < 0 || m->geometry == nullptr) continue;
      models.emplace_back(m->model->Cost(m->model->profiles[static_cast<std::size_t>(q)]).value(), m->index,
                          q);
    }
    std::sort(models.begin(), models.end());
    for (const auto& [cost, model, q] : models) {
      if (std::string near = NearMiss(*job, *models_[static_cast<std::size_t>(model)], q); !near.empty()) {
        p.message += "; " + near;
        break;
      }
    }
  }
  return p;
}

}  // namespace gpuslice::sched
