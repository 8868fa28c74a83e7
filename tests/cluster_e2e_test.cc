// A whole cluster of real processes on loopback: `gpuslice server`, two `gpuslice agent --server`
// on simulated GPUs, and jobs submitted, listed and cancelled through the CLI until they end; and
// crash tests: `kill -9` of the server mid-burst and of an agent while its workloads run.
// Every process is started here and killed by pid (TearDown, or a ProcessGuard).
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "net/http_client.h"

extern char** environ;

namespace {

using nlohmann::json;
using ::testing::HasSubstr;

const std::string kBinary = std::string(GPUSLICE_BINARY_DIR) + "/gpuslice";

std::string Gpuslice(const std::string& args, int* exit_code = nullptr) {
  const std::string cmd = kBinary + " " + args + " 2>&1";
  std::string out;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = pclose(pipe);
  if (exit_code != nullptr) *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

pid_t Spawn(std::vector<std::string> args, const std::string& log) {
  args.insert(args.begin(), kBinary);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Starts `gpuslice server` with its data in DATA_DIR, listening on `listen` (port 0: a free one);
// returns its pid and URL (empty when it did not come up within 10 s or exited). `extra` flags go
// after the defaults.
std::pair<pid_t, std::string> StartServer(const std::string& data_dir, const std::string& log,
                                          std::vector<std::string> extra = {},
                                          const std::string& listen = "127.0.0.1:0") {
  std::vector<std::string> args{
      "server", "--data", data_dir, "--listen", listen, "--team", "nlp=A100-80GB:4000"};
  args.insert(args.end(), extra.begin(), extra.end());
  const pid_t pid = Spawn(args, log);
  static const std::regex url_re("listening on (http://127\\.0\\.0\\.1:[0-9]+)");
  for (int i = 0; i < 200; ++i) {
    std::smatch m;
    const std::string text = Slurp(log);
    if (std::regex_search(text, m, url_re)) return {pid, m[1]};
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return {-1, ""};  // it exited (and is reaped)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return {pid, ""};
}

// Starts `gpuslice agent --server` as node `node` on one simulated A100-SXM4-80GB, its state in
// DIR/<node> and its output in DIR/<node><log_suffix>.log; it stops its workloads when told to stop
// (SIGTERM), not when killed.
pid_t StartAgent(const std::string& dir, const std::string& node, const std::string& url,
                 const std::string& token, const std::string& log_suffix = "") {
  const std::string d = dir + "/" + node;
  std::filesystem::create_directories(d);
  return Spawn({"agent", "--server", url, "--token", token, "--backend", "sim", "--sim-gpus",
                "A100-SXM4-80GB:1", "--sim-state", d + "/gpus.json", "--state-dir", d, "--node", node,
                "--interval-ms", "100", "--stop-workloads-on-exit"},
               d + log_suffix + ".log");
}

// Polls `done` every 20 ms until it holds or `deadline` passes; returns its last value.
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// /proc/PID/stat's state letter; 0 when there is no such process.
char ProcState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  const std::size_t paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size() ? 0 : text[paren + 2];
}

// A live process: it exists and is not a zombie (workloads orphaned by a killed agent are
// reparented to an init that may not reap them, so an ended one can linger as a zombie).
bool Alive(pid_t pid) {
  const char s = ProcState(pid);
  return pid > 0 && ::kill(pid, 0) == 0 && s != 0 && s != 'Z' && s != 'X';
}

// Workloads started by these tests carry E2E_MARKER=<their test's temp dir> in their job's env,
// so that they are told apart from other tests' workloads with the same job ids. Returns the live
// ones with this marker: pid -> GPUSLICE_JOB_ID (which the agent gives each workload), whoever
// their parent is now.
std::map<pid_t, std::string> MarkedProcesses(const std::string& marker) {
  std::map<pid_t, std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "environ");
    std::string var, job;
    bool marked = false;
    while (std::getline(in, var, '\0')) {
      marked = marked || var == "E2E_MARKER=" + marker;
      if (var.rfind("GPUSLICE_JOB_ID=", 0) == 0) job = var.substr(16);
    }
    const pid_t pid = std::stoi(name);
    if (marked && Alive(pid)) out[pid] = job;
  }
  return out;
}

std::vector<pid_t> ProcessesOfJob(const std::string& marker, const std::string& job) {
  std::vector<pid_t> out;
  for (const auto& [pid, j] : MarkedProcesses(marker)) {
    if (j == job) out.push_back(pid);
  }
  return out;
}

// Job id -> pid of the workloads the agent's supervisor records as running in its state dir.
std::map<std::string, pid_t> RecordedWorkloads(const std::string& state_dir) {
  std::map<std::string, pid_t> out;
  const json j = json::parse(Slurp(state_dir + "/supervisor-state.json"), nullptr, false);
  if (!j.is_object() || !j.contains("workloads")) return out;
  for (const json& w : j["workloads"]) {
    if (w.value("state", "") == "running" && w.value("pid", 0) > 0)
      out[w["spec"].value("job_id", "")] = w.value("pid", 0);
  }
  return out;
}

// One REST call; the parsed body (null when it is not JSON or nothing came back) and the status.
json Call(const std::string& url, const std::string& token, const std::string& method,
          const std::string& target, const std::string& body = "", int* status = nullptr) {
  auto client = gpuslice::net::HttpClient::Create(url);
  if (!client) return json();
  gpuslice::net::ClientRequest req;
  req.method = method;
  req.target = target;
  req.headers["Authorization"] = "Bearer " + token;
  if (!body.empty()) req.headers["Content-Type"] = "application/json";
  req.body = body;
  const auto r = (*client)->Do(req);
  if (status != nullptr) *status = r ? r->status : 0;
  return r ? json::parse(r->body, nullptr, false) : json();
}

// Stops `pid` (resumed if stopped, SIGTERM, SIGKILL after 10 s) and reaps it.
void StopProcess(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGCONT);
  ::kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 200 && ::waitpid(pid, &status, WNOHANG) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
}

