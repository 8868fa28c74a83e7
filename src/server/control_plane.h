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
// keep growing across server restarts. A job on whole GPUs (whole mode) is a workload bound
// to their indices (gpu_indices); its agent starts it once the GPUs' MIG mode is off.
//
// Thread-safety: every method may be called from any thread; one mutex serialises them (the
// scheduler is single-threaded by design). Store writes happen under it — so the order of
// durable writes is the order of changes — except a submit's, which needs no order (its id is
// taken under the lock) and is written outside it so that concurrent submits share one group
// commit.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/admin_api.h"
#include "api/job_api.h"
#include "api/node_state.h"
#include "common/clock.h"
#include "common/error.h"
#include "mig/layout.h"
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

// Something that happened in the cluster, as /v1/events streams it. Kept in memory (the last
// kKeptEvents), numbered by `seq`, which grows across restarts like generations do.
//   job-submitted, job-started, job-preempted, job-requeued, job-ended (data.phase: succeeded,
//   failed, cancelled), node-registered, node-lost, node-mode (cordon, drain, uncordon)
struct Event {
  std::uint64_t seq = 0;
  std::int64_t time_ms = 0;
  std::string type;
  std::string team;  // a job's team; empty for cluster events (nodes)
  nlohmann::ordered_json data;
};
nlohmann::ordered_json ToJson(const Event& e);

// A node as `gpuslice node ls` and `top` show it: every GPU's mode and MIG instances, what the
// agent last said about them.
struct InstanceView {
  std::string profile;
  int start = 0;
  std::optional<std::uint64_t> job;  // nullopt: idle (warm, kept for the next job that fits)
  std::optional<bool> busy;          // the agent's last word: processes run on it
  // The agent's last usage sample of it (api::ActualInstance), where it sent one.
  std::optional<int> processes;
  std::optional<std::int64_t> memory_used_mib, memory_total_mib;
  std::optional<int> activity_percent;
};
struct GpuView {
  int index = 0;
  std::string mode;       // dynamic, static, whole, cordoned, draining
  std::string base_mode;  // what an uncordon returns to
  std::vector<InstanceView> instances;
  std::optional<std::uint64_t> whole_job;  // whole mode: the job holding the GPU
  std::string health;                      // from the agent: ok, degraded, lost (empty: no report yet)
};
struct NodeView {
  NodeSpec spec;
  std::uint64_t generation = 0;          // of its desired state
  std::uint64_t generation_applied = 0;  // the agent's last report
  std::int64_t last_seen_ms = 0;
  std::vector<GpuView> gpus;
};
nlohmann::ordered_json ToJson(const NodeView& node);

// A team or cohort of the quota tree, with its quota and usage per GPU class, in milli-GPU.
struct TeamView {
  std::string name;
  bool team = true;    // false: a cohort
  std::string parent;  // empty: a root
  std::int64_t weight = 1;
  struct Class {
    std::string gpu_class;
    std::int64_t quota = 0;    // what the node's subtree holds (a team: its nominal quota)
    std::int64_t nominal = 0;  // the node's own entry
    std::int64_t usage = 0, available = 0;
    std::optional<std::int64_t> borrowing_limit, lending_limit;
    bool borrowing = false;
  };
  std::vector<Class> classes;
  int running = 0, pending = 0;  // jobs (teams only)
};
nlohmann::ordered_json ToJson(const TeamView& team);

enum class NodeAction { kCordon, kDrain, kUncordon };
Result<NodeAction> ParseNodeAction(std::string_view text);  // cordon, drain, uncordon

// What happens to the jobs of a node declared lost: back to the queue (they start again from
// scratch elsewhere), or failed (for work that must not run twice).
enum class LostNodeJobs { kRequeue, kFail };

struct ControlOptions {
  std::vector<sched::QuotaNodeSpec> teams;  // the quota tree (from the server's config)
  sched::SchedulerOptions scheduler;
  LostNodeJobs lost_node_jobs = LostNodeJobs::kRequeue;
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
  // Without `reasons`, pending jobs' reason fields stay empty (no Scheduler::Why per job: the
  // metrics need phases and times only).
  std::vector<JobView> List(const std::optional<std::string>& team = std::nullopt, bool reasons = true) const;

  // Adds a node (or confirms one registered before with the same GPUs). kInvalidArgument for an
  // unknown model or a GPU count of 0 or over 64; kAlreadyExists for the same name with other GPUs.
  Result<void> RegisterNode(const NodeSpec& node);
  std::vector<NodeSpec> Nodes() const;                       // by name
  std::vector<NodeView> NodeViews() const;                   // by name
  Result<NodeView> NodeViewOf(std::string_view node) const;  // kNotFound

  // Cordon (no new work), drain (no new work, idle instances destroyed now, running jobs finish)
  // or uncordon a node's GPUs — all of them, or the one with index `gpu`. Durable before it
  // returns, and kept across restarts and an agent's re-registration. Errors: kNotFound (node,
  // GPU), kUnavailable (the store).
  Result<NodeView> SetNodeMode(std::string_view node, std::optional<int> gpu, NodeAction action);

  // Sets how a GPU is used: "dynamic" (MIG slices cut on demand) or "whole" (MIG off, one job
  // takes the GPU). Its idle slices are destroyed first; a GPU running a job is refused
  // (kFailedPrecondition: drain it first). Durable and kept across restarts, like cordons.
  // gpuslice changes the scheduler's view only: on MIG-capable hardware an admin switches MIG
  // mode itself (the agent reports a whole-GPU job blocked until MIG is off). Errors: kNotFound
  // (node, GPU), kInvalidArgument (an unknown mode, dynamic on a GPU without MIG),
  // kFailedPrecondition, kUnavailable (the store).
  Result<NodeView> SetGpuMode(std::string_view node, int gpu, std::string_view mode);

