// Scheduler: decides which job gets which MIG slice (DESIGN.md §4). Pure: no I/O, no clock, no
// threads; the caller passes `now` and applies the returned decisions.
//
// Queue order (scheduler_queue.cc): priority (high first), then the team's weighted dominant
// share (DRF, lower first, QuotaTree::Share), then submit time, then id. Pending jobs with the
// same shape — team, priority, request, gang, preemptible — wait in one group: if its head does
// not fit, none of them does, so a pass costs O(groups), not O(pending jobs).
//
// For the head of a group, quota and a concrete, legal placement are decided together:
//   for each GPU model that can host the request, cheapest slice first:
//     1. quota: the team's quota plus what its cohort can lend covers the slice's cost (QuotaTree);
//        a job that is not preemptible must fit within its team's nominal quota (no borrowing);
//     2. an idle instance of the resolved profile on a GPU of that model (reuse, no repartition);
//     3. else a new instance where SlotIndex says it destroys the fewest future options
//        (packing onto used GPUs first);
//     4. else destroy idle instances — never busy ones — on the GPU where the fewest must go to
//        make a legal slot;
//   5. else preemption (scheduler_preempt.cc): the fewest, lowest-priority, cheapest preemptible
//      victims that make both quota and a legal contiguous placement — reclaiming capacity other
//      teams borrowed (when the job stays within its nominal quota) or stopping lower-priority
//      work of its own team;
//   6. else pending with a reason; a job kept waiting for a slot longer than `reserve_after_ms`
//      reserves GPUs (backfill reservation): smaller jobs no longer take space there, so the
//      region drains and the big job gets it.
// A gang (count > 1) gets all its slices or none; `same_node` gangs are placed node by node.
// Idle instances stay warm for `warm_idle_ms` so a job of the same shape starts without
// repartitioning; past that they are destroyed unless their shape is in demand (as many are kept
// as were placed in the last warm window); any idle instance is destroyed when another shape
// needs the space.
//
// Size requests resolve per model to the smallest profile that holds them
// (Geometry::ResolveSize); an idle instance is reused only if it has exactly that profile.
//
// Thread-safety: not thread-safe; the server runs it on its own strand, the simulator on its loop.
#pragma once

#include <map>
#include <memory>
#include <optional>
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
  // Keep idle instances past warm_idle_ms for shapes placed recently (false: time only).
  bool demand_warm = true;
  bool preemption = true;
  // A job waiting this long for a slot (not for quota) reserves GPUs; at most max_reservations
  // jobs hold reservations at once. max_reservations = 0 turns backfill reservations off.
  std::int64_t reserve_after_ms = 10 * 60 * 1000;
  int max_reservations = 4;
};

// GPUs held for a waiting job: other jobs do not create or reuse instances on them.
struct Reservation {
  JobId job;
  std::vector<GpuRef> gpus;
  std::int64_t since_ms = 0;
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
  // Re-creates a job that is already running (after a server restart, from the store and the
  // agents' reports): its slices at `slices` — one per gang member: a GPU and, for a MIG GPU, the
  // placement of its instance — are created busy and bound, and its quota is charged without a
  // fit check (it was admitted before). On a static GPU the job takes the idle layout instance
  // at its placement (the layout was applied first). Nothing changes on error: kNotFound (unknown team),
  // kInvalidArgument (wrong number of slices, a GPU or placement that does not exist or is not
  // free, a whole GPU that is taken).
  struct RestoredSlice {
    GpuRef gpu = 0;
    std::optional<mig::Placement> placement;  // nullopt: the whole GPU (whole mode)
  };
  Result<JobId> Restore(Job job, const std::vector<RestoredSlice>& slices, std::int64_t now_ms);
  // A running job ends: its slices become idle (warm) and its quota is released.
  Result<void> Finish(JobId id, std::int64_t now_ms);
  // A pending job leaves the queue, or a running one ends as Finish does.
  Result<void> Cancel(JobId id, std::int64_t now_ms);

  // One scheduling pass at `now_ms`; returns the decisions in the order they must be applied.
  std::vector<Decision> Schedule(std::int64_t now_ms);

