// Private to the Scheduler's .cc files: the per-model state and the scratch of one pass.
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "sched/scheduler.h"

namespace gpuslice::sched {

// Everything the scheduler keeps per GPU model.
struct Scheduler::ModelState {
  int index = 0;
  const mig::GpuModel* model = nullptr;
  std::unique_ptr<mig::Geometry> geometry;  // nullptr: no MIG
  std::unique_ptr<SlotIndex> slots;         // dynamic GPUs of the model
  ClassId quota_class;
  std::vector<GpuRef> gpus;
  std::vector<std::set<std::pair<GpuRef, std::uint64_t>>> idle;  // per profile: (GPU, instance)
  std::set<GpuRef> gpus_with_idle;  // base mode dynamic, with an idle instance (which may be destroyed)
  std::set<GpuRef> free_whole;      // kWhole GPUs without a job
  int dynamic_gpus = 0;
  int static_gpus = 0;
  int whole_gpus = 0;
  // Placement times per profile within the last warm window, for the demand-driven warm pool.
  std::vector<std::deque<std::int64_t>> placed_at;
};

// Pending jobs of one shape, oldest first: (submit_ms, id).
struct Scheduler::Group {
  std::string shape;
  int priority = 0;
  QuotaNodeId team;
  std::set<std::pair<std::int64_t, std::uint64_t>> jobs;
  Pending reason;  // of the head when it was last tried
};

// A running job that preemption may stop, in the order victims are taken.
struct Scheduler::Victim {
  JobId job;
  bool reclaim = false;  // another team's borrowed capacity (else: lower priority, own team)
  int priority = 0;
  std::int64_t start_ms = 0;
  MilliGpu cost;  // in the contested class
};

// The candidates of one preemption attempt by job id, and where they ran when it began: the
// model's GPUs (ascending) and nodes. Only there can stopping candidates free a slot.
struct Scheduler::CandidateIndex {
  std::unordered_map<std::uint64_t, const Victim*> by_job;
  std::vector<GpuRef> gpus;
  std::vector<bool> nodes;  // by node index (NodeId - 1)
};

// Facts learnt during one pass. Within a pass capacity only shrinks (nothing finishes), so a
// shape that found no slot, or a team short of quota for an amount, stays so until the pass ends.
struct Scheduler::PassCache {
  std::set<std::pair<int, int>> no_slot;  // (model, profile) of single slices
  // (model, profile) -> the smallest same-node gang that found no node; a bigger one finds none.
  std::map<std::pair<int, int>, int> no_node;
  // (team, priority, model, profile, same node) -> the smallest gang size for which a preemption
  // search failed: a bigger gang of the key has no more candidates (less room to reclaim within
  // nominal), needs more quota and more slots.
  std::map<std::tuple<std::uint64_t, int, int, int, bool>, int> no_victims;
  // (team, class, preemptible) -> the smallest amount found short in this pass, and why.
  std::map<std::tuple<std::uint64_t, std::uint64_t, bool>, std::pair<std::int64_t, std::string>> short_of;
};

// Whether `count` is at least the smallest size recorded as failing under `key`.
template <typename Map>
bool FailsAtSize(const Map& failed, const typename Map::key_type& key, int count) {
  const auto it = failed.find(key);
  return it != failed.end() && count >= it->second;
}
template <typename Map>
void NoteFailure(Map& failed, const typename Map::key_type& key, int count) {
  const auto [it, added] = failed.emplace(key, count);
  if (!added) it->second = std::min(it->second, count);
}

// Changes made while placing one job, so that a gang that does not fully fit can be undone.
// A gang whose slices must share one node (a one-slice job is on one node anyway).
inline bool OnOneNode(const Job& job) {
  return job.same_node && job.count > 1;
}

struct Scheduler::Tentative {
  JobId job;
  MilliGpu cost;
  std::vector<Decision> decisions;
  std::vector<Binding> bindings;
  std::vector<std::pair<GpuRef, InstanceId>> created;
  std::vector<std::tuple<GpuRef, InstanceId, std::int64_t>> reused;  // with their idle-since time
  std::vector<std::pair<GpuRef, Instance>> destroyed;
  std::vector<GpuRef> wholes;
  // Jobs stopped to make room, with their bindings, in eviction order (undone in reverse).
  std::vector<std::pair<JobId, std::vector<Binding>>> evicted;
  std::int64_t now_ms = 0;

  // Appends `sub`'s work after this one's (a node's placement after the evictions before it).
  void Absorb(Tentative& sub) {
    auto append = [](auto& to, auto& from) { to.insert(to.end(), from.begin(), from.end()); };
    append(decisions, sub.decisions);
    append(bindings, sub.bindings);
    append(created, sub.created);
    append(reused, sub.reused);
    append(destroyed, sub.destroyed);
    append(wholes, sub.wholes);
    append(evicted, sub.evicted);
  }
};

}  // namespace gpuslice::sched
