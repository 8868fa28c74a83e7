// Test fixture shared by the reconciler tests: a SimBackend, a Supervisor and a FakeClock in a
// temp dir; every process a test starts is killed by pid in TearDown.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/reconciler.h"
#include "agent/supervisor.h"
#include "gpu/sim_backend.h"

namespace gpuslice::agent::testing {

class ReconcilerTestBase : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gpuslice-reconciler-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }

  void TearDown() override {
    if (sup_) {
      for (const WorkloadStatus& s : sup_->List()) {
        if (s.pid) pids_.insert(*s.pid);
      }
    }
    rec_.reset();
    sup_.reset();
    for (int pid : pids_) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Open(const std::string& gpus = "A100-SXM4-80GB:2", ReconcilerOptions options = {}) {
    auto b = gpu::SimBackend::Open({.gpus = gpus, .state_file = dir_ + "/sim.json"});
    ASSERT_TRUE(b) << b.error().error.message;
    backend_ = std::move(*b);
    auto s = Supervisor::Open({.state_dir = dir_ + "/state", .log_dir = dir_ + "/logs"}, clock_);
    ASSERT_TRUE(s) << s.error().message;
    sup_ = std::move(*s);
    options.log = [this](LogLevel l, std::string_view m) {
      log_.push_back(std::string(LogLevelName(l)) + ": " + std::string(m));
    };
    rec_ = std::make_unique<Reconciler>(*backend_, *sup_, clock_, std::move(options));
  }

  ReconcileReport Pass() {
    ReconcileReport r = rec_->Reconcile(desired_);
    for (const WorkloadStatus& s : sup_->List()) {
      if (s.pid) pids_.insert(*s.pid);
    }
    EXPECT_TRUE(api::ValidateActualNodeState(r.actual))
        << api::ValidateActualNodeState(r.actual).error().message;
    return r;
  }

  int ProfileId(int gpu, const std::string& name) {
    auto geo = backend_->Geometry(gpu);
    for (const gpu::GpuProfile& p : geo->profiles) {
      if (p.name == name) return p.profile_id;
    }
    ADD_FAILURE() << "no profile " << name;
    return -1;
  }

  std::vector<gpu::Instance> Instances(int gpu) {
    auto in = backend_->Instances(gpu);
    EXPECT_TRUE(in) << in.error().error.message;
    return in ? *in : std::vector<gpu::Instance>{};
  }

  // Polls the supervisor until `pred` holds or ~5 s pass.
  template <typename Pred>
  bool WaitFor(Pred pred) {
    for (int i = 0; i < 500; ++i) {
      (void)sup_->Poll();
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::string dir_;
  FakeClock clock_;
  std::unique_ptr<gpu::SimBackend> backend_;
  std::unique_ptr<Supervisor> sup_;
  std::unique_ptr<Reconciler> rec_;
  api::DesiredNodeState desired_{.node = "n1", .generation = 1};
  std::vector<std::string> log_;
  std::set<int> pids_;
};

}  // namespace gpuslice::agent::testing