// Kills (SIGTERM, then SIGKILL after 10 s) and reaps every process added, last first, when it
// goes out of scope; then kills the process groups of workloads marked with `dir` left behind,
// and removes `dir`.
struct ProcessGuard {
  std::string dir;
  std::vector<pid_t> pids;
  ~ProcessGuard() {
    for (auto it = pids.rbegin(); it != pids.rend(); ++it) StopProcess(*it);
    if (dir.empty()) return;
    for (const auto& [pid, job] : MarkedProcesses(dir)) {
      ::kill(-pid, SIGKILL);  // a workload leads its own process group
      ::kill(pid, SIGKILL);
    }
    std::filesystem::remove_all(dir);
  }
};

class ClusterEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/cluster-e2e-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    const auto [server, url] = StartServer(dir_ + "/server", dir_ + "/server.log");
    pids_.push_back(server);
    url_ = url;
    ASSERT_FALSE(url_.empty()) << Slurp(dir_ + "/server.log");
    std::ifstream(dir_ + "/server/admin.token") >> admin_;
    const std::string node_token = Cli("token create --role node --name agents");
    const std::string team_token = Cli("token create --role team --name alice --team nlp");
    ASSERT_THAT(node_token, HasSubstr("gst_")) << node_token;
    node_token_ = node_token.substr(0, node_token.find('\n'));
    team_token_ = team_token.substr(0, team_token.find('\n'));
    for (const char* node : {"n1", "n2"}) pids_.push_back(StartAgent(dir_, node, url_, node_token_));
  }

  void TearDown() override {
    for (auto it = pids_.rbegin(); it != pids_.rend(); ++it) StopProcess(*it);  // agents, then the server
    std::filesystem::remove_all(dir_);
  }

  std::string Cli(const std::string& args, const std::string& token = "") {
    // The connection flags go right after the command's name (before any `-- CMD`).
    std::size_t name_end = args.find(' ');
    for (const char* group : {"token ", "node ", "team "}) {  // commands with subcommands
      if (args.rfind(group, 0) == 0) name_end = args.find(' ', name_end + 1);
    }
    const std::string flags = " --server " + url_ + " --token " + (token.empty() ? admin_ : token) + " ";
    if (name_end == std::string::npos) return Gpuslice(args + flags);
    return Gpuslice(args.substr(0, name_end) + flags + args.substr(name_end + 1));
  }

  json Jobs() {
    const json j = json::parse(Cli("ls --json"), nullptr, false);
    return j.is_discarded() ? json::object() : j;
  }

  std::string dir_, url_, admin_, node_token_, team_token_;
  std::vector<pid_t> pids_;
};

