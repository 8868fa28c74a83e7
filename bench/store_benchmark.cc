// State-store benchmarks (DESIGN.md §8): durable job submits through SqliteStore's group commit.
// Target: ≥ 10,000 submits/s, and p99 < 10 ms at a steady 1,000 submits/s.
//
// A "submit" is the batch the server writes for POST /v1/jobs: the job record (≈ 250 bytes of
// JSON) plus its "submitted" event, made durable (WAL + synchronous=FULL) before Apply returns.
// The database lives in $GPUSLICE_BENCH_DIR (default: a fresh dir under /tmp), so the numbers are
// those of that file system's fsync.
// Run: ./build/bench/store_benchmark
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_store.h"

namespace gpuslice::store {
namespace {

using Clock = std::chrono::steady_clock;

// One store for the whole program, in a temp dir removed at exit.
class BenchStore {
 public:
  static BenchStore& Get() {
    static BenchStore instance;
    return instance;
  }
  StateStore& store() { return *store_; }
  uint64_t NextId() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

  ~BenchStore() {
    store_.reset();
    std::error_code ec;
    if (!keep_) std::filesystem::remove_all(dir_, ec);
  }

 private:
  BenchStore() {
    if (const char* d = std::getenv("GPUSLICE_BENCH_DIR"); d != nullptr && *d != '\0') {
      dir_ = d;
      keep_ = true;
    } else {
      std::string pattern = (std::filesystem::temp_directory_path() / "gpuslice-store-bench-XXXXXX").string();
      dir_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : "/tmp/gpuslice-store-bench";
    }
    SqliteOptions o;
    o.data_dir = dir_;
    o.file_name = "bench.db";
    auto s = SqliteStore::Open(o);
    if (!s) {
      fmt::print(stderr, "store_benchmark: {}\n", s.error().message);
      std::exit(1);
    }
    store_ = std::move(*s);
    next_id_ = 1 + *store_->ListJobs({}).map([](const auto& v) { return v.empty() ? 0 : v.back().id; });
  }

  std::string dir_;
  bool keep_ = false;
  std::unique_ptr<StateStore> store_;
  std::atomic<uint64_t> next_id_{1};
};

WriteBatch SubmitBatch(uint64_t id) {
  JobRecord job{
      id, "ml-research", "pending",
      fmt::format(R"({{"id":{},"team":"ml-research","name":"train-resnet-{}","priority":100,)"
                  R"("resources":{{"profile":"1g.10gb","count":1}},"command":["python","train.py",)"
                  R"("--epochs","90"],"env":{{"WANDB_MODE":"offline"}},"submitted_at":1764000000000}})",
                  id, id),
      1764000000000};
  WriteBatch b;
  b.PutJob(std::move(job)).AppendEvent("job.submitted", fmt::format(R"({{"job":{}}})", id));
  return b;
}

// Durable submits from N concurrent threads; items_per_second is the total submit rate.
void BM_DurableSubmit(benchmark::State& state) {
  BenchStore& bs = BenchStore::Get();
  uint64_t group_sum = 0, n = 0;
  for (auto _ : state) {
    auto r = bs.store().Apply(SubmitBatch(bs.NextId()));
    if (!r) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
    group_sum += r->group_size;
    ++n;
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
  // Mean batches per commit (per fsync) seen by this thread's submits; averaged over threads.
  state.counters["batches_per_commit"] =
      benchmark::Counter(n == 0 ? 0.0 : static_cast<double>(group_sum) / static_cast<double>(n),
                         benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_DurableSubmit)->Threads(1)->Threads(8)->Threads(64)->UseRealTime()->MinTime(2.0);

// A steady 1,000 submits/s for 5 s from a pool of sender threads. Latency is measured from each
// submit's scheduled time (not from when a sender got to it), so a stall that delays later sends
// shows in their latency instead of hiding it (no coordinated omission).
void BM_PacedSubmits(benchmark::State& state) {
  BenchStore& bs = BenchStore::Get();
  const int rate = static_cast<int>(state.range(0));
  constexpr int kSeconds = 5, kSenders = 32;
  const int total = rate * kSeconds;
  const auto period = std::chrono::nanoseconds(1'000'000'000 / rate);
  std::vector<double> latency_ms(static_cast<std::size_t>(total));
  std::atomic<int> errors{0};
  double elapsed_s = 0;
  for (auto _ : state) {
    const auto start = Clock::now() + std::chrono::milliseconds(10);
    std::vector<std::thread> senders;
    for (int t = 0; t < kSenders; ++t) {
      senders.emplace_back([&, t] {
        for (int i = t; i < total; i += kSenders) {
          const auto due = start + period * i;
          std::this_thread::sleep_until(due);
          WriteBatch b = SubmitBatch(bs.NextId());
          if (!bs.store().Apply(b)) ++errors;
          latency_ms[static_cast<std::size_t>(i)] =
              std::chrono::duration<double, std::milli>(Clock::now() - due).count();
        }
      });
    }
    for (auto& th : senders) th.join();
    elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  }
  std::sort(latency_ms.begin(), latency_ms.end());
  auto pct = [&](double p) {
    return latency_ms[std::min(latency_ms.size() - 1,
                               static_cast<std::size_t>(p * static_cast<double>(total)))];
  };
  state.counters["p50_ms"] = pct(0.50);
  state.counters["p99_ms"] = pct(0.99);
  state.counters["max_ms"] = latency_ms.back();
  state.counters["submits_per_s"] = static_cast<double>(total) / elapsed_s;
  state.counters["errors"] = errors.load();
}
BENCHMARK(BM_PacedSubmits)->Arg(1000)->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);

}  // namespace
}  // namespace gpuslice::store

BENCHMARK_MAIN();
