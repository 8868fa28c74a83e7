// Crash tests with real processes: `gpuslice agent` is killed with SIGKILL while it runs a
// workload, and again and again in the middle of reconcile passes that create 28 MIG instances
// and start 28 workloads; each time it is started again on the same state dir and must neither
// duplicate an instance nor lose, orphan or start twice a workload.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/proc.h"
#include "api/node_state.h"
#include "gpu/sim_backend.h"

namespace gpuslice::agent {
namespace {

using namespace std::chrono_literals;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class AgentCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gpuslice-agent-crash-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    job_ = "crash-job-" + std::to_string(::getpid());
    std::ofstream(dir_ + "/desired.json") << R"({"node": "n1", "generation": 3,
      "instances": [{"gpu_index": 0, "profile": "1g.10gb", "start": 2, "key": "k-crash"}],
      "workloads": [{"job_id": ")" + job_ + R"(", "instance_keys": ["k-crash"],
                     "argv": ["sleep", "30"], "grace_period_ms": 100}]})";
  }

  void TearDown() override {
    for (pid_t pid : agents_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    for (int pid : workloads_) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  pid_t StartAgent(const std::string& log, const std::string& gpus = "A100-SXM4-80GB:1") {
    const std::string bin = std::string(GPUSLICE_BINARY_DIR) + "/gpuslice";
    std::vector<std::string> args = {
        bin,           "agent",         "--backend",        "sim",       "--sim-gpus",
        gpus,          "--sim-state",   dir_ + "/sim.json", "--desired", dir_ + "/desired.json",
        "--state-dir", dir_ + "/state", "--interval-ms",    "50"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    agents_.push_back(pid);
    return pid;
  }

  // Waits until actual.json reports the job running; returns its pid (0 on timeout).
  int WaitRunning() {
    for (int i = 0; i < 1000; ++i) {
      auto actual = api::ParseActualNodeState(Slurp(dir_ + "/state/actual.json"));
      if (actual) {
        for (const api::ActualWorkload& w : actual->workloads) {
          if (w.job_id == job_ && w.state == api::WorkloadState::kRunning && w.pid)
            return static_cast<int>(*w.pid);
        }
      }
      std::this_thread::sleep_for(10ms);
    }
    return 0;
  }

  std::string dir_, job_;
  std::vector<pid_t> agents_;
  std::vector<int> workloads_;
};

TEST_F(AgentCrashTest, KillNineThenRestartAdoptsWithoutDuplicates) {
  const pid_t first = StartAgent(dir_ + "/agent1.log");
  const int pid = WaitRunning();
  ASSERT_GT(pid, 0) << Slurp(dir_ + "/agent1.log");
  workloads_.push_back(pid);

  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_EQ(::waitpid(first, nullptr, 0), first);
  agents_.clear();
  ASSERT_EQ(::kill(pid, 0), 0) << "the workload must outlive the agent";

  std::filesystem::remove(dir_ + "/state/actual.json");
  const pid_t second = StartAgent(dir_ + "/agent2.log");
  const int again = WaitRunning();
  EXPECT_EQ(again, pid) << Slurp(dir_ + "/agent2.log");
  if (again > 0 && again != pid) workloads_.push_back(again);
  // Let it run a few more passes, then look at the simulated hardware.
  std::this_thread::sleep_for(200ms);
  auto sim = gpu::SimBackend::Open({.state_file = dir_ + "/sim.json", .read_only = true});
  ASSERT_TRUE(sim) << sim.error().error.message;
  auto instances = (*sim)->Instances(0);
  ASSERT_TRUE(instances);
  ASSERT_EQ(instances->size(), 1u);
  EXPECT_EQ((*instances)[0].placement.start, 2);
  EXPECT_NE(Slurp(dir_ + "/agent2.log").find("re-adopted"), std::string::npos) << Slurp(dir_ + "/agent2.log");

  // SIGTERM stops the agent cleanly and leaves the workload running.
  ASSERT_EQ(::kill(second, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(second, &status, 0), second);
  agents_.clear();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(::kill(pid, 0), 0);
}

// Every process whose environment carries GPUSLICE_JOB_ID=<prefix>…, by pid: the workloads of
// this test, wherever they came from (a duplicate start or an orphan shows up here too).
std::map<int, std::string> ProcessesOfJobs(const std::string& prefix) {
  std::map<int, std::string> out;
  const std::string needle = "GPUSLICE_JOB_ID=" + prefix;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string env = Slurp(entry.path().string() + "/environ");
    for (std::size_t at = 0; at < env.size();) {
      const std::size_t end = env.find('\0', at);
      const std::string var = env.substr(at, end == std::string::npos ? std::string::npos : end - at);
      if (var.rfind(needle, 0) == 0)
        out[std::stoi(name)] = var.substr(std::string("GPUSLICE_JOB_ID=").size());
      if (end == std::string::npos) break;
      at = end + 1;
    }
  }
  return out;
}

TEST_F(AgentCrashTest, KillNineInTheMiddleOfReconcilesConvergesWithoutDuplicatesOrOrphans) {
  constexpr int kGpus = 4, kPerGpu = 7, kTotal = kGpus * kPerGpu;  // 7 x 1g.10gb fill an A100-80GB
  const std::string prefix = "mid-" + std::to_string(::getpid()) + "-";
  std::string instances, workloads;
  for (int g = 0; g < kGpus; ++g) {
    for (int i = 0; i < kPerGpu; ++i) {
      const std::string key = fmt::format("k{}-{}", g, i);
      instances += fmt::format(R"({}{{"gpu_index": {}, "profile": "1g.10gb", "start": {}, "key": "{}"}})",
                               instances.empty() ? "" : ",", g, i, key);
      workloads += fmt::format(
          R"({}{{"job_id": "{}{}", "instance_keys": ["{}"], "grace_period_ms": 100,
              "argv": ["sh", "-c", "echo $GPUSLICE_JOB_ID >> {}/started; exec sleep 60"]}})",
          workloads.empty() ? "" : ",", prefix, key, key, dir_);
    }
  }
  std::ofstream(dir_ + "/desired.json") << fmt::format(
      R"({{"node": "n1", "generation": 7, "instances": [{}], "workloads": [{}]}})", instances, workloads);
  const std::string gpus = fmt::format("A100-SXM4-80GB:{}", kGpus);
  auto created = [&] {
    auto sim = gpu::SimBackend::Open({.state_file = dir_ + "/sim.json", .read_only = true});
    int n = 0;
    for (int g = 0; sim && g < kGpus; ++g) {
      if (auto in = (*sim)->Instances(g); in) n += static_cast<int>(in->size());
    }
    return n;
  };
  auto started = [&] {
    std::istringstream lines(Slurp(dir_ + "/started"));
    int n = 0;
    for (std::string line; std::getline(lines, line);) ++n;
    return n;
  };
  // Kill points: part of the instances created, then part of the workloads started. Wherever
  // the kill lands, the checks below must hold.
  const std::vector<std::pair<int, int>> kill_at = {{3, 0}, {12, 0}, {21, 0}, {kTotal, 4}, {kTotal, 16}};
  int round = 0;
  for (const auto& [want_created, want_started] : kill_at) {
    const pid_t agent = StartAgent(fmt::format("{}/agent-{}.log", dir_, round++), gpus);
    for (int i = 0; i < 20'000 && (created() < want_created || started() < want_started); ++i)
      std::this_thread::sleep_for(1ms);
    ASSERT_EQ(::kill(agent, SIGKILL), 0);
    ASSERT_EQ(::waitpid(agent, nullptr, 0), agent);
    agents_.clear();
  }
  std::filesystem::remove(dir_ + "/state/actual.json");
  const pid_t last = StartAgent(dir_ + "/agent-final.log", gpus);
  (void)last;
  std::optional<api::ActualNodeState> converged;
  std::string not_running;  // for the failure message
  for (int i = 0; i < 3000 && !converged; ++i) {
    auto actual = api::ParseActualNodeState(Slurp(dir_ + "/state/actual.json"));
    not_running.clear();
    for (const api::ActualWorkload& w : actual ? actual->workloads : std::vector<api::ActualWorkload>{}) {
      if (w.state != api::WorkloadState::kRunning)
        not_running += fmt::format("\n{}: {} {}", w.job_id, api::WorkloadStateName(w.state), w.message);
    }
    if (actual && actual->generation_applied == 7 && actual->workloads.size() == kTotal &&
        std::all_of(actual->workloads.begin(), actual->workloads.end(),
                    [](const api::ActualWorkload& w) { return w.state == api::WorkloadState::kRunning; }))
      converged = std::move(*actual);
    else
      std::this_thread::sleep_for(10ms);
  }
  const std::map<int, std::string> procs = ProcessesOfJobs(prefix);
  for (const auto& [pid, job] : procs) workloads_.push_back(pid);  // cleaned up in TearDown
  ASSERT_TRUE(converged) << not_running << "\n" << Slurp(dir_ + "/agent-final.log");

  // The hardware: exactly the desired instances, once each.
  auto sim = gpu::SimBackend::Open({.state_file = dir_ + "/sim.json", .read_only = true});
  ASSERT_TRUE(sim);
  for (int g = 0; g < kGpus; ++g) {
    std::set<int> starts;
    for (const gpu::Instance& in : (*sim)->Instances(g).value()) {
      EXPECT_EQ(in.profile, "1g.10gb");
      EXPECT_TRUE(starts.insert(in.placement.start).second) << "GPU " << g << " start " << in.placement.start;
    }
    EXPECT_EQ(starts.size(), static_cast<std::size_t>(kPerGpu)) << "GPU " << g;
  }
  // The workloads: each started exactly once, running as the pid the agent reports, and no
  // process of this test's jobs that the agent does not know (an orphan or a duplicate).
  std::map<std::string, int> starts_per_job;
  {
    std::istringstream lines(Slurp(dir_ + "/started"));
    for (std::string line; std::getline(lines, line);) ++starts_per_job[line];
  }
  EXPECT_EQ(starts_per_job.size(), static_cast<std::size_t>(kTotal));
  for (const auto& [job, n] : starts_per_job) EXPECT_EQ(n, 1) << job << " started " << n << " times";
  std::set<int> reported;
  for (const api::ActualWorkload& w : converged->workloads) {
    ASSERT_TRUE(w.pid) << w.job_id;
    reported.insert(static_cast<int>(*w.pid));
    const auto it = procs.find(static_cast<int>(*w.pid));
    EXPECT_TRUE(it != procs.end() && it->second == w.job_id) << w.job_id << " pid " << *w.pid;
  }
  for (const auto& [pid, job] : procs)
    EXPECT_TRUE(reported.contains(pid)) << "unknown process " << pid << " of " << job;
}