TEST_F(ClusterEndToEnd, JobsRunOnAgentsToCompletionAndCancelStopsOne) {
  // Wait for both agents to register.
  for (int i = 0; i < 200; ++i) {
    if (Cli("ls").find("ID") != std::string::npos &&
        Slurp(dir_ + "/n2.log").find("registered") != std::string::npos &&
        Slurp(dir_ + "/n1.log").find("registered") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string long_job = Cli("run --profile 3g.40gb --json -- sleep 60", team_token_);
  const json parsed = json::parse(long_job, nullptr, false);
  ASSERT_TRUE(parsed.is_object()) << long_job;
  const std::uint64_t long_id = parsed.value("id", 0);
  ASSERT_GT(long_id, 0u) << long_job;
  constexpr int kJobs = 200;
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < kJobs; ++i) {
    int code = -1;
    const std::string out =
        Gpuslice("run --server " + url_ + " --token " + team_token_ +
                     " --profile 1g.10gb -- sh -c 'echo hello from $GPUSLICE_JOB_ID; exit 0'",
                 &code);
    ASSERT_EQ(code, 0) << out;
    ids.push_back(std::strtoull(out.c_str(), nullptr, 10));
  }
  // All short jobs end (the agents run them on real processes), the long one runs.
  int succeeded = 0;
  for (int i = 0; i < 600 && succeeded < kJobs; ++i) {
    succeeded = 0;
    for (const json& j : Jobs().value("jobs", json::array()))
      succeeded += j.value("phase", "") == "succeeded";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(succeeded, kJobs) << Cli("ls") << Slurp(dir_ + "/n1.log");
  // Every job's output is on the server (shipped by its agent before it reported the end).
  for (const std::uint64_t id : ids) {
    ASSERT_EQ(Cli("logs " + std::to_string(id), team_token_), fmt::format("hello from {}\n", id));
  }
  EXPECT_THAT(Cli("show " + std::to_string(long_id)), HasSubstr(": running"));
  // Cancel: the job ends, and its process is stopped by its agent.
  EXPECT_THAT(Cli("cancel " + std::to_string(long_id), team_token_), HasSubstr("cancelled"));
  EXPECT_THAT(Cli("show " + std::to_string(long_id)), HasSubstr(": cancelled"));
  bool stopped = false;
  for (int i = 0; i < 200 && !stopped; ++i) {
    stopped =
        Slurp(dir_ + "/n1.log").find("workload " + std::to_string(long_id) + ": not desired, stopping") !=
            std::string::npos ||
        Slurp(dir_ + "/n2.log").find("workload " + std::to_string(long_id) + ": not desired, stopping") !=
            std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(stopped) << Slurp(dir_ + "/n1.log") << Slurp(dir_ + "/n2.log");
  // Bad input through the CLI: exit 2, and a precise message.
  int code = -1;
  const std::string bad = Gpuslice("run --server " + url_ + " --token " + team_token_ + " -- true", &code);
  EXPECT_EQ(code, 2) << bad;
  EXPECT_THAT(bad, HasSubstr("give a profile"));
  EXPECT_THAT(Cli("why 99999"), HasSubstr("no job 99999"));
}

TEST_F(ClusterEndToEnd, LogsFollowNodesTeamsEventsAndTopThroughTheCli) {
  ASSERT_TRUE(WaitUntil(
      [&] {
        return json::parse(Cli("node ls --json"), nullptr, false).value("nodes", json::array()).size() == 2;
      },
      std::chrono::seconds(10)));
  // Cordon n2: new work lands on n1 only.
  EXPECT_THAT(Cli("node cordon n2"), HasSubstr("GPU 0 cordoned"));
  EXPECT_THAT(Cli("node cordon n2", team_token_), HasSubstr("may not do this"));
  const std::string out =
      Cli("run --profile 1g.10gb -- sh -c 'for i in 1 2 3; do echo line $i; sleep 0.2; done; echo oops >&2; "
          "exit 4'",
          team_token_);
  const std::uint64_t id = std::strtoull(out.c_str(), nullptr, 10);
  ASSERT_GT(id, 0u) << out;
  // logs -f prints the output as it comes and returns when the job has ended.
  int code = -1;
  const std::string followed =
      Gpuslice(fmt::format("logs --server {} --token {} -f {}", url_, team_token_, id), &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(followed, "line 1\nline 2\nline 3\noops\n");
  const json job = json::parse(Cli(fmt::format("show --json {}", id)), nullptr, false);
  EXPECT_EQ(job.value("phase", ""), "failed");
  EXPECT_EQ(job.value("exit_code", 0), 4);
  EXPECT_EQ(job["slices"][0].value("node", ""), "n1");

  const json nodes = json::parse(Cli("node ls --json"), nullptr, false);
  ASSERT_EQ(nodes["nodes"].size(), 2u);
  EXPECT_EQ(nodes["nodes"][1]["gpus"][0]["mode"], "cordoned");
  EXPECT_THAT(Cli("node show n1"), HasSubstr("1g.10gb@"));
  EXPECT_THAT(Cli("node uncordon n2"), HasSubstr("GPU 0 dynamic"));
  EXPECT_THAT(Cli("node drain n9"), HasSubstr("no node 'n9'"));
  EXPECT_THAT(Cli("team ls"), HasSubstr("nlp"));
  const std::string top = Cli("top --once", team_token_);
  EXPECT_THAT(top, HasSubstr("2 nodes, 2 GPUs"));
  EXPECT_THAT(top, HasSubstr("n1"));
  // Events: the cluster's history, replayed, one JSON object per line.
  std::vector<std::string> types;
  std::istringstream lines(Cli("events --replay --json --count 5", team_token_));
  for (std::string line; std::getline(lines, line);) {
    const json e = json::parse(line, nullptr, false);
    ASSERT_TRUE(e.is_object()) << line;
    types.push_back(e.value("type", ""));
  }
  EXPECT_THAT(types, ::testing::Contains("job-started"));
  EXPECT_THAT(types, ::testing::Contains("node-registered"));
}

TEST_F(ClusterEndToEnd, PreemptionIsVisibleAndStopsTheVictimsProcess) {
  ASSERT_TRUE(WaitUntil(
      [&] {
        return json::parse(Cli("node ls --json"), nullptr, false).value("nodes", json::array()).size() == 2;
      },
      std::chrono::seconds(10)));
  // Two preemptible low-priority jobs fill both GPUs; a higher-priority one of the same team
  // takes the room of one of them.
  std::vector<std::uint64_t> low;
  for (int i = 0; i < 2; ++i) {
    const std::string out = Cli("run --profile 7g.80gb --preemptible -- sleep 60", team_token_);
    low.push_back(std::strtoull(out.c_str(), nullptr, 10));
    ASSERT_GT(low.back(), 0u) << out;
  }
  ASSERT_TRUE(WaitUntil(
      [&] {
        int running = 0;
        for (const json& j : Jobs().value("jobs", json::array()))
          running += j.value("phase", "") == "running";
        return running == 2;
      },
      std::chrono::seconds(10)))
      << Cli("ls");
  const std::string out = Cli("run --profile 7g.80gb --priority 10 -- sleep 60", team_token_);
  const std::uint64_t high = std::strtoull(out.c_str(), nullptr, 10);
  ASSERT_GT(high, 0u) << out;
  json victim;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const std::uint64_t id : low) {
          const json j = json::parse(Cli(fmt::format("show --json {}", id)), nullptr, false);
          if (j.is_object() && j.value("preemptions", 0) == 1) victim = j;
        }
        return victim.is_object() &&
               json::parse(Cli(fmt::format("show --json {}", high)), nullptr, false).value("phase", "") ==
                   "running";
      },
      std::chrono::seconds(15)))
      << Cli("ls");
  EXPECT_EQ(victim.value("phase", ""), "pending");  // back in the queue, not failed
  EXPECT_THAT(Cli(fmt::format("why {}", victim.value("id", 0))), HasSubstr("pending"));
  // The event stream says so, and the victim's agent stopped its process.
  // 2 node-registered, 3 job-submitted, 3 job-started and the job-preempted: 9 events so far.
  std::istringstream lines(Cli("events --replay --json --count 9", team_token_));
  bool preempted_event = false;
  for (std::string line; std::getline(lines, line);) {
    const json e = json::parse(line, nullptr, false);
    if (e.is_object() && e.value("type", "") == "job-preempted" &&
        e.value("job", 0ULL) == victim.value("id", 0ULL))
      preempted_event = true;
    if (e.is_object() && e.value("job", 0ULL) == high && e.value("type", "") == "job-started") break;
  }
  EXPECT_TRUE(preempted_event);
  const std::string stopping = fmt::format("workload {}: not desired, stopping", victim.value("id", 0));
  EXPECT_TRUE(WaitUntil(
      [&] {
        return Slurp(dir_ + "/n1.log").find(stopping) != std::string::npos ||
               Slurp(dir_ + "/n2.log").find(stopping) != std::string::npos;
      },
      std::chrono::seconds(10)));
  for (const std::uint64_t id : {low[0], low[1], high}) Cli(fmt::format("cancel {}", id));
}

