// Scheduler: decides which job gets which MIG slice (DESIGN.md §4). Pure: no I/O, no clock, no
// threads; the caller passes `now` and applies the returned decisions.
//
// One pass (Schedule) walks the pending jobs in order — priority (high first), then submit time,
// then id — and for each one decides quota and a concrete, legal placement together:
//   for each GPU model that can host the request, cheapest slice first:
//     1. quota: the team's quota plus what its cohort can lend covers the slice's cost (QuotaTree);
//     2. an idle instance of the resolved profile on a GPU of that model (reuse, no repartition);
//     3. else a new instance where SlotIndex says it destroys the fewest future options
//        (packing onto used GPUs first);
//     4. else destroy idle instances — never busy ones — on the GPU where the fewest must go to
//        make a legal slot.
// A gang (count > 1) gets all its slices or none; `same_node` gangs are placed node by node.
// A job that is not placed keeps a reason (quota with the numbers, no legal slot, or
// unschedulable: no GPU model in the cluster can ever host it). Idle instances stay warm for
// `warm_idle_ms` so a job of the same shape starts without repartitioning, then are destroyed.
//
// Not yet here (next steps of the scheduling issue): preemption, backfill reservations for big
// jobs, DRF ordering between teams, static-layout GPUs.
//
// Size requests resolve per model to the smallest profile that holds them
// (Geometry::ResolveSize); an idle instance is reused only if it has exactly that profile.
//
// Thread-safety: not thread-safe; the server runs it on its own strand, the simulator on its loop.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "sched/model.h"
#include "sched/quota.h"
#include "sched/slot_index.h"

namespace gpuslice::sched {

struct SchedulerOptions {
  std::int64_t warm_idle_ms = 15 * 60 * 1000;  // idle instances older than this are destroyed
  // kBestScore: SlotIndex::Best (gpuslice). kFirstFit: SlotIndex::FirstFit, the HAMi/DRA-like
  // baseline the simulator compares against (use it with warm_idle_ms = 0: no warm pool).
  enum class Placement { kBestScore, kFirstFit };
  Placement placement = Placement::kBestScore;
};

// Compute slices a whole GPU counts for: all of a MIG GPU's slices, or 1 for a GPU without MIG.
inline int WholeSlices(const mig::GpuModel& model) {
  return model.mig_capable ? model.compute_slices : 1;
}

class Scheduler {
 public:
  explicit Scheduler(QuotaTree quota, SchedulerOptions options = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Adds a node of `gpus` GPUs of one model. The model's catalog name becomes its quota class.
  // kStatic needs `layouts`, one per GPU: its instances are created idle here and are never
  // destroyed or expired. Errors: kInvalidArgument for 0 or more than 64 GPUs, kDynamic or
  // kStatic on a GPU without MIG, or a static layout that is missing or not legal.
  Result<NodeId> AddNode(std::string name, const mig::GpuModel& model, int gpus, GpuMode mode,
                         const std::vector<mig::Layout>& layouts = {});

  // Queues a job (its id, state, bindings and pending fields are assigned here). Errors:
  // kNotFound for an unknown team, kInvalidArgument for a count outside 1..64. A job no GPU model
  // can host is accepted and stays pending as unschedulable, with the reason.
  Result<JobId> Submit(Job job);
  // A running job ends: its slices become idle (warm) and its quota is released.
  Result<void> Finish(JobId id, std::int64_t now_ms);
  // A pending job leaves the queue, or a running one ends as Finish does.
  Result<void> Cancel(JobId id, std::int64_t now_ms);

  // One scheduling pass at `now_ms`; returns the decisions in the order they must be applied.
  std::vector<Decision> Schedule(std::int64_t now_ms);

  const Job* FindJob(JobId id) const;
  const Gpu& gpu(GpuRef ref) const { return gpus_[ref]; }
  std::size_t num_gpus() const { return gpus_.size(); }
  const Node& node(NodeId id) const { return nodes_[id.value() - 1]; }
  std::size_t num_pending() const { return pending_.size(); }
  const QuotaTree& quota() const { return quota_; }

  // Compute slices held by instances (busy or idle) and by whole GPUs, and the total; the
  // simulator's allocation ratio is busy / total.
  struct Usage {
    std::int64_t busy_slices = 0;
    std::int64_t idle_slices = 0;
    std::int64_t total_slices = 0;
    std::int64_t instances_created = 0;
    std::int64_t instances_destroyed = 0;
  };
  const Usage& usage() const { return usage_; }

 private:
  struct ModelState;
  struct PassCache;
  struct Tentative;

  ModelState& ModelFor(const mig::GpuModel& model);
  int ProfileFor(const Job& job, const ModelState& m) const;
  void Resolve(Job& job);
  bool TryPlace(Job& job, std::int64_t now_ms, PassCache& cache, std::vector<Decision>& out);
  bool PlaceOn(Job& job, ModelState& m, int profile, std::int64_t now_ms, Tentative& t);
  bool PlaceOneSlice(ModelState& m, int profile, const std::vector<GpuRef>* only, std::int64_t now_ms,
                     Tentative& t);
  bool PlaceWhole(ModelState& m, const std::vector<GpuRef>* only, Tentative& t);
  void Rollback(Tentative& t);
  void ReleaseJob(Job& job, std::int64_t now_ms);
  std::string UnschedulableReason(const Job& job) const;
  std::string NoSlotReason(const Job& job, const ModelState& m, int profile) const;
  void ExpireIdle(std::int64_t now_ms, std::vector<Decision>& out);

  InstanceId CreateInstance(GpuRef gpu, mig::Placement p, std::int64_t now_ms);
  void AddIdleInstance(GpuRef gpu, const Instance& inst);
  void FreeWhole(GpuRef gpu);  // a whole-mode GPU's job ended
  void DestroyInstance(GpuRef gpu, InstanceId id);
  void SetBusy(GpuRef gpu, InstanceId id, JobId job);
  void SetIdle(GpuRef gpu, InstanceId id, std::int64_t now_ms);
  void Reindex(GpuRef gpu);

  QuotaTree quota_;
  SchedulerOptions options_;
  std::vector<Node> nodes_;
  std::vector<Gpu> gpus_;
  std::vector<std::unique_ptr<ModelState>> models_;
  std::vector<int> model_of_gpu_;  // GpuRef -> index into models_
  std::unordered_map<std::uint64_t, Job> jobs_;
  // Pending jobs in pass order: (-priority, submit_ms, id).
  std::set<std::tuple<int, std::int64_t, std::uint64_t>> pending_;
  std::uint64_t next_job_ = 1;
  std::uint64_t next_instance_ = 1;
  Usage usage_;
};

}  // namespace gpuslice::sched
