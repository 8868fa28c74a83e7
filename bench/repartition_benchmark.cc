// Repartition-planning benchmarks (DESIGN.md §8: full repartition plan, 6,212-GPU cluster,
// < 100 ms). Run: ./build/bench/repartition_benchmark
//
// The fleet: 6,212 A100-SXM4-80GB GPUs, each filled with random legal instances until nothing
// more fits (a random profile at a random free start each step), each instance busy with the
// probability given as the benchmark's argument (percent). Seeded: the same fleet every run.
// Targets: the GPU Operator's `all-balanced` config from examples/mig-parted (explicit starts,
// via PlanConfig), and the same profiles as a mix whose starts the planner chooses. Setup is
// outside the timed loop; one iteration is one PlanFleet over the whole fleet.
#include <benchmark/benchmark.h>

#include <bit>
#include <string>
#include <vector>

#include "common/read_file.h"
#include "common/rng.h"
#include "mig/catalog.h"
#include "mig/mig_parted.h"
#include "sched/repartition.h"

namespace gpuslice::sched {
namespace {

constexpr int kFleetGpus = 6212;
constexpr std::uint64_t kSeed = 20261124;
constexpr const char* kGpuName = "A100-SXM4-80GB";

// Fills one GPU with random legal instances until none fits; ~busy_percent% of them busy.
std::vector<GpuInstanceState> RandomGpu(const mig::Geometry& g, Rng& rng, int busy_percent) {
  std::vector<GpuInstanceState> out;
  mig::Occupancy occ;
  GpuInstanceKey id = 1;
  for (;;) {
    std::vector<mig::Placement> free;
    for (int q = 0; q < g.num_profiles(); ++q) {
      for (mig::UnitMask m = g.FreeStarts(occ, q); m != 0; m &= m - 1)
        free.push_back({q, std::countr_zero(m)});
    }
    if (free.empty()) return out;
    const mig::Placement p = free[static_cast<std::size_t>(rng.Uniform(0, std::ssize(free) - 1))];
    g.Add(occ, p);
    out.push_back({id++, p, rng.Chance(static_cast<std::uint64_t>(busy_percent), 100)});
  }
}

struct Fleet {
  mig::Geometry geometry;
  std::vector<std::vector<GpuInstanceState>> actual;
  RepartitionTarget balanced;  // explicit layout from all-balanced
  RepartitionTarget mix;       // the same profiles, starts left to the planner
};

Result<mig::Layout> BalancedLayout(const mig::ResolvedGpu& gpu) {
  Result<std::string> text = ReadFile(
      std::string(GPUSLICE_SOURCE_DIR) + "/examples/mig-parted/gpu-operator-catalogue.yaml", 1 << 20);
  if (!text) return Fail(text.error());
  Result<mig::MigPartedConfig> config = mig::ParseMigPartedConfig(*text);
  if (!config) return Fail(config.error());
  const std::vector<mig::PlanGpu> gpus = {{0, gpu}};
  Result<std::vector<mig::GpuPlan>> plans = mig::PlanConfig(*config, "all-balanced", gpus);
  if (!plans) return Fail(plans.error());
  return plans->front().placements;
}

Result<Fleet> MakeFleet(int busy_percent) {
  Result<mig::ResolvedGpu> gpu = mig::Catalog::BuiltIn().Resolve(kGpuName);
  if (!gpu) return Fail(gpu.error());
  Result<mig::Geometry> geometry = mig::Geometry::Build(*gpu->model);
  if (!geometry) return Fail(geometry.error());
  Result<mig::Layout> balanced = BalancedLayout(*gpu);
  if (!balanced) return Fail(balanced.error());
  std::vector<int> profiles;
  for (const mig::Placement& p : *balanced) profiles.push_back(p.profile);
  Fleet fleet{
      std::move(*geometry), {}, RepartitionTarget::Explicit(*balanced), RepartitionTarget::Mix(profiles)};
  Rng rng(kSeed);
  fleet.actual.reserve(kFleetGpus);
  for (int i = 0; i < kFleetGpus; ++i) fleet.actual.push_back(RandomGpu(fleet.geometry, rng, busy_percent));
  return fleet;
}

void RunFleet(benchmark::State& state, bool mix) {
  Result<Fleet> fleet = MakeFleet(static_cast<int>(state.range(0)));
  if (!fleet) {
    state.SkipWithError(fleet.error().message.c_str());
    return;
  }
  const RepartitionTarget& target = mix ? fleet->mix : fleet->balanced;
  std::vector<GpuRepartitionInput> inputs;
  for (const std::vector<GpuInstanceState>& a : fleet->actual)
    inputs.push_back({&fleet->geometry, a, &target});
  FleetPlanResult last;
  for (auto _ : state) {
    last = PlanFleet(inputs);
    benchmark::DoNotOptimize(last);
  }
  state.counters["gpus"] = static_cast<double>(inputs.size());
  state.counters["creates"] = static_cast<double>(last.creates);
  state.counters["destroys"] = static_cast<double>(last.destroys);
  state.counters["kept"] = static_cast<double>(last.kept);
  state.counters["planned"] = last.planned;
  state.counters["unchanged"] = last.unchanged;
  state.counters["blocked"] = last.blocked;
  state.counters["errors"] = last.errors;
}

void BM_RepartitionFleetBalancedLayout(benchmark::State& state) {
  RunFleet(state, /*mix=*/false);
}
void BM_RepartitionFleetBalancedMix(benchmark::State& state) {
  RunFleet(state, /*mix=*/true);
}

// Argument: percent of instances that are busy.
BENCHMARK(BM_RepartitionFleetBalancedLayout)->Arg(50)->Arg(10)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RepartitionFleetBalancedMix)->Arg(50)->Arg(10)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gpuslice::sched

BENCHMARK_MAIN();
