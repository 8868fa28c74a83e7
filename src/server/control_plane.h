// ControlPlane: the server's state machine (DESIGN.md §6) — jobs, nodes and the scheduler, kept
// durable in a StateStore — without any HTTP. The HTTP handlers, the scheduler loop and the
// agents' long polls are thin layers over it.
//
// Durability: every change a caller is told about is in the store first. Submit and Cancel
// return after their batch is durable; Schedule writes the state of every job it moved (placed,
// preempted) before any agent can see the new desired state; Report writes the jobs it ended.
// The in-memory scheduler is rebuilt from the store on Open: running jobs at the placements
// they were running at (Scheduler::Restore, so nothing is started twice), pending ones queued
// again in id order, ended ones kept for listing.
//
// Desired state per node: the node's MIG instances (busy and warm idle) at exact placements and
// the workloads of the jobs running there, stamped with a generation that grows whenever the
// node's desired state changes. Generations start at the wall-clock millisecond of Open, so they
// keep growing across server restarts. (Jobs on whole GPUs have no workload in the desired
// state yet: the wire format has no whole-GPU binding.)
//
// Thread-safety: every method may be called from any thread; one mutex serialises them (the
// scheduler is single-threaded by design). Store writes happen under it — so the order of
// durable writes is the order of changes — except a submit's, which needs no order (its id is
// taken under the lock) and is written outside it so that concurrent submits share one group
// commit.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/job_api.h"
#include "api/node_state.h"
#include "common/clock.h"
#include "common/error.h"
#include "sched/scheduler.h"
#include "store/state_store.h"

namespace gpuslice::server {

enum class JobPhase { kPending, kRunning, kSucceeded, kFailed, kCancelled };
std::string_view JobPhaseName(JobPhase p);  // "pending", "running", "succeeded", "failed", "cancelled"

// Where one slice of a job runs.
struct SliceAt {
  std::string node;
  int gpu = 0;          // index on the node
  std::string profile;  // empty: the whole GPU
  int start = 0;
  friend bool operator==(const SliceAt&, const SliceAt&) = default;
};

// A job as the API shows it.
struct JobView {
  std::uint64_t id = 0;
  std::string name;
  std::string team;
  JobPhase phase = JobPhase::kPending;
  api::JobSubmit spec;          // as submitted, with the team filled in
  std::vector<SliceAt> slices;  // running: where
  std::string reason_kind;      // pending: quota, no-legal-slot, reserved, unschedulable, ...
  std::string reason;
  std::optional<int> exit_code;
  int preemptions = 0;
  std::int64_t submitted_ms = 0, started_ms = 0, ended_ms = 0;
};
nlohmann::ordered_json ToJson(const JobView& job);

// A node as its agent registers it: one catalog GPU model for all its GPUs.
struct NodeSpec {
  std::string name;
  std::string gpu_model;
  int gpus = 0;
};

struct ControlOptions {
  std::vector<sched::QuotaNodeSpec> teams;  // the quota tree (from the server's config)
  sched::SchedulerOptions scheduler;
};

class ControlPlane {
 public:
  // Loads nodes and jobs from `store` (which must outlive the ControlPlane). Errors: a quota tree
  // that does not build, unreadable records (kInternal, naming the record).
  static Result<std::unique_ptr<ControlPlane>> Open(store::StateStore& store, const Clock& clock,
                                                    ControlOptions options);

  // Queues a job; returns its id once durable. kNotFound for an unknown team, kInvalidArgument for
  // a bad request (ValidateJobSubmit), kUnavailable when the store cannot commit.
  Result<std::uint64_t> Submit(api::JobSubmit job);
  // Ends a pending or running job (its workload is dropped from its node's desired state).
  // kNotFound, kFailedPrecondition when it has ended already.
  Result<void> Cancel(std::uint64_t id);

  Result<JobView> Get(std::uint64_t id) const;  // kNotFound
  // Jobs by id; only `team`'s when given.
  std::vector<JobView> List(const std::optional<std::string>& team = std::nullopt) const;

  // Adds a node (or confirms one registered before with the same GPUs). kInvalidArgument for an
  // unknown model or a GPU count of 0 or over 64; kAlreadyExists for the same name with other GPUs.
  Result<void> RegisterNode(const NodeSpec& node);
  std::vector<NodeSpec> Nodes() const;  // by name

  // One scheduling pass; returns how many jobs it placed. Job changes are durable before return.
  Result<int> Schedule();

  // The node's desired state (kNotFound for an unknown node) and its generation.
  Result<api::DesiredNodeState> Desired(std::string_view node) const;
  // Called with (node, generation) whenever a node's desired state changes, under the lock:
  // it must not call back into the ControlPlane (wake a waiter, post to an executor).
  void OnDesiredChange(std::function<void(const std::string&, std::uint64_t)> callback);

  // An agent's report: workloads that ended end their jobs (exit 0: succeeded; else failed).
  // kNotFound for an unknown node. A report also counts as a sign of life (Seen).
  Result<void> Report(const api::ActualNodeState& actual);

  // Node liveness. An agent's long poll and reports mark its node seen; ExpireNodes removes the
  // nodes not seen for `grace`: their jobs go back to the queue (durably), and the node is
  // forgotten. An agent that comes back must register again and gets an empty desired state
  // first, so it stops whatever it still runs (fencing) before it gets new work. Returns the
  // nodes it removed.
  void Seen(std::string_view node);
  Result<std::vector<std::string>> ExpireNodes(std::chrono::milliseconds grace);

 private:
  struct JobEntry {
    JobView view;
    JobId sched;  // invalid once ended
  };
  ControlPlane(store::StateStore& store, const Clock& clock, sched::QuotaTree quota,
               sched::SchedulerOptions options);

  Result<void> Recover();
  Result<void> AddNodeLocked(const NodeSpec& node);
  Result<sched::Job> SchedJobLocked(const JobView& view) const;
  std::vector<SliceAt> SlicesLocked(const sched::Job& job) const;
  void RefreshReasonLocked(JobEntry& e) const;
  store::JobRecord RecordOf(const JobView& view) const;
  std::int64_t NowMs() const;
  void BumpLocked(const std::string& node);

  store::StateStore& store_;
  const Clock& clock_;
  mutable std::mutex mu_;
  // Guarded by mu_:
  std::unique_ptr<sched::Scheduler> scheduler_;
  std::map<std::uint64_t, JobEntry> jobs_;
  std::map<std::uint64_t, std::uint64_t> job_of_sched_;  // scheduler id -> job id
  std::map<std::string, NodeSpec, std::less<>> nodes_;
  std::map<std::string, NodeId, std::less<>> node_ids_;
  std::map<std::string, std::uint64_t, std::less<>> generation_;
  std::map<std::string, std::int64_t, std::less<>> last_seen_ms_;
  std::uint64_t next_job_id_ = 1;
  std::uint64_t first_generation_ = 1;
  std::function<void(const std::string&, std::uint64_t)> on_change_;
};

}  // namespace gpuslice::server
