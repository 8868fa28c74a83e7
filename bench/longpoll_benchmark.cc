// 1,000 agents long-polling one in-process `gpuslice server` (DESIGN.md §6: "parked long-polls
// cost nothing"; §8: placed -> started < 50 ms, of which this is the server's share).
//
// Each simulated agent is what `gpuslice agent --server` does on the wire: its own node token
// (POST /v1/tokens), a registration (POST /v1/agent/register, 8 x A100-SXM4-80GB), then
// GET /v1/agent/desired?node=N&after=GEN in a loop on one keep-alive connection. The 1,000
// connections are driven by ONE client thread over poll(2) with a minimal HTTP/1.1 reader
// (Content-Length bodies only, which is all the server sends), so the client adds neither
// 1,000 threads nor their scheduling noise to what is measured.
//
// BM_LongPollIdleCpu: CPU the server burns while every poll is parked and nothing happens:
// process CPU time minus the client thread's and the benchmark thread's, per wall second
// ("server_cpu_cores"; 0.01 = 1 % of one core). Run with 0 agents as a baseline and with a
// 1 s scheduling interval to tell the parked polls' cost from the scheduler tick's.
//
// BM_LongPollWake: jobs submitted one at a time by a team token; for each, the time from the
// submit's 201 to the parked poll of the node the scheduler chose answering with a desired state
// that holds the job (p50/p99). The answer may overtake the 201 (the scheduler commits and wakes
// the poll while the 201 is still on its way): such samples count as 0 and are counted in
// "woke_before_ack"; "send_to_wake" is measured from the submit's first byte and has no such
// clamp. The data dir (SQLite, synchronous=FULL) is $GPUSLICE_BENCH_DIR or /tmp.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "net/http_client.h"
#include "server/api_server.h"

