// Test fixture and helpers shared by the supervisor tests (real processes in a temp dir).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "agent/proc.h"
#include "agent/supervisor.h"

namespace gpuslice::agent::testing {

using namespace std::chrono_literals;

namespace fs = std::filesystem;
inline std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline WorkloadSpec Spec(std::string job_id, std::vector<std::string> argv) {
  WorkloadSpec s;
  s.job_id = std::move(job_id);
  s.device_uuids = {"MIG-11111111-2222-3333-4444-555555555555"};
  s.argv = std::move(argv);
  return s;
}

inline WorkloadSpec Shell(std::string job_id, std::string script) {
  return Spec(std::move(job_id), {"/bin/sh", "-c", std::move(script)});
}

// How many live processes carry GPUSLICE_JOB_ID=<job_id> in their environment. It looks at the
// whole host, so tests that count give their jobs ids no other test uses (ctest runs in parallel).
inline int CountJobProcesses(const std::string& job_id) {
  const std::string needle = "GPUSLICE_JOB_ID=" + job_id;
  int n = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto stat = ReadProcStat(std::stoi(name));
    if (!stat || stat->state == 'Z') continue;
    const std::string env = Slurp(entry.path().string() + "/environ");
    std::size_t pos = 0;
    for (std::size_t end; (end = env.find('\0', pos)) != std::string::npos; pos = end + 1) {
      if (env.compare(pos, end - pos, needle) == 0) ++n;
    }
  }
  return n;
}

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gpuslice-supervisor-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    options_.state_dir = dir_ + "/state";
    options_.log_dir = dir_ + "/logs";
    options_.restart_backoff_initial = 1s;
  }

  void TearDown() override {
    sup_.reset();
    for (const auto& [pid, ticks] : seen_) {
      if (IsSameProcess(pid, ticks)) {
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
      }
    }
    for (const auto& [pid, ticks] : seen_) ::waitpid(pid, nullptr, 0);  // ECHILD for non-children
    for (pid_t pid : children_) ::waitpid(pid, nullptr, 0);
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    std::filesystem::remove_all(dir_);
  }

  Supervisor& Open(const Clock& clock) {
    sup_.reset();
    auto s = Supervisor::Open(options_, clock);
    EXPECT_TRUE(s) << s.error().message;
    sup_ = std::move(*s);
    return *sup_;
  }

  // Remembers a workload's process for teardown and returns its pid.
  int Track(const std::string& job_id) {
    auto st = sup_->Get(job_id);
    if (!st || !st->pid) return 0;
    auto stat = ReadProcStat(*st->pid);
    if (stat) seen_.emplace_back(*st->pid, stat->start_ticks);
    return *st->pid;
  }

  // Polls the supervisor every 5 ms until `done` holds; false after `timeout`.
  bool PollUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      EXPECT_TRUE(sup_->Poll());
      if (done()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  bool WaitState(const std::string& job_id, api::WorkloadState state) {
    return PollUntil([&] { return sup_->Get(job_id)->state == state; });
  }

  std::string LogOf(const std::string& job_id) { return Slurp(options_.log_dir + "/" + job_id + ".log"); }

  std::string dir_;
  SupervisorOptions options_;
  RealClock real_clock_;
  std::unique_ptr<Supervisor> sup_;
  std::vector<std::pair<int, std::uint64_t>> seen_;
  std::vector<pid_t> children_;
};

}  // namespace gpuslice::agent::testing
