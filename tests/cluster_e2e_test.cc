// A whole cluster of real processes on loopback: `gpuslice server`, two `gpuslice agent --server`
// on simulated GPUs, and jobs submitted, listed and cancelled through the CLI until they end.
// Every process is started here and killed by pid in TearDown.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

// Starts `gpuslice server` on a free port with its data in DATA_DIR; returns its pid and URL
// (empty when it did not come up within 10 s). `extra` flags go after the defaults.
std::pair<pid_t, std::string> StartServer(const std::string& data_dir, const std::string& log,
                                          std::vector<std::string> extra = {}) {
  std::vector<std::string> args{
      "server", "--data", data_dir, "--listen", "127.0.0.1:0", "--team", "nlp=A100-80GB:4000"};
  args.insert(args.end(), extra.begin(), extra.end());
  const pid_t pid = Spawn(args, log);
  static const std::regex url_re("listening on (http://127\\.0\\.0\\.1:[0-9]+)");
  for (int i = 0; i < 200; ++i) {
    std::smatch m;
    const std::string text = Slurp(log);
    if (std::regex_search(text, m, url_re)) return {pid, m[1]};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return {pid, ""};
}

// Starts `gpuslice agent --server` as node `node` on one simulated A100-SXM4-80GB, its state in
// DIR/<node>; it stops its workloads when told to stop.
pid_t StartAgent(const std::string& dir, const std::string& node, const std::string& url,
                 const std::string& token) {
  const std::string d = dir + "/" + node;
  std::filesystem::create_directories(d);
  return Spawn({"agent", "--server", url, "--token", token, "--backend", "sim", "--sim-gpus",
                "A100-SXM4-80GB:1", "--sim-state", d + "/gpus.json", "--state-dir", d, "--node", node,
                "--interval-ms", "100", "--stop-workloads-on-exit"},
               d + ".log");
}

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
    for (auto it = pids_.rbegin(); it != pids_.rend(); ++it) ::kill(*it, SIGTERM);
    for (pid_t p : pids_) {
      int status = 0;
      for (int i = 0; i < 100 && ::waitpid(p, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ::kill(p, SIGKILL);
      ::waitpid(p, &status, 0);
    }
    std::filesystem::remove_all(dir_);
  }

  std::string Cli(const std::string& args, const std::string& token = "") {
    // The connection flags go right after the command's name (before any `-- CMD`).
    std::size_t name_end = args.find(' ');
    if (args.rfind("token create", 0) == 0) name_end = args.find(' ', name_end + 1);
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
  constexpr int kJobs = 30;
  for (int i = 0; i < kJobs; ++i) {
    int code = -1;
    const std::string out = Gpuslice("run --server " + url_ + " --token " + team_token_ +
                                         " --profile 1g.10gb -- sh -c 'echo hello; exit 0'",
                                     &code);
    ASSERT_EQ(code, 0) << out;
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

// kill -9 of the server in the middle of a burst of submits: after a restart on the same data dir
// every submit that was acknowledged is there, and ids are not reused.
TEST(ServerCrash, AcknowledgedSubmitsSurviveKill9) {
  const std::string dir = ::testing::TempDir() + "/server-crash-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto start = [&](const std::string& log) { return StartServer(dir + "/data", log); };
  auto [pid, url] = start(dir + "/server-1.log");
  ASSERT_FALSE(url.empty()) << Slurp(dir + "/server-1.log");
  std::string admin;
  std::ifstream(dir + "/data/admin.token") >> admin;
  // Submit from 4 threads, each recording the ids the server acknowledged, until the kill.
  std::mutex mu;
  std::vector<std::uint64_t> acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> submitters;
  for (int t = 0; t < 4; ++t) {
    submitters.emplace_back([&, url = url] {
      while (!stop) {
        const std::string out = Gpuslice("run --server " + url + " --token " + admin +
                                         " --team nlp --profile 1g.10gb --json -- true");
        const json j = json::parse(out, nullptr, false);
        if (j.is_object() && j.contains("id")) {
          std::lock_guard lock(mu);
          acked.push_back(j["id"]);
        }
      }
    });
  }
  for (int i = 0; i < 400; ++i) {
    {
      std::lock_guard lock(mu);
      if (acked.size() >= 60) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  stop = true;
  for (std::thread& t : submitters) t.join();
  ASSERT_GE(acked.size(), 20u);

  auto [pid2, url2] = start(dir + "/server-2.log");
  ASSERT_FALSE(url2.empty()) << Slurp(dir + "/server-2.log");
  const json jobs = json::parse(Gpuslice("ls --json --server " + url2 + " --token " + admin), nullptr, false);
  ASSERT_TRUE(jobs.is_object());
  std::set<std::uint64_t> present;
  for (const json& j : jobs["jobs"]) present.insert(j.value("id", std::uint64_t{0}));
  for (std::uint64_t id : acked)
    EXPECT_TRUE(present.contains(id)) << "acknowledged job " << id << " was lost";
  const json next = json::parse(
      Gpuslice("run --server " + url2 + " --token " + admin + " --team nlp --profile 1g.10gb --json -- true"),
      nullptr, false);
  ASSERT_TRUE(next.is_object());
  EXPECT_GT(next.value("id", std::uint64_t{0}), *present.rbegin());  // ids are never reused
  ::kill(pid2, SIGTERM);
  ::waitpid(pid2, nullptr, 0);
  std::filesystem::remove_all(dir);
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
  for (auto it = pids.rbegin(); it != pids.rend(); ++it) {
    ::kill(*it, SIGCONT);
    ::kill(*it, SIGTERM);
    int status = 0;
    for (int i = 0; i < 200 && ::waitpid(*it, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::kill(*it, SIGKILL);
    ::waitpid(*it, &status, 0);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