namespace {

using namespace gpuslice;
using SteadyTime = std::chrono::steady_clock::time_point;
using nlohmann::json;

constexpr auto kLongPollTimeout = std::chrono::seconds(60);  // no poll times out during a run
constexpr auto kNodeGrace = std::chrono::seconds(120);
constexpr auto kIdleWindow = std::chrono::seconds(5);
constexpr auto kWakeDeadline = std::chrono::seconds(10);

double CpuSeconds(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// 1,000 client sockets and as many server-side ones, plus the store's: past a default soft
// limit of 1,024.
void RaiseFileLimit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

struct RawResponse {
  int status = 0;
  std::string body;
};

// Takes one whole response off the front of `in`; nullopt while incomplete. Sets `bad` for a
// response without Content-Length (never sent by the server).
std::optional<RawResponse> TakeResponse(std::string& in, bool& bad) {
  const std::size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) return std::nullopt;
  std::string head = in.substr(0, end);
  std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
  const std::size_t cl = head.find("\r\ncontent-length:");
  if (head.size() < 12 || cl == std::string::npos) {
    bad = true;
    return std::nullopt;
  }
  const std::size_t length = std::strtoul(head.c_str() + cl + 17, nullptr, 10);
  if (in.size() < end + 4 + length) return std::nullopt;
  RawResponse r{std::atoi(head.c_str() + 9), in.substr(end + 4, length)};
  in.erase(0, end + 4 + length);
  return r;
}

std::string Request(const std::string& method, const std::string& target, const std::string& token,
                    const std::string& body = "") {
  std::string r =
      method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token + "\r\n";
  if (!body.empty())
    r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

// N keep-alive connections to the server, one request outstanding at most on each, all driven by
// whichever single thread calls Exchange or runs the polling loop (never both at once).
class Swarm {
 public:
  Swarm(int port, int n) : conns_(static_cast<std::size_t>(n)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (Conn& c : conns_) {
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (c.fd < 0 || ::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        error_ = std::string("connect: ") + std::strerror(errno);  // no thread runs yet
        return;
      }
      const int one = 1;
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    }
    if (::pipe2(stop_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) error_ = "pipe";
  }
  ~Swarm() {
    StopPolling();
    for (Conn& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
    }
    for (int fd : stop_pipe_) {
      if (fd >= 0) ::close(fd);
    }
  }

  std::string error() {
    std::lock_guard lock(mu_);
    return error_;
  }

  // Sends request(i) on every connection at once and returns the answers by connection.
  std::vector<RawResponse> Exchange(const std::function<std::string(int)>& request) {
    std::vector<RawResponse> out(conns_.size());
    std::size_t left = conns_.size();
    for (std::size_t i = 0; i < conns_.size(); ++i) Send(i, request(static_cast<int>(i)));
    Loop(
        [&](std::size_t i, RawResponse r) {
          out[i] = std::move(r);
          --left;
        },
        [&] { return left == 0; });
    return out;
  }

  // The agents' loop, on its own thread: poll, and on each answer poll again after its generation.
  void StartPolling(std::vector<std::string> tokens) {
    tokens_ = std::move(tokens);
    after_.assign(conns_.size(), 0);
    for (std::size_t i = 0; i < conns_.size(); ++i) Send(i, PollRequest(i));
    poller_ = std::thread([this] {
      Loop([this](std::size_t i, RawResponse r) { OnPollAnswer(i, std::move(r)); },
           [this] { return stop_.load(); });
    });
  }
  void StopPolling() {
    if (!poller_.joinable()) return;
    stop_ = true;
    const char one = 1;
    (void)!::write(stop_pipe_[1], &one, 1);
    poller_.join();
  }
  double PollerCpuSeconds() {
    clockid_t id{};
    return poller_.joinable() && ::pthread_getcpuclockid(poller_.native_handle(), &id) == 0 ? CpuSeconds(id)
                                                                                            : 0;
  }

  // Waits until every agent has had its first answer and parked its second poll.
  bool WaitAllParked(std::chrono::seconds deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return armed_ == conns_.size() || !error_.empty(); }) &&
           error_.empty();
  }
  // When the poll of the node that runs `job` answered with it; nullopt past the deadline.
  std::optional<SteadyTime> WaitForJob(const std::string& job, std::chrono::seconds deadline) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, deadline, [&] { return woke_.contains(job) || !error_.empty(); }) ||
        !woke_.contains(job))
      return std::nullopt;
    return woke_[job].first;
  }

  struct Counts {
    std::int64_t wakes = 0, spurious = 0, timeouts = 0, errors = 0;
    std::set<std::size_t> nodes_woken;
  };
  Counts counts() {
    std::lock_guard lock(mu_);
    return counts_;
  }

 private:
  struct Conn {
    int fd = -1;
    std::string out, in;
  };

  std::string PollRequest(std::size_t i) const {
    return Request("GET",
                   "/v1/agent/desired?node=n" + std::to_string(i) + "&after=" + std::to_string(after_[i]),
                   tokens_[i]);
  }

  void Send(std::size_t i, std::string bytes) { conns_[i].out += bytes; }

  // One poll(2) loop over every connection until done(); calls on_answer per whole response.
  template <class OnAnswer, class Done>
  void Loop(OnAnswer on_answer, Done done) {
    std::vector<pollfd> fds(conns_.size() + 1);
    while (!done()) {
      for (std::size_t i = 0; i < conns_.size(); ++i) {
        Flush(i);
        fds[i] = {conns_[i].fd, static_cast<short>(POLLIN | (conns_[i].out.empty() ? 0 : POLLOUT)), 0};
      }
      fds.back() = {stop_pipe_[0], POLLIN, 0};
      if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) {
        Fail(std::string("poll: ") + std::strerror(errno));
        return;
      }
      for (std::size_t i = 0; i < conns_.size(); ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        char buf[16384];
        for (;;) {
          const ssize_t n = ::read(conns_[i].fd, buf, sizeof buf);
          if (n > 0) {
            conns_[i].in.append(buf, static_cast<std::size_t>(n));
            continue;
          }
          if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            Fail("the server closed connection " + std::to_string(i));
            return;
          }
          if (errno != EINTR) break;
        }
        bool bad = false;
        while (std::optional<RawResponse> r = TakeResponse(conns_[i].in, bad)) on_answer(i, std::move(*r));
        if (bad) {
          Fail("a response without Content-Length");
          return;
        }
      }
    }
  }

  void Fail(std::string why) {
    std::lock_guard lock(mu_);
    if (error_.empty()) error_ = std::move(why);
    cv_.notify_all();
  }

  void Flush(std::size_t i) {
    Conn& c = conns_[i];
    while (!c.out.empty()) {
      const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // EAGAIN: POLLOUT; errors show as a closed connection on read
      c.out.erase(0, static_cast<std::size_t>(n));
    }
  }

  void OnPollAnswer(std::size_t i, RawResponse r) {
    const SteadyTime now = std::chrono::steady_clock::now();
    const json j = json::parse(r.body, nullptr, false);
    std::lock_guard lock(mu_);
    if (r.status != 200 || !j.is_object() || !j.contains("generation")) {
      ++counts_.errors;
    } else if (const std::uint64_t gen = j["generation"].get<std::uint64_t>(); gen <= after_[i]) {
      ++counts_.timeouts;  // answered unchanged: the long-poll timeout
    } else if (after_[i] == 0) {
      after_[i] = gen;  // the first answer (at once); the next poll parks
      ++armed_;
    } else {
      after_[i] = gen;
      ++counts_.wakes;
      counts_.nodes_woken.insert(i);
      bool fresh = false;
      for (const json& w : j.value("workloads", json::array())) {
        const std::string job = w.value("job_id", "");
        if (!woke_.contains(job)) {
          woke_[job] = {now, i};
          fresh = true;
        }
      }
      counts_.spurious += !fresh;
    }
    cv_.notify_all();
    Send(i, PollRequest(i));
  }

  std::vector<Conn> conns_;
  int stop_pipe_[2] = {-1, -1};
  std::vector<std::string> tokens_;
  std::vector<std::uint64_t> after_;  // the poller thread's, once it runs
  std::thread poller_;
  std::atomic<bool> stop_{false};

  // Guarded by mu_: what the poller saw, for the benchmark thread.
  std::mutex mu_;
  std::condition_variable cv_;
  std::string error_;  // the first transport error; the loop that saw it has returned
  std::size_t armed_ = 0;
  std::map<std::string, std::pair<SteadyTime, std::size_t>> woke_;  // job -> (when, node)
  Counts counts_;
};

