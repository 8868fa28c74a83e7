// MIG geometry engine benchmarks (DESIGN.md §8):
//   * best start for one profile on a partly used GPU — target < 100 ns
//   * maximal layout enumeration per model — target < 1 ms
// Run: ./build/bench/mig_benchmark  (or with --benchmark_filter=BestStart)
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "mig/catalog.h"
#include "mig/layout.h"

namespace gpuslice::mig {
namespace {

const std::vector<std::string>& BenchModels() {
  static const std::vector<std::string> names{"A30", "A100-40GB", "H100-80GB", "B200", "RTX-PRO-6000"};
  return names;
}

Geometry Load(const std::string& name) {
  const ResolvedGpu gpu = Catalog::BuiltIn().Resolve(name).value();
  return Geometry::Build(*gpu.model).value();
}

// Best start of a profile on partly used GPUs: every non-maximal layout of the model (so a
// free start usually exists) crossed with every profile, cycled through.
void BM_BestStart(benchmark::State& state) {
  const std::string& name = BenchModels()[static_cast<std::size_t>(state.range(0))];
  const Geometry g = Load(name);
  struct Query {
    Occupancy occ;
    int profile;
  };
  std::vector<Query> queries;
  for (const Layout& l : g.Enumerate()) {
    const Occupancy occ = g.Occupy(l).value();
    for (int q = 0; q < g.num_profiles(); ++q) {
      if (g.FreeStarts(occ, q) != 0) queries.push_back({occ, q});
    }
  }
  std::size_t i = 0;
  for (auto _ : state) {
    const Query& query = queries[i];
    benchmark::DoNotOptimize(g.BestStart(query.occ, query.profile));
    if (++i == queries.size()) i = 0;
  }
  state.SetLabel(name + ", " + std::to_string(queries.size()) + " partly used states");
}
BENCHMARK(BM_BestStart)->DenseRange(0, 4);

void BM_EnumerateMaximal(benchmark::State& state) {
  const std::string& name = BenchModels()[static_cast<std::size_t>(state.range(0))];
  const Geometry g = Load(name);
  std::size_t count = 0;
  for (auto _ : state) {
    const std::vector<Layout> layouts = g.Enumerate({.maximal_only = true, .profiles = {}});
    count = layouts.size();
    benchmark::DoNotOptimize(layouts.data());
  }
  state.SetLabel(name + ", " + std::to_string(count) + " maximal layouts");
}
BENCHMARK(BM_EnumerateMaximal)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond);

void BM_EnumerateAll(benchmark::State& state) {
  const std::string& name = BenchModels()[static_cast<std::size_t>(state.range(0))];
  const Geometry g = Load(name);
  std::size_t count = 0;
  for (auto _ : state) {
    const std::vector<Layout> layouts = g.Enumerate();
    count = layouts.size();
    benchmark::DoNotOptimize(layouts.data());
  }
  state.SetLabel(name + ", " + std::to_string(count) + " layouts");
}
BENCHMARK(BM_EnumerateAll)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond);

// Building a model's tables (done once per model per process).
void BM_GeometryBuild(benchmark::State& state) {
  const std::string& name = BenchModels()[static_cast<std::size_t>(state.range(0))];
  const ResolvedGpu gpu = Catalog::BuiltIn().Resolve(name).value();
  for (auto _ : state) benchmark::DoNotOptimize(Geometry::Build(*gpu.model));
  state.SetLabel(name);
}
BENCHMARK(BM_GeometryBuild)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond);

// Arranging a full mixed layout from scratch (what expanding a mig-parted config costs per GPU).
void BM_ArrangeBalanced(benchmark::State& state) {
  const Geometry g = Load("A100-40GB");
  const std::vector<int> want{g.model().ProfileIndex("1g.5gb"), g.model().ProfileIndex("1g.5gb"),
                              g.model().ProfileIndex("2g.10gb"), g.model().ProfileIndex("3g.20gb")};
  for (auto _ : state) benchmark::DoNotOptimize(g.Arrange(Occupancy{}, want));
}
BENCHMARK(BM_ArrangeBalanced);

}  // namespace
}  // namespace gpuslice::mig

BENCHMARK_MAIN();
