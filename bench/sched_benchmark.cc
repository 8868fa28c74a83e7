// Scheduling-core benchmarks (DESIGN.md §8): placement decisions across a large fleet.
// Run: ./build/bench/sched_benchmark
#include <benchmark/benchmark.h>

#include <vector>

#include "common/rng.h"
#include "mig/catalog.h"
#include "sched/slot_index.h"

namespace gpuslice::sched {
namespace {

// 5,000 nodes x 8 A100-80GB GPUs. Each iteration is one placement decision for a light job
// (a random profile of 1 to 3 slices, as notebooks and inference services ask): find the best
// (GPU, start), then record the GPU's new occupancy. When nothing fits, the fleet is emptied
// (outside the timing) and filling starts again.
void BM_SlotIndexPlace(benchmark::State& state) {
  const mig::GpuModel& model = *mig::Catalog::BuiltIn().Resolve("A100-80GB").value().model;
  const mig::Geometry g = mig::Geometry::Build(model).value();
  const int gpus = static_cast<int>(state.range(0));
  const std::vector<int> light{g.model().ProfileIndex("1g.10gb"), g.model().ProfileIndex("1g.20gb"),
                               g.model().ProfileIndex("2g.20gb"), g.model().ProfileIndex("3g.40gb")};
  SlotIndex index(g);
  std::vector<mig::Occupancy> occ(static_cast<std::size_t>(gpus));
  auto reset = [&] {
    for (int i = 0; i < gpus; ++i) {
      occ[static_cast<std::size_t>(i)] = mig::Occupancy{};
      index.Upsert(static_cast<SlotIndex::GpuRef>(i), occ[static_cast<std::size_t>(i)]);
    }
  };
  reset();
  Rng rng(42);
  std::int64_t placed = 0;
  for (auto _ : state) {
    const int profile = light[static_cast<std::size_t>(rng.Uniform(0, 3))];
    std::optional<SlotIndex::Choice> c = index.Best(profile);
    if (!c) {
      state.PauseTiming();
      reset();
      state.ResumeTiming();
      continue;
    }
    mig::Occupancy& o = occ[c->gpu];
    g.Add(o, {profile, c->start});
    index.Upsert(c->gpu, o);
    ++placed;
  }
  state.counters["decisions/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["states"] = static_cast<double>(index.distinct_states());
  state.SetItemsProcessed(placed);
}
BENCHMARK(BM_SlotIndexPlace)->Arg(8)->Arg(40000);

// The same fleet under churn, which fragments it: each iteration either places a light job (as
// above) or finishes a random running instance, 50/50, after a warm-up that fills the fleet to
// about 70% of its slots. Every iteration is one decision plus one index update.
void BM_SlotIndexChurn(benchmark::State& state) {
  const mig::GpuModel& model = *mig::Catalog::BuiltIn().Resolve("A100-80GB").value().model;
  const mig::Geometry g = mig::Geometry::Build(model).value();
  const int gpus = static_cast<int>(state.range(0));
  const std::vector<int> light{g.model().ProfileIndex("1g.10gb"), g.model().ProfileIndex("1g.20gb"),
                               g.model().ProfileIndex("2g.20gb"), g.model().ProfileIndex("3g.40gb")};
  SlotIndex index(g);
  std::vector<mig::Occupancy> occ(static_cast<std::size_t>(gpus));
  std::vector<std::pair<SlotIndex::GpuRef, mig::Placement>> running;
  for (int i = 0; i < gpus; ++i)
    index.Upsert(static_cast<SlotIndex::GpuRef>(i), occ[static_cast<std::size_t>(i)]);
  Rng rng(7);
  auto place = [&] {
    const int profile = light[static_cast<std::size_t>(rng.Uniform(0, 3))];
    const std::optional<SlotIndex::Choice> c = index.Best(profile);
    if (!c) return;
    g.Add(occ[c->gpu], {profile, c->start});
    index.Upsert(c->gpu, occ[c->gpu]);
    running.push_back({c->gpu, {profile, c->start}});
  };
  auto finish = [&] {
    if (running.empty()) return;
    const auto i = static_cast<std::size_t>(rng.Uniform(0, static_cast<std::int64_t>(running.size()) - 1));
    const auto [gpu, p] = running[i];
    running[i] = running.back();
    running.pop_back();
    g.Remove(occ[gpu], p);
    index.Upsert(gpu, occ[gpu]);
  };
  while (running.size() < static_cast<std::size_t>(gpus) * 3) place();  // ~3 of 4-5 slots per GPU
  for (auto _ : state) {
    if (rng.Chance(1, 2)) {
      place();
    } else {
      finish();
    }
  }
  state.counters["decisions/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["states"] = static_cast<double>(index.distinct_states());
}
BENCHMARK(BM_SlotIndexChurn)->Arg(40000);

}  // namespace
}  // namespace gpuslice::sched

BENCHMARK_MAIN();
