// Durable job submits through the REST API (DESIGN.md §8: >= 10,000/s; p99 < 10 ms at 1,000/s):
// an in-process `gpuslice server` on a temporary data dir (SQLite, synchronous=FULL), clients
// over keep-alive HTTP on loopback. Every 201 is a submit the store made durable first.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/http_client.h"
#include "server/api_server.h"

namespace {

using namespace gpuslice;

struct Fixture {
  std::string dir;
  std::unique_ptr<server::ApiServer> server;
  std::string token;

  Fixture() {
    const char* base = std::getenv("GPUSLICE_BENCH_DIR");
    dir = std::string(base != nullptr ? base : "/tmp") + "/gpuslice-api-bench-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    server::ApiOptions o;
    o.data_dir = dir;
    o.teams = {server::ParseTeamFlag("nlp=A100-80GB:4000").value()};
    o.schedule_interval = std::chrono::milliseconds(1000);
    if (const char* t = std::getenv("GPUSLICE_BENCH_HTTP_THREADS")) o.http_threads = std::atoi(t);
    server = server::ApiServer::Start(o).value();
    std::ifstream(server->admin_token_file()) >> token;
  }
  ~Fixture() {
    server->Stop();
    std::filesystem::remove_all(dir);
  }
};

Fixture& Shared() {
  static Fixture f;
  return f;
}

net::ClientRequest Submit(const std::string& token) {
  net::ClientRequest r;
  r.method = "POST";
  r.target = "/v1/jobs";
  r.headers["Authorization"] = "Bearer " + token;
  r.headers["Content-Type"] = "application/json";
  r.body = R"({"team": "nlp", "profile": "1g.10gb", "command": ["python", "train.py"]})";
  return r;
}

void BM_ApiDurableSubmit(benchmark::State& state) {
  Fixture& f = Shared();
  auto client = net::HttpClient::Create(f.server->url()).value();
  const net::ClientRequest req = Submit(f.token);
  std::int64_t errors = 0;
  for (auto _ : state) {
    const Result<net::Response> r = client->Do(req);
    errors += !r || r->status != 201;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["errors"] = static_cast<double>(errors);
}
BENCHMARK(BM_ApiDurableSubmit)->Threads(1)->Threads(8)->Threads(32)->UseRealTime()->MinTime(2.0);

// 1,000 submits per second for 3 s from 4 client threads; latency percentiles of the acks.
void BM_ApiPacedSubmits(benchmark::State& state) {
  Fixture& f = Shared();
  const int rate = static_cast<int>(state.range(0));
  for (auto _ : state) {
    constexpr int kThreads = 4;
    const auto per_thread = std::chrono::microseconds(1'000'000LL * kThreads / rate);
    std::vector<std::vector<double>> lat(kThreads);
    std::vector<std::thread> threads;
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        auto client = net::HttpClient::Create(f.server->url()).value();
        const net::ClientRequest req = Submit(f.token);
        auto next = t0 + per_thread * t / kThreads;
        while (next < t0 + std::chrono::seconds(3)) {
          std::this_thread::sleep_until(next);
          const auto s = std::chrono::steady_clock::now();
          const Result<net::Response> r = client->Do(req);
          if (r && r->status == 201)
            lat[static_cast<std::size_t>(t)].push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
          next += per_thread;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    std::vector<double> all;
    for (const auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
      return all.empty() ? 0.0 : all[static_cast<std::size_t>(p * (all.size() - 1))];
    };
    state.counters["acked"] = static_cast<double>(all.size());
    state.counters["p50_ms"] = pct(0.50);
    state.counters["p99_ms"] = pct(0.99);
    state.counters["max_ms"] = all.empty() ? 0.0 : all.back();
  }
}
BENCHMARK(BM_ApiPacedSubmits)->Arg(1000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
BENCHMARK_MAIN();
