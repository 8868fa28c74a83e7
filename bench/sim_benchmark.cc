// Simulator benchmarks (DESIGN.md §8): `gpuslice sim --mode arrival` on the Alibaba GPU trace
// v2023 default pod list over examples/clusters/alibaba-6212.yaml, one benchmark per policy. The
// target is under 1 s per run. Each iteration is one whole run (RunPolicy: scheduler built,
// jobs drawn until the demand reaches the cluster, seed 1); loading the trace is outside the
// timing. Skipped with an error when the trace (../shared/alibaba-gpu-v2023 beside the source
// tree, as the trace tests find it) is absent.
// Run: ./build/bench/sim_benchmark
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "sim/cluster_spec.h"
#include "sim/simulator.h"
#include "sim/workload.h"

namespace gpuslice::sim {
namespace {

const std::string kSourceDir = GPUSLICE_SOURCE_DIR;
const std::string kClusterFile = kSourceDir + "/examples/clusters/alibaba-6212.yaml";
const std::string kPodList = kSourceDir + "/../shared/alibaba-gpu-v2023/csv/openb_pod_list_default.csv";

struct Input {
  ClusterSpec cluster;
  std::vector<JobSpec> jobs;
};

Result<Input> Load() {
  Result<ClusterSpec> cluster = ReadClusterSpecFile(kClusterFile);
  if (!cluster) return Fail(cluster.error());
  Result<std::vector<JobSpec>> jobs = LoadWorkload("alibaba:" + kPodList, *cluster, MapMode::kByCompute, 1);
  if (!jobs) return Fail(jobs.error());
  return Input{std::move(*cluster), std::move(*jobs)};
}

void BM_ArrivalAlibabaDefault(benchmark::State& state, const std::string& policy_name) {
  static const Result<Input> input = Load();
  if (!input) {
    state.SkipWithError(("the Alibaba trace or cluster cannot be read: " + input.error().message).c_str());
    return;
  }
  const PolicySpec policy = ParsePolicy(policy_name).value();
  SimOptions options;
  options.mode = SimOptions::Mode::kArrival;
  options.seed = 1;
  double allocation = 0, placed = 0;
  for (auto _ : state) {
    Result<PolicyResult> r = RunPolicy(policy, input->cluster, input->jobs, options);
    if (!r) {
      state.SkipWithError(r.error().message.c_str());
      return;
    }
    allocation = r->allocation_ratio;
    placed = static_cast<double>(r->jobs_placed);
  }
  state.counters["allocation"] = allocation;
  state.counters["jobs_placed"] = placed;
}
BENCHMARK_CAPTURE(BM_ArrivalAlibabaDefault, gpuslice, std::string("gpuslice"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ArrivalAlibabaDefault, first_fit, std::string("first-fit"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ArrivalAlibabaDefault, whole_gpu, std::string("whole-gpu"))
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gpuslice::sim

BENCHMARK_MAIN();