// A job for the crash tests: `command` on a 1g.10gb slice, marked as the test's (MarkedProcesses).
std::string JobBody(const std::string& marker, const std::vector<std::string>& command) {
  return json{
      {"team", "nlp"}, {"profile", "1g.10gb"}, {"command", command}, {"env", {{"E2E_MARKER", marker}}}}
      .dump();
}

// Job id -> phase, and each id's number of entries, as the server lists them.
struct Listing {
  std::map<std::uint64_t, std::string> phase;
  std::map<std::uint64_t, int> entries;
};
Listing ListJobs(const std::string& url, const std::string& token) {
  Listing out;
  const json j = Call(url, token, "GET", "/v1/jobs");
  if (!j.is_object() || !j.contains("jobs")) return out;
  for (const json& job : j["jobs"]) {
    const std::uint64_t id = job.value("id", std::uint64_t{0});
    out.phase[id] = job.value("phase", "");
    ++out.entries[id];
  }
  return out;
}

// Lines of a file, each with its number of occurrences.
std::map<std::string, int> CountLines(const std::string& path) {
  std::map<std::string, int> out;
  std::istringstream in(Slurp(path));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) ++out[line];
  }
  return out;
}

// kill -9 of the server in the middle of a burst of 1,000 submits while two agents run its jobs
// (long ones across the crash, short ones being placed, started and ended around it); it restarts
// on the same data dir and port, the agents run on. After the restart: every acknowledged submit
// is listed, no id twice; the long jobs still run; the restarted server goes on placing queued jobs;
// no job was ever started twice (each workload logs its start to a file) and every succeeded job
// did run; and ids are not reused.
TEST(ServerCrash, AcknowledgedSubmitsSurviveKill9) {
  const std::string dir = ::testing::TempDir() + "/server-crash-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ProcessGuard guard{.dir = dir};
  auto [pid, url] = StartServer(dir + "/data", dir + "/server-1.log");
  guard.pids.push_back(pid);
  ASSERT_FALSE(url.empty()) << Slurp(dir + "/server-1.log");
  const std::string port = url.substr(url.rfind(':') + 1);
  std::string admin;
  std::ifstream(dir + "/data/admin.token") >> admin;
  const json node_token = Call(url, admin, "POST", "/v1/tokens", R"({"role": "node", "name": "agents"})");
  ASSERT_TRUE(node_token.is_object() && node_token.contains("token")) << node_token;
  for (const char* node : {"n1", "n2"}) guard.pids.push_back(StartAgent(dir, node, url, node_token["token"]));
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Slurp(dir + "/n1.log").find("registered") != std::string::npos &&
               Slurp(dir + "/n2.log").find("registered") != std::string::npos;
      },
      std::chrono::seconds(10)))
      << Slurp(dir + "/n1.log") << Slurp(dir + "/n2.log");

  // Each workload appends its job id to `ran` as it starts. Long jobs hold 6 of the 14 slices
  // across the crash; short ones churn through the other 8 (placed, started, ended, reported)
  // during the burst and after the restart.
  const std::string ran = dir + "/ran";
  auto job = [&](const std::string& seconds) {
    return JobBody(dir, {"sh", "-c", "echo $GPUSLICE_JOB_ID >> " + ran + "; exec sleep " + seconds});
  };
  constexpr int kLong = 6, kBurst = 1000, kAckedAtKill = 300;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::uint64_t> acked;
  int not_created = 0, finished = 0;
  std::atomic<int> next{0};
  // Submits `body` over one keep-alive connection until `until` submits were sent (counting all
  // threads') or one gets no answer (the server is gone).
  auto submitter = [&, url = url](int until, const std::string& body) {
    auto client = gpuslice::net::HttpClient::Create(url).value();
    gpuslice::net::ClientRequest req;
    req.method = "POST";
    req.target = "/v1/jobs";
    req.headers["Authorization"] = "Bearer " + admin;
    req.headers["Content-Type"] = "application/json";
    req.body = body;
    while (next++ < until) {
      const auto r = client->Do(req);
      if (!r) break;
      const json j = json::parse(r->body, nullptr, false);
      std::lock_guard lock(mu);
      if (r->status == 201 && j.is_object() && j.contains("id")) {
        acked.push_back(j["id"].get<std::uint64_t>());
      } else {
        ++not_created;
      }
      cv.notify_all();
    }
    std::lock_guard lock(mu);
    ++finished;
    cv.notify_all();
  };
  submitter(kLong, job("30"));
  ASSERT_EQ(acked.size(), static_cast<std::size_t>(kLong));
  ASSERT_TRUE(WaitUntil([&] { return CountLines(ran).size() == kLong; }, std::chrono::seconds(15)))
      << Slurp(dir + "/n1.log") << Slurp(dir + "/n2.log");
  const std::vector<std::uint64_t> long_jobs = acked;

  // The burst, from 8 threads; kill -9 once 300 of it were acknowledged.
  finished = 0;
  next = kLong;
  std::vector<std::thread> submitters;
  for (int t = 0; t < 8; ++t) submitters.emplace_back(submitter, kLong + kBurst, job("0.2"));
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(30),
                [&] { return acked.size() >= kLong + kAckedAtKill || finished == 8; });
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  guard.pids[0] = -1;
  for (std::thread& t : submitters) t.join();
  const int attempted = std::min(next.load(), kLong + kBurst);
  ASSERT_GE(acked.size(), static_cast<std::size_t>(kLong + kAckedAtKill));
  ASSERT_LT(acked.size(), static_cast<std::size_t>(kLong + kBurst)) << "the burst ended before the kill";
  EXPECT_EQ(not_created, 0);
  const std::size_t ran_at_kill = CountLines(ran).size();

  // Restarted on the same data dir and port (the agents know only that URL).
  auto [pid2, url2] = StartServer(dir + "/data", dir + "/server-2.log", {}, "127.0.0.1:" + port);
  guard.pids.push_back(pid2);
  ASSERT_FALSE(url2.empty()) << Slurp(dir + "/server-2.log");
  const Listing jobs = ListJobs(url2, admin);
  for (std::uint64_t id : acked) {
    EXPECT_TRUE(jobs.entries.contains(id)) << "acknowledged job " << id << " was lost";
  }
  for (const auto& [id, n] : jobs.entries) EXPECT_EQ(n, 1) << "job " << id << " is listed " << n << " times";
  EXPECT_LE(jobs.entries.size(), static_cast<std::size_t>(attempted));
  auto phase_of = [](const Listing& l, std::uint64_t id) {
    return l.phase.contains(id) ? l.phase.at(id) : std::string("(not listed)");
  };
  for (std::uint64_t id : long_jobs) EXPECT_EQ(phase_of(jobs, id), "running") << id;

  // The restarted server goes on placing queued jobs and the agents run them.
  EXPECT_TRUE(WaitUntil([&] { return CountLines(ran).size() >= ran_at_kill + 16; }, std::chrono::seconds(20)))
      << CountLines(ran).size() << " started, " << ran_at_kill << " at the kill\n"
      << Slurp(dir + "/server-2.log") << Slurp(dir + "/n1.log");
  const std::map<std::string, int> started = CountLines(ran);
  for (const auto& [id, n] : started) EXPECT_EQ(n, 1) << "job " << id << " started " << n << " times";
  const Listing now = ListJobs(url2, admin);
  for (std::uint64_t id : long_jobs) EXPECT_EQ(phase_of(now, id), "running") << id;
  for (const auto& [id, phase] : now.phase) {
    if (phase == "succeeded") {
      EXPECT_TRUE(started.contains(std::to_string(id))) << "job " << id << " never ran";
    }
  }
  const json next_job = Call(url2, admin, "POST", "/v1/jobs", job("0.2"));
  ASSERT_TRUE(next_job.is_object() && next_job.contains("id")) << next_job;
  EXPECT_GT(next_job["id"].get<std::uint64_t>(), jobs.entries.rbegin()->first);  // ids are never reused
}

