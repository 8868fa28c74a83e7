// Scheduling-core benchmarks (DESIGN.md §8): placement decisions across a large fleet.
// Run: ./build/bench/sched_benchmark
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "common/rng.h"
#include "mig/catalog.h"
#include "sched/scheduler.h"
#include "sched/slot_index.h"

namespace gpuslice::sched {
namespace {

// An empty fleet of A100-80GB GPUs in a SlotIndex, and the light profiles jobs draw from.
struct Fleet {
  explicit Fleet(int n)
      : geometry(mig::Geometry::Build(*mig::Catalog::BuiltIn().Resolve("A100-80GB").value().model).value()),
        light{geometry.model().ProfileIndex("1g.10gb"), geometry.model().ProfileIndex("1g.20gb"),
              geometry.model().ProfileIndex("2g.20gb"), geometry.model().ProfileIndex("3g.40gb")},
        index(geometry),
        occ(static_cast<std::size_t>(n)) {
    for (int i = 0; i < n; ++i)
      index.Upsert(static_cast<SlotIndex::GpuRef>(i), occ[static_cast<std::size_t>(i)]);
  }
  mig::Geometry geometry;
  std::vector<int> light;
  SlotIndex index;
  std::vector<mig::Occupancy> occ;
};

// 5,000 nodes x 8 A100-80GB GPUs. Each iteration is one placement decision for a light job
// (a random profile of 1 to 3 slices, as notebooks and inference services ask): find the best
// (GPU, start), then record the GPU's new occupancy. When nothing fits, the fleet is emptied
// (outside the timing) and filling starts again.
void BM_SlotIndexPlace(benchmark::State& state) {
  const int gpus = static_cast<int>(state.range(0));
  Fleet fleet(gpus);
  const mig::Geometry& g = fleet.geometry;
  const std::vector<int>& light = fleet.light;
  SlotIndex& index = fleet.index;
  std::vector<mig::Occupancy>& occ = fleet.occ;
  auto reset = [&] {
    for (int i = 0; i < gpus; ++i) {
      occ[static_cast<std::size_t>(i)] = mig::Occupancy{};
      index.Upsert(static_cast<SlotIndex::GpuRef>(i), occ[static_cast<std::size_t>(i)]);
    }
  };
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
  const int gpus = static_cast<int>(state.range(0));
  Fleet fleet(gpus);
  const mig::Geometry& g = fleet.geometry;
  const std::vector<int>& light = fleet.light;
  SlotIndex& index = fleet.index;
  std::vector<mig::Occupancy>& occ = fleet.occ;
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

// DESIGN.md §8 target: 5,000 nodes x 8 GPUs and 100,000 pending light jobs, >= 50,000 placement
// decisions per second. One iteration = one full Schedule() pass over 100,000 pending jobs on an
// empty fleet (setup outside the timing); the counter is placed jobs per second of pass time.
void BM_SchedulePass(benchmark::State& state) {
  const mig::GpuModel& model = *mig::Catalog::BuiltIn().Resolve("A100-80GB").value().model;
  const int nodes = static_cast<int>(state.range(0));
  const int jobs = static_cast<int>(state.range(1));
  const std::vector<std::string> light{"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb"};
  std::int64_t placed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    QuotaTree quota;
    const ClassId cls = quota.AddClass(model.name).value();
    const QuotaNodeId team = quota.AddTeam("all").value();
    (void)quota.SetQuota(team, cls, ClassQuota{MilliGpu(1000LL * nodes * 8)});
    auto s = std::make_unique<Scheduler>(std::move(quota));
    for (int n = 0; n < nodes; ++n) (void)s->AddNode("n" + std::to_string(n), model, 8, GpuMode::kDynamic);
    Rng rng(5);
    for (int i = 0; i < jobs; ++i) {
      Job j;
      j.name = "j";
      j.team = team;
      j.submit_ms = i;
      j.request.profile = light[static_cast<std::size_t>(rng.Uniform(0, 3))];
      (void)s->Submit(std::move(j));
    }
    state.ResumeTiming();
    const std::vector<Decision> decisions = s->Schedule(jobs);
    state.PauseTiming();
    placed += static_cast<std::int64_t>(jobs) - static_cast<std::int64_t>(s->num_pending());
    benchmark::DoNotOptimize(decisions.data());
    s.reset();
    state.ResumeTiming();
  }
  state.counters["placed/s"] = benchmark::Counter(static_cast<double>(placed), benchmark::Counter::kIsRate);
  state.counters["placed"] = static_cast<double>(placed) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_SchedulePass)->Args({5000, 100000})->Unit(benchmark::kMillisecond)->Iterations(3);

// A busy fleet and a long queue that cannot move: 500 nodes x 8 GPUs full of 1g jobs, then
// 100,000 pending jobs of 3 teams x 4 shapes x 3 priorities that do not fit. One iteration = one
// job finishes and the next pass runs (the replay loop's unit of work). Pending jobs wait in
// groups of one shape, so the pass costs a step per group (36 here), not per pending job.
void BM_PassWithBlockedQueue(benchmark::State& state) {
  const mig::GpuModel& model = *mig::Catalog::BuiltIn().Resolve("A100-80GB").value().model;
  const int nodes = 500;
  const int jobs = static_cast<int>(state.range(0));
  QuotaTree quota;
  const ClassId cls = quota.AddClass(model.name).value();
  const QuotaNodeId cohort = quota.AddCohort("all").value();
  std::vector<QuotaNodeId> teams;
  for (const char* name : {"a", "b", "c"}) {
    teams.push_back(quota.AddTeam(name, cohort).value());
    (void)quota.SetQuota(teams.back(), cls, ClassQuota{MilliGpu(1000LL * nodes * 8)});
  }
  Scheduler s(std::move(quota));
  for (int n = 0; n < nodes; ++n) (void)s.AddNode("n" + std::to_string(n), model, 8, GpuMode::kDynamic);
  std::vector<JobId> running;
  for (int i = 0; i < nodes * 8 * 7; ++i) {
    Job j;
    j.name = "fill";
    j.team = teams[0];
    j.request.profile = "1g.10gb";
    running.push_back(s.Submit(std::move(j)).value());
  }
  s.Schedule(0);
  const std::vector<std::string> big{"4g.40gb", "7g.80gb", "3g.40gb", "2g.20gb"};
  Rng rng(11);
  for (int i = 0; i < jobs; ++i) {
    Job j;
    j.name = "wait";
    j.team = teams[static_cast<std::size_t>(rng.Uniform(0, 2))];
    j.priority = static_cast<int>(rng.Uniform(0, 2));
    j.submit_ms = 1;
    j.request.profile = big[static_cast<std::size_t>(rng.Uniform(0, 3))];
    (void)s.Submit(std::move(j));
  }
  std::int64_t now = 2;
  std::size_t next = 0;
  for (auto _ : state) {
    // A 1g finishes: its slot cannot hold any waiting shape, so nothing moves.
    (void)s.Finish(running[next++ % running.size()], now);
    benchmark::DoNotOptimize(s.Schedule(now++).size());
    state.PauseTiming();
    Job j;  // keep the fleet full for the next iteration
    j.name = "fill";
    j.team = teams[0];
    j.request.profile = "1g.10gb";
    running.push_back(s.Submit(std::move(j)).value());
    s.Schedule(now++);
    state.ResumeTiming();
  }
  state.counters["pending"] = static_cast<double>(s.num_pending());
}
BENCHMARK(BM_PassWithBlockedQueue)->Arg(100000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace gpuslice::sched

BENCHMARK_MAIN();