// Faults through the real binaries: creates that fail are reported and retried until they
// succeed, and a GPU lost under a running workload is reported lost with its workload failed,
// while the other GPU's workload runs on.
TEST_F(AgentCrashTest, InjectedFaultsAreRetriedOrReported) {
  const std::string prefix = "fault-" + std::to_string(::getpid()) + "-";
  std::ofstream(dir_ + "/desired.json") << fmt::format(
      R"({{"node": "n1", "generation": 2,
      "instances": [{{"gpu_index": 0, "profile": "1g.10gb", "start": 0, "key": "a"}},
                    {{"gpu_index": 1, "profile": "1g.10gb", "start": 0, "key": "b"}}],
      "workloads": [{{"job_id": "{0}a", "instance_keys": ["a"], "argv": ["sleep", "60"]}},
                    {{"job_id": "{0}b", "instance_keys": ["b"], "argv": ["sleep", "60"]}}]}})",
      prefix);
  ASSERT_TRUE(gpu::SimBackend::Open({.gpus = "A100-SXM4-80GB:2", .state_file = dir_ + "/sim.json"}));
  auto gpuslice = [&](const std::string& args) {
    return std::system(
        (std::string(GPUSLICE_BINARY_DIR) + "/gpuslice " + args + " >>" + dir_ + "/cli.log 2>&1").c_str());
  };
  ASSERT_EQ(gpuslice("gpu fault --sim-state " + dir_ + "/sim.json --fail-creates 2"), 0)
      << Slurp(dir_ + "/cli.log");
  StartAgent(dir_ + "/agent.log", "A100-SXM4-80GB:2");
  auto workload = [&](const api::ActualNodeState& a, const std::string& job) -> const api::ActualWorkload* {
    for (const api::ActualWorkload& w : a.workloads) {
      if (w.job_id == job) return &w;
    }
    return nullptr;
  };
  // Both run once the two failed creates have been retried (backoff 1 s, then 2 s).
  bool running = false;
  for (int i = 0; i < 1500 && !running; ++i) {
    auto a = api::ParseActualNodeState(Slurp(dir_ + "/state/actual.json"));
    const api::ActualWorkload* wa = a ? workload(*a, prefix + "a") : nullptr;
    const api::ActualWorkload* wb = a ? workload(*a, prefix + "b") : nullptr;
    running = wa != nullptr && wb != nullptr && wa->state == api::WorkloadState::kRunning &&
              wb->state == api::WorkloadState::kRunning;
    if (!running) std::this_thread::sleep_for(10ms);
  }
  for (const auto& [pid, job] : ProcessesOfJobs(prefix)) workloads_.push_back(pid);
  ASSERT_TRUE(running) << Slurp(dir_ + "/agent.log");
  EXPECT_NE(Slurp(dir_ + "/agent.log").find("failed (1 time)"), std::string::npos)
      << Slurp(dir_ + "/agent.log");

  ASSERT_EQ(gpuslice("gpu fault --sim-state " + dir_ + "/sim.json --lose 1"), 0) << Slurp(dir_ + "/cli.log");
  bool reported = false;
  api::ActualNodeState last;
  for (int i = 0; i < 1000 && !reported; ++i) {
    auto a = api::ParseActualNodeState(Slurp(dir_ + "/state/actual.json"));
    if (a) {
      last = *a;
      const api::ActualWorkload* wa = workload(*a, prefix + "a");
      const api::ActualWorkload* wb = workload(*a, prefix + "b");
      reported = a->gpus.size() == 2 && a->gpus[1].health == api::GpuHealth::kLost && wb != nullptr &&
                 wb->state == api::WorkloadState::kFailed && wa != nullptr &&
                 wa->state == api::WorkloadState::kRunning && a->gpus[0].health == api::GpuHealth::kOk;
    }
    if (!reported) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(reported) << api::ToJson(last).dump(2) << Slurp(dir_ + "/agent.log");
}