// A server with `agents` registered and parked (each with its own node token) and a team token.
struct Cluster {
  std::string dir;
  std::unique_ptr<server::ApiServer> server;
  std::string admin, team;
  std::unique_ptr<Swarm> swarm;
  std::string error;

  Cluster(int agents, std::chrono::milliseconds schedule_interval) {
    RaiseFileLimit();
    const char* base = std::getenv("GPUSLICE_BENCH_DIR");
    dir = std::string(base != nullptr ? base : "/tmp") + "/gpuslice-longpoll-bench-" +
          std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    server::ApiOptions o;
    o.data_dir = dir;
    o.teams = {server::ParseTeamFlag("nlp=A100-80GB:8000000").value()};
    o.schedule_interval = schedule_interval;
    o.long_poll_timeout = kLongPollTimeout;
    o.node_grace = kNodeGrace;
    Result<std::unique_ptr<server::ApiServer>> s = server::ApiServer::Start(o);
    if (!s) {
      error = s.error().message;
      return;
    }
    server = std::move(*s);
    std::ifstream(server->admin_token_file()) >> admin;
    auto client = net::HttpClient::Create(server->url()).value();
    net::ClientRequest req;
    req.method = "POST";
    req.target = "/v1/tokens";
    req.headers["Authorization"] = "Bearer " + admin;
    req.body = R"({"role": "team", "name": "alice", "team": "nlp"})";
    const Result<net::Response> t = client->Do(req);
    if (!t || t->status != 201) {
      error = "team token: " + (t ? t->body : t.error().message);
      return;
    }
    team = json::parse(t->body)["token"];
    if (agents > 0) StartAgents(agents);
  }
  ~Cluster() {
    swarm.reset();
    if (server) server->Stop();
    std::filesystem::remove_all(dir);
  }