  // mig-parted configs (docs/api.md, "Layouts"). PlanLayout expands config `config` of `yaml`
  // for the node's GPUs (mig::PlanConfig) and says what each GPU would become: a static layout
  // (MIG on: jobs bind to exactly these instances), whole (MIG off), or unchanged (no entry
  // applies). ApplyLayout also makes it so — durably, kept across restarts — when every GPU it
  // changes runs no job (else kFailedPrecondition naming them); MIG hardware modes are still the
  // admin's (see SetGpuMode). AssertLayout compares the plan with the instances the node's agent
  // last reported. Errors: kNotFound (node, config), kInvalidArgument (the YAML, a compute-
  // instance prefix, which gpuslice does not split), and PlanConfig's.
  struct GpuLayoutPlan {
    int gpu = 0;
    bool matched = false;  // an entry of the config applies
    bool mig_enabled = false;
    std::vector<std::string> layout;  // "profile@start", the order of mig::Layout
    std::string change;               // "static", "whole" or "none"
    std::string actual;               // AssertLayout: "ok", or what the agent reports instead
  };
  Result<std::vector<GpuLayoutPlan>> PlanLayout(std::string_view node, std::string_view yaml,
                                                std::string_view config) const;
  Result<std::vector<GpuLayoutPlan>> ApplyLayout(std::string_view node, std::string_view yaml,
                                                 std::string_view config);
  Result<std::vector<GpuLayoutPlan>> AssertLayout(std::string_view node, std::string_view yaml,
                                                  std::string_view config) const;
  // Every node's current layout as one mig-parted config per node (named after it), in YAML:
  // what `nvidia-mig-parted apply` needs to reproduce the cluster's instances.
  std::string ExportLayouts() const;

  std::vector<TeamView> Teams() const;  // the quota tree in name order
  // Adds a team or cohort, or changes one (api::TeamRequest: what is not given stays as it is).
  // Durable before it returns and kept across restarts (a stored definition wins over the
  // server's --team flags). Running jobs keep running; a lowered quota applies to what starts
  // next (and to preemption). Errors: kInvalidArgument (a bad name, a team turned into a cohort
  // or back, a team as parent, a cycle), kNotFound (an unknown parent or GPU class),
  // kUnavailable (the store).
  Result<TeamView> SetTeam(std::string_view name, const api::TeamRequest& request);

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

  // Events: `sink` gets the kept events past `after` at once, then every new one, in order, on
  // the thread that caused it, under the lock (it must only enqueue; it must not call back into
  // the ControlPlane). A sink that returns false is dropped. Returns an id for Unsubscribe.
  static constexpr std::size_t kKeptEvents = 4096;
  using EventSink = std::function<bool(const Event&)>;
  std::uint64_t Subscribe(std::uint64_t after, EventSink sink);
  void Unsubscribe(std::uint64_t subscription);

  // Node liveness. An agent's long poll and reports mark its node seen; ExpireNodes removes the
  // nodes not seen for `grace`: their jobs go back to the queue or fail (ControlOptions::
  // lost_node_jobs), durably, and the node is forgotten. An agent that comes back must register
  // again and gets an empty desired state first, so it stops whatever it still runs (fencing)
  // before it gets new work. Returns the nodes it removed.
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
  NodeView NodeViewLocked(const NodeSpec& spec) const;
  std::vector<TeamView> TeamsLocked() const;
  sched::QuotaNodeSpec TeamSpecLocked(sched::QuotaNodeId node) const;
  // What an admin set on a node's GPUs: base modes (SetGpuMode), static layouts (ApplyLayout),
  // cordons and drains (SetNodeMode). Kept in the node's record and applied again whenever the
  // node is added (a restart, a lost node registering again).
  struct NodeSettings {
    std::map<int, sched::GpuMode> modes;
    std::map<int, mig::Layout> layouts;
    std::map<int, sched::GpuMode> held;
  };
  std::string NodeRecordLocked(const std::string& node, const NodeSettings& settings) const;
  // Writes the node's record with `next` and an event (kind "node-mode", `event` as its data);
  // once durable, `next` becomes the node's settings. The scheduler is the caller's to change.
  // Makes `mode` the GPU's base mode as an admin's switch does: a dynamic GPU's idle slices are
  // destroyed first (true when any were), and a cordon or drain stays. The caller checked that no
  // job runs on it. Requires mu_.
  Result<bool> SwitchBaseModeLocked(sched::GpuRef ref, sched::GpuMode mode);
  Result<void> CommitSettingsLocked(const std::string& node, NodeSettings next,
                                    const nlohmann::ordered_json& event);
  void ApplySettingsLocked(const std::string& node);
  Result<std::vector<GpuLayoutPlan>> PlanLayoutLocked(
      std::string_view node, std::string_view yaml, std::string_view config,
      std::map<int, std::optional<mig::Layout>>* layouts) const;
  void EmitLocked(std::string type, std::string team, nlohmann::ordered_json data);
  void EmitJobLocked(std::string type, const JobView& v);

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
  std::map<std::string, NodeSettings, std::less<>> settings_;
  std::map<std::string, api::ActualNodeState, std::less<>> actual_;  // last reports
  std::uint64_t next_job_id_ = 1;
  std::uint64_t first_generation_ = 1;
  std::function<void(const std::string&, std::uint64_t)> on_change_;
  LostNodeJobs lost_node_jobs_ = LostNodeJobs::kRequeue;
  std::deque<Event> events_;
  std::uint64_t next_event_seq_ = 1;
  std::map<std::uint64_t, EventSink> sinks_;
  std::uint64_t next_sink_ = 1;
};

}  // namespace gpuslice::server