#ifdef GPUSLICE_FAKE_NVML_PATH
// "gpuslice never changes MIG state nobody told it to": over NVML (the fake library here) the
// agent creates instances only with --manage-mig.
TEST_F(AgentCrashTest, NvmlBackendChangesMigOnlyWithManageMig) {
  std::ofstream(dir_ + "/desired.json") << R"({"node": "n1", "generation": 1,
      "instances": [{"gpu_index": 0, "profile": "1g.10gb", "start": 2, "key": "k-nvml"}], "workloads": []})";
  ASSERT_TRUE(gpu::SimBackend::Open({.gpus = "A100-SXM4-80GB:1", .state_file = dir_ + "/sim.json"}));
  ::setenv("GPUSLICE_FAKE_NVML_STATE", (dir_ + "/sim.json").c_str(), 1);
  const std::string cmd = std::string(GPUSLICE_BINARY_DIR) +
                          "/gpuslice agent --backend nvml --nvml-library " + GPUSLICE_FAKE_NVML_PATH +
                          " --desired " + dir_ + "/desired.json --state-dir " + dir_ + "/state --once 2>>" +
                          dir_ + "/agent.log";
  auto count = [&] {
    auto sim = gpu::SimBackend::Open({.state_file = dir_ + "/sim.json", .read_only = true});
    return sim ? (*sim)->Instances(0).value_or(std::vector<gpu::Instance>{}).size() : 99u;
  };
  int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status << Slurp(dir_ + "/agent.log");
  EXPECT_EQ(count(), 0u);
  EXPECT_NE(Slurp(dir_ + "/agent.log").find("MIG not managed"), std::string::npos)
      << Slurp(dir_ + "/agent.log");
  status = std::system((cmd + " --manage-mig").c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << Slurp(dir_ + "/agent.log");
  EXPECT_EQ(count(), 1u);
}
#endif

}  // namespace
}  // namespace gpuslice::agent