// An agent stopped (SIGSTOP) past the grace period: its node is declared lost and its job runs
// elsewhere; when it wakes up it registers again and is fenced (told to stop its stale workload).
TEST(NodeLoss, AStoppedAgentsJobMovesAndTheAgentIsFencedOnReturn) {
  const std::string dir = ::testing::TempDir() + "/node-loss-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::vector<pid_t> pids;
  const auto [server, url] = StartServer(dir + "/data", dir + "/server.log", {"--node-grace-s", "2"});
  pids.push_back(server);
  ASSERT_FALSE(url.empty());
  std::string admin;
  std::ifstream(dir + "/data/admin.token") >> admin;
  const std::string auth = " --server " + url + " --token " + admin + " ";
  std::string node_token = Gpuslice("token create" + auth + "--role node --name agents");
  node_token = node_token.substr(0, node_token.find('\n'));
  auto agent = [&](int n) { return StartAgent(dir, "n" + std::to_string(n), url, node_token); };
  pids.push_back(agent(1));
  for (int i = 0; i < 200 && Slurp(dir + "/n1.log").find("registered") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const json submitted =
      json::parse(Gpuslice("run" + auth + "--team nlp --profile 7g.80gb --json -- sleep 60"), nullptr, false);
  ASSERT_TRUE(submitted.is_object());
  const std::string id = std::to_string(submitted.value("id", 0));
  auto where = [&] {
    const json j = json::parse(Gpuslice("show" + auth + "--json " + id), nullptr, false);
    return j.is_object() && j.value("phase", "") == "running" ? j["slices"][0].value("node", "")
                                                              : std::string();
  };
  for (int i = 0; i < 200 && where() != "n1"; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(where(), "n1");
  for (int i = 0; i < 200 && Slurp(dir + "/n1.log").find("workload " + id + ": started") == std::string::npos;
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  pids.push_back(agent(2));
  ::kill(pids[1], SIGSTOP);
  std::string now_on;
  for (int i = 0; i < 200 && now_on != "n2"; ++i) {
    now_on = where();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(now_on, "n2") << Slurp(dir + "/server.log");
  EXPECT_THAT(Slurp(dir + "/server.log"), HasSubstr("node n1 lost"));
  ::kill(pids[1], SIGCONT);
  bool fenced = false;
  for (int i = 0; i < 300 && !fenced; ++i) {
    fenced = Slurp(dir + "/n1.log").find("workload " + id + ": not desired, stopping") != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(fenced) << Slurp(dir + "/n1.log");
  // Agents stop their workloads on SIGTERM (--stop-workloads-on-exit); SIGKILL only if they hang.
  for (auto it = pids.rbegin(); it != pids.rend(); ++it) StopProcess(*it);
  std::filesystem::remove_all(dir);
}

// kill -9 of an agent (server mode) while its workloads run: the workloads keep running; the agent
// restarted on the same state dir re-adopts them (the same pids, nothing started twice) and the
// server keeps the jobs running on the node; cancelling the jobs then stops the adopted processes.
TEST(AgentCrash, WorkloadsSurviveKill9AndAreReadoptedNotStartedTwice) {
  const std::string dir = ::testing::TempDir() + "/agent-crash-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ProcessGuard guard{.dir = dir};
  const auto [server, url] = StartServer(dir + "/data", dir + "/server.log");
  guard.pids.push_back(server);
  ASSERT_FALSE(url.empty()) << Slurp(dir + "/server.log");
  std::string admin;
  std::ifstream(dir + "/data/admin.token") >> admin;
  const json node_token = Call(url, admin, "POST", "/v1/tokens", R"({"role": "node", "name": "n1"})");
  ASSERT_TRUE(node_token.is_object() && node_token.contains("token")) << node_token;
  const std::string state_dir = dir + "/n1";
  const pid_t agent = StartAgent(dir, "n1", url, node_token["token"]);
  guard.pids.push_back(agent);
  ASSERT_TRUE(WaitUntil([&] { return Slurp(dir + "/n1.log").find("registered") != std::string::npos; },
                        std::chrono::seconds(10)))
      << Slurp(dir + "/n1.log");
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    const json j = Call(url, admin, "POST", "/v1/jobs", JobBody(dir, {"sleep", "30"}));
    ASSERT_TRUE(j.is_object() && j.contains("id")) << j;
    ids.push_back(std::to_string(j["id"].get<std::uint64_t>()));
  }
  auto on_n1 = [&](const std::string& id) {
    const json j = Call(url, admin, "GET", "/v1/jobs/" + id);
    return j.is_object() && j.value("phase", "") == "running" && j["slices"].size() == 1 &&
           j["slices"][0].value("node", "") == "n1";
  };
  std::map<std::string, pid_t> pids;
  ASSERT_TRUE(WaitUntil(
      [&] {
        pids = RecordedWorkloads(state_dir);
        return pids.size() == 2 && std::all_of(ids.begin(), ids.end(), [&](const std::string& id) {
                 return pids.contains(id) && ProcessesOfJob(dir, id) == std::vector<pid_t>{pids[id]};
               });
      },
      std::chrono::seconds(15)))
      << Slurp(dir + "/n1.log");
  for (const std::string& id : ids) {
    EXPECT_TRUE(on_n1(id)) << id;
    EXPECT_TRUE(Alive(pids[id])) << id;
    EXPECT_THAT(ProcessesOfJob(dir, id), ::testing::ElementsAre(pids[id])) << id;
  }

  ::kill(agent, SIGKILL);
  ::waitpid(agent, nullptr, 0);
  guard.pids.back() = -1;
  for (const std::string& id : ids) {
    EXPECT_TRUE(Alive(pids[id])) << "job " << id << "'s workload died with its agent";
    EXPECT_THAT(ProcessesOfJob(dir, id), ::testing::ElementsAre(pids[id])) << id;
  }

  // The restarted agent writes actual.json after its first pass over the server's desired state.
  std::filesystem::remove(state_dir + "/actual.json");
  guard.pids.push_back(StartAgent(dir, "n1", url, node_token["token"], "-2"));
  const std::string log2 = dir + "/n1-2.log";
  auto actual_pids = [&] {
    std::map<std::string, std::int64_t> out;
    const json j = json::parse(Slurp(state_dir + "/actual.json"), nullptr, false);
    if (!j.is_object() || !j.contains("workloads")) return out;
    for (const json& w : j["workloads"]) {
      if (w.value("state", "") == "running") out[w.value("job_id", "")] = w.value("pid", std::int64_t{0});
    }
    return out;
  };
  EXPECT_TRUE(WaitUntil(
      [&] {
        const std::map<std::string, std::int64_t> a = actual_pids();
        return a.size() == 2 && a.contains(ids[0]) && a.contains(ids[1]);
      },
      std::chrono::seconds(15)))
      << Slurp(log2);
  const std::string text = Slurp(log2);
  EXPECT_THAT(text, HasSubstr("registered"));
  const std::map<std::string, std::int64_t> actual = actual_pids();
  for (const std::string& id : ids) {
    EXPECT_THAT(text, HasSubstr("workload " + id + ": re-adopted (pid " + std::to_string(pids[id]) + ")"));
    EXPECT_THAT(text, ::testing::Not(HasSubstr("workload " + id + ": started"))) << text;
    EXPECT_EQ(actual.count(id) ? actual.at(id) : 0, pids[id]) << id;
    EXPECT_EQ(RecordedWorkloads(state_dir)[id], pids[id]) << id;
    EXPECT_THAT(ProcessesOfJob(dir, id), ::testing::ElementsAre(pids[id])) << id;
    EXPECT_TRUE(on_n1(id)) << id << Slurp(dir + "/server.log");
  }

  // Cancelled, the jobs' adopted processes are stopped by the restarted agent.
  for (const std::string& id : ids) {
    int status = 0;
    Call(url, admin, "POST", "/v1/jobs/" + id + "/cancel", "", &status);
    EXPECT_EQ(status, 200) << id;
  }
  EXPECT_TRUE(
      WaitUntil([&] { return !Alive(pids[ids[0]]) && !Alive(pids[ids[1]]); }, std::chrono::seconds(20)))
      << Slurp(log2);
  for (const std::string& id : ids) {
    EXPECT_THAT(ProcessesOfJob(dir, id), ::testing::IsEmpty()) << id;
    EXPECT_THAT(Slurp(log2), HasSubstr("workload " + id + ": not desired, stopping"));
    EXPECT_EQ(Call(url, admin, "GET", "/v1/jobs/" + id).value("phase", ""), "cancelled") << id;
  }
  EXPECT_TRUE(WaitUntil([&] { return RecordedWorkloads(state_dir).empty(); }, std::chrono::seconds(10)))
      << Slurp(state_dir + "/supervisor-state.json");
}

}  // namespace
