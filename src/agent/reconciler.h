// Reconciler: makes a node's GPUs and workloads match its desired state (DESIGN.md §5).
//
// Level-triggered: every Reconcile() pass reads the actual state afresh (instances from the
// GpuBackend, workloads from the Supervisor), compares it with the desired state and takes the
// steps that close the gap, in this order:
//   1. stop workloads that are no longer desired (Supervisor::Stop), and forget them
//      (Supervisor::Remove) once they have ended;
//   2. destroy instances that no desired instance matches, only when no process runs on them and
//      no supervised workload uses them; an instance with processes is reported as blocked and
//      left alone — the reconciler never destroys a busy instance and never clears a whole GPU;
//   3. create missing desired instances at exactly their placement (profile name -> device
//      profile id through GpuBackend::Geometry);
//   4. start desired workloads whose devices are usable and that the Supervisor does not know
//      yet (a running or re-adopted one is left alone; a finished one is reported, not
//      restarted: restarts are the Supervisor's restart policy). A MIG workload's devices are its
//      instances, which must all exist (CUDA_VISIBLE_DEVICES=MIG-<uuid>,...); a whole-GPU
//      workload's (api::DesiredWorkload::gpu_indices) are GPUs, which must exist, not be lost and
//      have MIG off as their current mode (CUDA_VISIBLE_DEVICES=GPU-<uuid>,...). One on a GPU
//      with MIG on is reported blocked ("GPU 1 has MIG enabled; a whole-GPU job needs it
//      disabled") and waits: MIG mode is never changed here.
// GPUs without MIG capability or with MIG off are only reported, never touched. A GPU that is lost
// (health kLost, or any call answering kGpuLost) is reported `lost`, gets no steps, and the
// workloads bound to it (to its instances, or to it whole) are reported failed.
//
// Instance identity. A desired instance is realised by the actual instance with the same
// (gpu index, profile name, start): on a MIG GPU no two instances share a start, so this triple
// names at most one instance, and it needs no local state that could be lost or go stale across
// agent restarts, driver reloads or GI id reuse. The key -> MIG UUID mapping is derived from it
// on every pass; an instance somebody else created at exactly the desired placement is adopted.
//
// Failures. A failed step (create, destroy, start, stop) is retried on later passes with
// exponential backoff on the injected Clock (initial, doubling, capped), keyed by the step; a step
// that succeeds clears its backoff. Every step taken, skipped or failed is logged through the
// log callback.
//
// Usage. Every instance in the report carries its process count (from the process list each pass
// reads anyway) and a usage sample: memory used/total and, where the backend measures it, SM
// activity — one GpuBackend::Usage call per instance. A sample is taken when the instance is new
// (or re-created: a new MIG UUID), when its process count changed, and otherwise once it is
// `usage_period` old; in between, reports repeat the last sample. So usage noise changes the
// report text at most once per usage_period, while what matters at once (an instance appears or
// goes, a process starts or ends) is reported by the next pass. It also keeps the driver calls of
// a converged pass to the instance and process lists. A Usage error for one instance
// leaves its memory and activity out, says why in `usage_message`, and fails nothing else (a lost
// GPU is marked lost, as for any call).
//
// Modes. `manage_mig = false` never creates or destroys instances (missing ones are reported
// blocked); `read_only = true` additionally never starts or stops workloads: the pass only
// reports.
//
// Ownership: borrows the backend, the supervisor and the clock, which must outlive it.
// Thread-safety: none; one agent loop calls it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/supervisor.h"
#include "api/node_state.h"
#include "common/clock.h"
#include "gpu/gpu_backend.h"

