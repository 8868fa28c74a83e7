// Node-agent benchmarks (DESIGN.md §8), on the sim backend:
//  * BM_ReconcileConverged: one Reconciler pass over 8 GPUs x 7 instances that already match the
//    desired state (target < 1 ms CPU per pass);
//  * BM_DesiredToWorkloadStarted: a desired state with a new instance and a workload arrives ->
//    the instance is created and the workload process has exec'd (target < 50 ms).
// Run: ./build/bench/agent_benchmark
#include <benchmark/benchmark.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "agent/reconciler.h"
#include "agent/supervisor.h"
#include "common/clock.h"
#include "gpu/sim_backend.h"

namespace gpuslice::agent {
namespace {

// A sim node (in memory), a supervisor in a temp dir, and a reconciler over them.
struct Node {
  explicit Node(const std::string& spec) {
    char tmpl[] = "/tmp/gpuslice-agent-bench-XXXXXX";
    dir = ::mkdtemp(tmpl);
    backend = std::move(*gpu::SimBackend::Open({.gpus = spec}));
    sup = std::move(*Supervisor::Open({.state_dir = dir + "/state", .log_dir = dir + "/logs"}, clock));
    rec = std::make_unique<Reconciler>(*backend, *sup, clock, ReconcilerOptions{});
  }
  ~Node() {
    rec.reset();
    sup.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string dir;
  RealClock clock;
  std::unique_ptr<gpu::SimBackend> backend;
  std::unique_ptr<Supervisor> sup;
  std::unique_ptr<Reconciler> rec;
};

void BM_ReconcileConverged(benchmark::State& state) {
  constexpr int kGpus = 8, kPerGpu = 7;
  Node node("A100-SXM4-80GB:8");
  api::DesiredNodeState desired{.node = "n1", .generation = 1};
  for (int g = 0; g < kGpus; ++g) {
    for (int s = 0; s < kPerGpu; ++s) {
      desired.instances.push_back({g, "1g.10gb", s, "k-" + std::to_string(g) + "-" + std::to_string(s)});
    }
  }
  if (!node.rec->Reconcile(desired).converged) state.SkipWithError("first pass did not converge");
  for (auto _ : state) {
    ReconcileReport r = node.rec->Reconcile(desired);
    if (!r.converged || r.created != 0) state.SkipWithError("not converged");
    benchmark::DoNotOptimize(r);
  }
  state.counters["instances"] = kGpus * kPerGpu;
}
BENCHMARK(BM_ReconcileConverged)->Unit(benchmark::kMicrosecond);

void BM_DesiredToWorkloadStarted(benchmark::State& state) {
  Node node("A100-SXM4-80GB:1");
  const api::DesiredNodeState empty{.node = "n1", .generation = 0};
  std::uint64_t generation = 0;
  for (auto _ : state) {
    api::DesiredNodeState desired{.node = "n1", .generation = ++generation};
    desired.instances = {{0, "3g.40gb", 4, "k-bench"}};
    const std::string job = "bench-" + std::to_string(generation);
    desired.workloads = {
        {.job_id = job, .instance_keys = {"k-bench"}, .argv = {"sleep", "30"}, .grace_period_ms = 0}};
    ReconcileReport r = node.rec->Reconcile(desired);  // creates the instance, then starts the workload
    state.PauseTiming();
    if (r.started != 1 || r.created != 1) state.SkipWithError("workload not started");
    // Tear down outside the timing: kill the process, forget it, destroy the instance.
    if (auto s = node.sup->Get(job); s && s->pid) ::kill(-*s->pid, SIGKILL);
    for (int i = 0; i < 500 && node.sup->Get(job)->state == api::WorkloadState::kRunning; ++i) {
      (void)node.sup->Poll();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (int i = 0; i < 3 && !node.rec->Reconcile(empty).converged; ++i) {
    }
    state.ResumeTiming();
  }
}
BENCHMARK(BM_DesiredToWorkloadStarted)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace gpuslice::agent

BENCHMARK_MAIN();
