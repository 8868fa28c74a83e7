// HTTP layer benchmarks (DESIGN.md §6): requests/s of a trivial handler over keep-alive from 1
// and 8 client threads, and the cost of 1,000 parked long-polls (threads and resident memory).
//
// Server and clients share the machine, so requests/s measures both ends of the loopback.
// Memory per parked poll is only meaningful in a fresh process:
//   net_benchmark --benchmark_filter=Parked
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "net/http_client.h"
#include "net/http_server.h"

namespace gpuslice::net {
namespace {

struct Parked {
  std::mutex mu;
  std::vector<std::shared_ptr<ResponseWriter>> waiters;
};

Parked& ParkedList() {
  static Parked parked;
  return parked;
}

HttpServer& SharedServer() {
  static std::unique_ptr<HttpServer> server = [] {
    Router router;
    (void)router.Add("GET", "/ping", [](Request&) -> Reply { return Response::Text(200, "pong"); });
    (void)router.Add("GET", "/wait", [](Request&) -> Reply {
      auto writer = ResponseWriter::Create(std::chrono::minutes(5), Response::Text(204, ""));
      std::lock_guard lock(ParkedList().mu);
      ParkedList().waiters.push_back(writer);
      return Reply::Deferred(writer);
    });
    ServerOptions options;
    options.threads = 2;
    auto started = HttpServer::Start(options, std::move(router));
    if (!started) std::abort();
    return std::move(*started);
  }();
  return *server;
}

void BM_KeepAliveRequests(benchmark::State& state) {
  auto client = HttpClient::Create("127.0.0.1:" + std::to_string(SharedServer().port()));
  if (!client) {
    state.SkipWithError("client");
    return;
  }
  for (auto _ : state) {
    auto r = (*client)->Get("/ping");
    if (!r || r->status != 200) {
      state.SkipWithError("request failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeepAliveRequests)->Threads(1)->Threads(8)->UseRealTime();

long ResidentKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

int ThreadCount() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Parks 1,000 long-polls from raw sockets, then reports what they cost while parked.
void BM_ThousandParkedLongPolls(benchmark::State& state) {
  constexpr int kParked = 1000;
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 4 * kParked);
  setrlimit(RLIMIT_NOFILE, &limit);
  HttpServer& server = SharedServer();
  const std::string request = "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n";
  for (auto _ : state) {
    const int threads_before = ThreadCount();
    const long rss_before = ResidentKiB();
    std::vector<int> fds;
    for (int i = 0; i < kParked; ++i) {
      const int fd = Connect(server.port());
      if (fd < 0 || ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) <= 0) {
        state.SkipWithError("connect/send failed");
        return;
      }
      fds.push_back(fd);
    }
    while (true) {  // until every request is parked
      std::lock_guard lock(ParkedList().mu);
      if (ParkedList().waiters.size() >= kParked) break;
    }
    state.counters["threads_added"] = ThreadCount() - threads_before;
    state.counters["rss_KiB_per_parked"] = static_cast<double>(ResidentKiB() - rss_before) / kParked;
    state.counters["connections"] = static_cast<double>(server.ConnectionCountForTest());
    {
      std::lock_guard lock(ParkedList().mu);
      for (auto& w : ParkedList().waiters) w->Complete(Response::Text(200, "done"));
      ParkedList().waiters.clear();
    }
    char buf[512];
    for (int fd : fds) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) > 0) (void)::recv(fd, buf, sizeof buf, 0);
      ::close(fd);
    }
  }
}
BENCHMARK(BM_ThousandParkedLongPolls)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace gpuslice::net

BENCHMARK_MAIN();
