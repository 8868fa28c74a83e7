// Crash test with real processes: `gpuslice agent` is killed with SIGKILL while it runs a
// workload, started again on the same state dir, and must neither duplicate the instance nor lose
// or restart the workload.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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

  pid_t StartAgent(const std::string& log) {
    const std::string bin = std::string(GPUSLICE_BINARY_DIR) + "/gpuslice";
    std::vector<std::string> args = {bin,
                                     "agent",
                                     "--backend",
                                     "sim",
                                     "--sim-gpus",
                                     "A100-SXM4-80GB:1",
                                     "--sim-state",
                                     dir_ + "/sim.json",
                                     "--desired",
                                     dir_ + "/desired.json",
                                     "--state-dir",
                                     dir_ + "/state",
                                     "--interval-ms",
                                     "50"};
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