  // Changes a GPU's mode. kCordoned/kDraining stop new work on it (running work stays;
  // draining also destroys a dynamic GPU's idle instances at once); back to the mode it had
  // before uncordons it. A switch of kind leaves the GPU in the new mode, uncordoned (callers
  // that keep a cordon re-apply it; SetStaticLayout keeps it instead): between dynamic and
  // whole it needs a GPU with no instances and no job; from static to dynamic or whole, a GPU
  // with no job, and the layout's idle instances are destroyed (as SetStaticLayout(nullopt)
  // does for dynamic). kStatic is set with a layout (AddNode, SetStaticLayout), never here.
  // Returns the decisions (destroyed idle instances). Errors: kNotFound, kInvalidArgument (a
  // mode this GPU cannot have), kFailedPrecondition (removed node, instances or jobs in the way).
  Result<std::vector<Decision>> SetGpuMode(GpuRef gpu, GpuMode mode, std::int64_t now_ms);
  // Gives a MIG GPU a fixed layout (mig-parted style): its idle instances are destroyed, the
  // layout's instances are created idle, and from then on jobs only bind to them (base mode
  // kStatic; they are never destroyed or expired). With nullopt a static GPU goes back to
  // dynamic (its idle instances destroyed). A cordon or drain on the GPU stays in force.
  // Errors (nothing changes): kNotFound (no such GPU), kInvalidArgument (a GPU without MIG, or a
  // layout that is not legal on its geometry — the message says why), kFailedPrecondition (a
  // job runs on it: whole or on an instance). Returns the decisions: destroyed instances, then
  // created ones (kCreateInstance with the placement), so the caller can tell the agent.
  //
  // The GPU ends exactly as AddNode would have built it with that mode and layout (for nullopt,
  // a fresh dynamic GPU), but for the cordon or drain and the instances' new ids. A MIG GPU in
  // whole mode may get either, when no job holds it. No-ops (no decisions, even with jobs
  // running): nullopt on a dynamic GPU, and a static GPU given the placements it already has
  // (in any order). A backfill reservation holding the GPU is dropped, as a cordon drops it.
  // kFailedPrecondition also for a GPU whose node was removed.
  Result<std::vector<Decision>> SetStaticLayout(GpuRef gpu, std::optional<mig::Layout> layout,
                                                std::int64_t now_ms);
  // The node is gone (lost or removed): its running jobs are requeued (returned), its GPUs
  // leave the pool and their instances are forgotten. kNotFound; kFailedPrecondition if removed.
  Result<std::vector<JobId>> RemoveNode(NodeId id, std::int64_t now_ms);
  bool node_removed(NodeId id) const { return removed_nodes_.contains(id.value()); }

  // Why a job is not running right now, with detail computed on demand: for no-legal-slot, the
  // best near-miss (the GPU where the fewest running instances stand in the way).
  Pending Why(JobId id) const;

  const Job* FindJob(JobId id) const;
  // Running and finished/cancelled jobs, by id (for tests and the server's listings).
  template <typename F>
  void ForEachJob(F&& f) const {
    for (const auto& [id, job] : jobs_) f(job);
  }
  const std::vector<Reservation>& reservations() const { return reservations_; }
  const Gpu& gpu(GpuRef ref) const { return gpus_[ref]; }
  std::size_t num_gpus() const { return gpus_.size(); }
  std::size_t num_nodes() const { return nodes_.size(); }  // NodeIds are 1..num_nodes()
  const Node& node(NodeId id) const { return nodes_[id.value() - 1]; }
  std::size_t num_pending() const { return num_pending_; }
  const QuotaTree& quota() const { return quota_; }
  // Adds a team or cohort to the quota tree, or changes one: its parent (spec.parent; "" a root),
  // weight and the quota entries in spec.quotas (class names are interned; classes not named
  // keep their entries). All or nothing: the change is made on a copy and kept only if every
  // step succeeds. Running work stays admitted; a cut may leave a team over its quota until work
  // ends, and the next pass sees the new numbers. With dry_run nothing changes. Errors:
  // kInvalidArgument (a team turned into a cohort or back, a team as parent, a cycle, a bad
  // amount or weight), kNotFound (an unknown parent).
  Result<void> UpsertQuotaNode(const QuotaNodeSpec& spec, bool dry_run = false);

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

  // Checks that the scheduler's derived indexes agree with its GPUs, instances and reservations
  // (slot index, free whole GPUs, idle sets, per-model mode counters, usage); the error names
  // the first disagreement. For tests: O(GPUs + instances). scheduler_check.cc.
  Result<void> CheckIndexesForTest() const;

 private:
  struct ModelState;
  struct PassCache;
  struct Tentative;
  struct Group;
  struct Victim;