namespace gpuslice::agent {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
std::string_view LogLevelName(LogLevel level);  // "debug", "info", "warning", "error"
using LogFn = std::function<void(LogLevel, std::string_view)>;

struct ReconcilerOptions {
  bool manage_mig = true;  // create/destroy instances
  bool read_only = false;  // change nothing at all (implies !manage_mig)
  std::chrono::milliseconds backoff_initial{1'000};
  std::chrono::milliseconds backoff_max{60'000};
  // How old an instance's usage sample may get before a pass takes a new one (see "Usage"
  // above); 0: every pass.
  std::chrono::milliseconds usage_period{10'000};
  LogFn log;  // may be empty
};

// What one pass did, for the agent's log and for tests.
struct ReconcileReport {
  api::ActualNodeState actual;  // read after the pass's steps
  bool converged = false;       // nothing left to do (then generation_applied = the desired one)
  int created = 0, destroyed = 0, started = 0, stopped = 0, removed = 0;
  int failed = 0;                    // steps that failed this pass (they will be retried)
  int deferred = 0;                  // steps not tried because their backoff has not expired
  std::vector<std::string> blocked;  // why a step cannot be taken now ("GPU 0 instance 3: busy")
};

class Reconciler {
 public:
  Reconciler(gpu::GpuBackend& backend, Supervisor& supervisor, const Clock& clock, ReconcilerOptions options);

  // One pass towards `desired`. Never fails as a whole: per-step failures are in the report and
  // retried on later passes. The caller polls the Supervisor separately.
  ReconcileReport Reconcile(const api::DesiredNodeState& desired);

  // The actual state without taking any step (generation_applied as of the last converged pass).
  api::ActualNodeState Observe(const api::DesiredNodeState& desired);

  std::uint64_t generation_applied() const { return generation_applied_; }

 private:
  struct GpuView;
  struct Pass;
  struct Backoff {
    int failures = 0;
    Clock::MonoTime next;
  };
  // An instance's last usage sample, repeated by reports until it is due again.
  struct UsageSample {
    std::string mig_uuid;  // whose sample: a GI id is reused by a re-created instance
    int processes = 0;     // the process count it was taken with
    Clock::MonoTime taken;
    std::uint64_t reported = 0;  // the last report (usage_reports_) that listed the instance
    std::optional<std::int64_t> memory_used_mib, memory_total_mib;
    std::optional<int> activity_percent;
    std::string message;
  };

  void ReadGpus(Pass& pass);
  void ReadGpu(Pass& pass, GpuView& view);
  void StopUndesired(Pass& pass);
  void DestroyUnneeded(Pass& pass);
  void CreateMissing(Pass& pass);
  const gpu::GpuProfile* ResolveProfile(Pass& pass, GpuView& view, const api::DesiredInstance& want,
                                        const std::string& what);
  void StartWorkloads(Pass& pass);
  // The devices a desired workload runs on ("MIG-..." or "GPU-..." UUIDs), or why it cannot start
  // now (for the report's `blocked`).
  tl::expected<std::vector<std::string>, std::string> InstanceDevices(Pass& pass,
                                                                      const api::DesiredWorkload& w);
  tl::expected<std::vector<std::string>, std::string> WholeGpuDevices(Pass& pass,
                                                                      const api::DesiredWorkload& w);
  api::ActualNodeState BuildActual(Pass& pass);
  void ReportInstances(Pass& pass, GpuView& view, Clock::MonoTime now, api::ActualNodeState& a);
  // The usage of `in` for this report: the cached sample, or a new one when due.
  const UsageSample& SampleUsage(Pass& pass, GpuView& view, const gpu::Instance& in, int processes,
                                 Clock::MonoTime now);
  void AddWorkloads(Pass& pass, const std::map<int, std::string>& lost, api::ActualNodeState& a);

  // Backoff bookkeeping: Due() is false (and counts a deferral) while `step` waits to retry.
  bool Due(Pass& pass, const std::string& step);
  void Succeeded(const std::string& step);
  void Failed(Pass& pass, const std::string& step, std::string_view why);
  void MarkLost(Pass& pass, GpuView& view, std::string_view why);
  void Log(LogLevel level, std::string_view message) const;

  gpu::GpuBackend& backend_;
  Supervisor& supervisor_;
  const Clock& clock_;
  ReconcilerOptions options_;
  std::map<std::string, Backoff> backoff_;
  std::map<int, gpu::GpuGeometry> geometry_;          // per GPU index; geometry never changes
  std::set<std::string, std::less<>> stop_sent_;      // undesired workloads already told to stop
  std::map<std::pair<int, int>, UsageSample> usage_;  // (GPU index, GI id) -> last sample
  std::uint64_t usage_reports_ = 0;                   // reports built, to forget unlisted samples
  std::uint64_t generation_applied_ = 0;
};

}  // namespace gpuslice::agent