  void StartAgents(int agents) {
    swarm = std::make_unique<Swarm>(server->port(), agents);
    if (!swarm->error().empty()) {
      error = swarm->error();
      return;
    }
    const std::vector<RawResponse> tokens = swarm->Exchange([&](int i) {
      return Request("POST", "/v1/tokens", admin,
                     json{{"role", "node"}, {"name", "agent-n" + std::to_string(i)}}.dump());
    });
    std::vector<std::string> node_tokens;
    for (const RawResponse& r : tokens) {
      const json j = json::parse(r.body, nullptr, false);
      if (r.status != 201 || !j.is_object()) {
        error = "node token: " + r.body;
        return;
      }
      node_tokens.push_back(j["token"]);
    }
    const std::vector<RawResponse> registered = swarm->Exchange([&](int i) {
      return Request(
          "POST", "/v1/agent/register", node_tokens[static_cast<std::size_t>(i)],
          json{{"node", "n" + std::to_string(i)}, {"gpu_model", "A100-SXM4-80GB"}, {"gpus", 8}}.dump());
    });
    for (const RawResponse& r : registered) {
      if (r.status != 200) {
        error = "register: " + r.body;
        return;
      }
    }
    if (!swarm->error().empty()) {
      error = swarm->error();
      return;
    }
    swarm->StartPolling(std::move(node_tokens));
    if (!swarm->WaitAllParked(std::chrono::seconds(30)))
      error = "not every agent parked a poll: " + swarm->error();
  }
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

void BM_LongPollIdleCpu(benchmark::State& state) {
  const int agents = static_cast<int>(state.range(0));
  Cluster c(agents, std::chrono::milliseconds(state.range(1)));
  if (!c.error.empty()) {
    state.SkipWithError(c.error.c_str());
    return;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // registrations' kicks settle
  for (auto _ : state) {
    const double proc0 = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
    const double self0 = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
    const double client0 = c.swarm ? c.swarm->PollerCpuSeconds() : 0;
    const SteadyTime t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(kIdleWindow);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double client = (c.swarm ? c.swarm->PollerCpuSeconds() : 0) - client0;
    const double self = CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - self0;
    const double proc = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - proc0;
    state.counters["server_cpu_cores"] = (proc - client - self) / wall;
    state.counters["client_cpu_cores"] = client / wall;
  }
  const Swarm::Counts n = c.swarm ? c.swarm->counts() : Swarm::Counts{};
  state.counters["parked"] = agents;
  state.counters["answered_while_idle"] = static_cast<double>(n.wakes + n.timeouts + n.errors);
}
BENCHMARK(BM_LongPollIdleCpu)
    ->ArgNames({"agents", "sched_ms"})
    ->Args({0, 5})
    ->Args({1000, 5})
    ->Args({1000, 1000})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_LongPollWake(benchmark::State& state) {
  const int agents = static_cast<int>(state.range(0));
  const int jobs = static_cast<int>(state.range(1));
  Cluster c(agents, std::chrono::milliseconds(5));
  if (!c.error.empty()) {
    state.SkipWithError(c.error.c_str());
    return;
  }
  auto client = net::HttpClient::Create(c.server->url()).value();
  net::ClientRequest submit;
  submit.method = "POST";
  submit.target = "/v1/jobs";
  submit.headers["Authorization"] = "Bearer " + c.team;
  submit.headers["Content-Type"] = "application/json";
  submit.body = R"({"team": "nlp", "profile": "1g.10gb", "command": ["sleep", "1"]})";
  std::vector<double> ack_to_wake, send_to_wake, ack;
  std::int64_t woke_before_ack = 0, lost = 0;
  for (auto _ : state) {
    for (int k = 0; k < jobs; ++k) {
      const SteadyTime sent = std::chrono::steady_clock::now();
      const Result<net::Response> r = client->Do(submit);
      const SteadyTime acked = std::chrono::steady_clock::now();
      const json j = r ? json::parse(r->body, nullptr, false) : json();
      if (!r || r->status != 201 || !j.is_object()) {
        state.SkipWithError(("submit: " + (r ? r->body : r.error().message)).c_str());
        return;
      }
      const std::optional<SteadyTime> woke =
          c.swarm->WaitForJob(std::to_string(j["id"].get<std::uint64_t>()), kWakeDeadline);
      if (!woke) {
        ++lost;
        continue;
      }
      using Ms = std::chrono::duration<double, std::milli>;
      ack.push_back(Ms(acked - sent).count());
      send_to_wake.push_back(Ms(*woke - sent).count());
      woke_before_ack += *woke < acked;
      ack_to_wake.push_back(std::max(0.0, Ms(*woke - acked).count()));
    }
  }
  const Swarm::Counts n = c.swarm->counts();
  state.counters["jobs"] = jobs;
  state.counters["not_woken"] = static_cast<double>(lost);
  state.counters["ack_to_wake_p50_ms"] = Percentile(ack_to_wake, 0.50);
  state.counters["ack_to_wake_p99_ms"] = Percentile(ack_to_wake, 0.99);
  state.counters["send_to_wake_p50_ms"] = Percentile(send_to_wake, 0.50);
  state.counters["send_to_wake_p99_ms"] = Percentile(send_to_wake, 0.99);
  state.counters["submit_ack_p50_ms"] = Percentile(ack, 0.50);
  state.counters["woke_before_ack"] = static_cast<double>(woke_before_ack);
  state.counters["nodes_woken"] = static_cast<double>(n.nodes_woken.size());
  state.counters["spurious_wakes"] = static_cast<double>(n.spurious);
  state.counters["poll_timeouts"] = static_cast<double>(n.timeouts);
  state.counters["poll_errors"] = static_cast<double>(n.errors);
}
BENCHMARK(BM_LongPollWake)
    ->ArgNames({"agents", "jobs"})
    ->Args({1000, 500})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
BENCHMARK_MAIN();