  ModelState& ModelFor(const mig::GpuModel& model);
  int ProfileFor(const Job& job, const ModelState& m) const;
  void Resolve(Job& job);
  bool TryPlace(Job& job, std::int64_t now_ms, PassCache& cache, std::vector<Decision>& out);
  void Commit(Job& job, const QuotaRequest& request, Tentative& t, std::int64_t now_ms,
              std::vector<Decision>& out);
  // Preemption (scheduler_preempt.cc).
  bool TryPreempt(Job& job, ModelState& m, int profile, MilliGpu cost, std::int64_t now_ms, PassCache& cache,
                  Tentative& t);
  std::vector<Victim> VictimCandidates(const Job& job, const ModelState& m, MilliGpu cost) const;
  bool EvictForQuota(const Job& job, const QuotaRequest& request, const std::vector<Victim>& candidates,
                     const ModelState& m, Tentative& t);
  struct CandidateIndex;
  CandidateIndex IndexCandidates(const std::vector<Victim>& candidates, const ModelState& m) const;
  std::optional<std::pair<GpuRef, std::vector<JobId>>> GeometryVictims(
      const Job& job, int profile, const CandidateIndex& candidates,
      const std::vector<GpuRef>* only = nullptr) const;
  void GpusOf(const Node& node, const ModelState& m,
              std::vector<GpuRef>& out) const;  // the node's GPUs of `m`
  bool PreemptSlices(Job& job, ModelState& m, int profile, const CandidateIndex& candidates,
                     const std::vector<GpuRef>* only, std::int64_t now_ms, Tentative& t);
  bool PreemptOnOneNode(Job& job, ModelState& m, int profile, const CandidateIndex& candidates,
                        PassCache& cache, std::int64_t now_ms, Tentative& t);
  bool QuotaFits(const Job& job, const QuotaRequest& request) const;
  void Evict(JobId victim, Tentative& t);
  void Unevict(Tentative& t);
  // Queue (scheduler_queue.cc).
  std::string ShapeKey(const Job& job) const;
  void Enqueue(Job& job);
  void Dequeue(const Job& job);
  // Reservations (scheduler_reserve.cc).
  bool ReservedForOther(GpuRef gpu, JobId job) const;
  std::optional<std::int64_t> ReadyAt(const Reservation& r) const;
  bool BackfillReserved(Job& job, ModelState& m, int profile, std::int64_t now_ms, Tentative& t);
  const Reservation* ReservationOf(JobId job) const;  // nullptr when it holds none
  void MaybeReserve(Job& job, ModelState& m, int profile, std::int64_t now_ms);
  void DropReservation(JobId job);
  std::optional<Pending> ReservedReason(const Job& job, const ModelState& m, int profile) const;
  std::string NearMiss(const Job& job, const ModelState& m, int profile) const;
  bool PlaceOn(Job& job, ModelState& m, int profile, std::int64_t now_ms, Tentative& t);
  // One slice of `job`: a whole GPU or an instance of `profile`, on `only` GPUs when given.
  bool PlaceSlice(const Job& job, ModelState& m, int profile, const std::vector<GpuRef>* only,
                  std::int64_t now_ms, Tentative& t);
  bool PlaceOneSlice(ModelState& m, int profile, const std::vector<GpuRef>* only, std::int64_t now_ms,
                     Tentative& t);
  bool PlaceWhole(ModelState& m, const std::vector<GpuRef>* only, Tentative& t);
  bool WholeFreeFor(const ModelState& m, GpuRef ref, JobId job) const;  // a kWhole GPU `job` may take
  int FreeWholeGpus(const ModelState& m, const std::vector<GpuRef>& gpus, JobId job) const;
  void Rollback(Tentative& t);
  void ReleaseJob(Job& job, std::int64_t now_ms);
  std::string UnschedulableReason(const Job& job) const;
  std::string NoSlotReason(const Job& job, const ModelState& m, int profile) const;
  void ExpireIdle(std::int64_t now_ms, std::vector<Decision>& out);
  void NoteDemand(ModelState& m, int profile, std::int64_t now_ms);
  void UnindexGpu(GpuRef gpu);  // out of the pool for new work (cordon, drain, reservation)
  void IndexGpu(GpuRef gpu);    // back in
  // Makes `base` the GPU's base mode (scheduler_cluster.cc); the caller checked it is allowed.
  void Rebase(GpuRef gpu, GpuMode base, const mig::Layout* layout, bool keep_hold, std::int64_t now_ms,
              std::vector<Decision>& out);

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
  JobId backfill_holder_;  // while BackfillReserved tries this job's reservation, its GPUs are open
  std::vector<Gpu> gpus_;
  std::vector<std::unique_ptr<ModelState>> models_;
  std::vector<int> model_of_gpu_;  // GpuRef -> index into models_
  std::unordered_map<std::uint64_t, Job> jobs_;
  // Pending jobs, grouped by shape (scheduler_queue.cc).
  std::vector<Group> groups_;
  std::unordered_map<std::string, std::uint32_t> group_of_shape_;
  std::unordered_map<std::uint64_t, std::uint32_t> group_of_job_;
  std::size_t num_pending_ = 0;
  // Running preemptible jobs per team: (priority, -start_ms, id), lowest priority and newest first.
  std::map<std::uint64_t, std::set<std::tuple<int, std::int64_t, std::uint64_t>>> preemptible_;
  std::vector<Reservation> reservations_;
  std::set<std::uint64_t> removed_nodes_;
  std::uint64_t next_job_ = 1;
  std::uint64_t next_instance_ = 1;
  Usage usage_;
};

}  // namespace gpuslice::sched
