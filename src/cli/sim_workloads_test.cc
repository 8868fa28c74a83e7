// The agent's workloads appear on simulated GPUs as processes would on real ones, and vanish when
// they end; other processes are left alone unless their pid is gone.
#include "cli/sim_workloads.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

namespace gpuslice::cli {
namespace {

agent::WorkloadStatus Running(std::string job, int pid, std::vector<std::string> uuids) {
  agent::WorkloadStatus w;
  w.job_id = std::move(job);
  w.state = api::WorkloadState::kRunning;
  w.pid = pid;
  w.device_uuids = std::move(uuids);
  return w;
}

int DeadPid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

TEST(SimWorkloadsTest, RunningWorkloadsAreProcessesOnTheirInstancesUntilTheyEnd) {
  auto sim = gpu::SimBackend::Open({.gpus = "A100-SXM4-80GB:1,H100-80GB:1"}).value();
  const gpu::Instance a100 = sim->CreateInstance(0, {.profile_id = 9, .start = 4}).value();   // 3g.40gb
  const gpu::Instance h100 = sim->CreateInstance(1, {.profile_id = 19, .start = 0}).value();  // 1g.10gb
  const int me = static_cast<int>(::getpid());
  const int parent = static_cast<int>(::getppid());

  // Someone else's live process, and a leftover whose pid is gone.
  ASSERT_TRUE(sim->AttachProcess(
      1, {.pid = static_cast<std::uint32_t>(parent), .gpu_instance_id = h100.gpu_instance_id}));
  const int dead = DeadPid();
  ASSERT_TRUE(sim->AttachProcess(
      0, {.pid = static_cast<std::uint32_t>(dead), .gpu_instance_id = a100.gpu_instance_id}));

  std::vector<agent::WorkloadStatus> w{Running("job-a", me, {a100.mig_uuid, h100.mig_uuid})};
  SimProcessChanges c = SyncSimWorkloadProcesses(*sim, w);
  EXPECT_EQ(c.attached, 2);  // one process per GPU the workload uses
  EXPECT_EQ(c.detached, 1);  // the dead pid
  const gpu::InstanceUsage ua = sim->Usage(0, a100.gpu_instance_id).value();
  EXPECT_GE(ua.memory_used.value(), ua.memory_total.value() * 30 / 100);
  EXPECT_LT(ua.memory_used.value(), ua.memory_total.value() * 80 / 100);
  EXPECT_FALSE(ua.activity_percent);  // Ampere: not measurable, as on hardware
  const gpu::InstanceUsage uh = sim->Usage(1, h100.gpu_instance_id).value();
  ASSERT_TRUE(uh.activity_percent);  // Hopper: the workload's activity
  EXPECT_GE(*uh.activity_percent, 15);
  EXPECT_EQ(sim->Processes(1).value().size(), 2u);              // the workload and the other live process
  EXPECT_FALSE(sim->DestroyInstance(0, a100.gpu_instance_id));  // busy, as on hardware

  // A second sync changes nothing; the same job gets the same numbers after a restart.
  c = SyncSimWorkloadProcesses(*sim, w);
  EXPECT_EQ(c.attached + c.detached, 0);

  // The workload ends: its processes go, the other live process stays.
  w[0].state = api::WorkloadState::kExited;
  c = SyncSimWorkloadProcesses(*sim, w);
  EXPECT_EQ(c.detached, 2);
  EXPECT_EQ(sim->Processes(0).value().size(), 0u);
  ASSERT_EQ(sim->Processes(1).value().size(), 1u);
  EXPECT_EQ(sim->Processes(1).value()[0].pid, static_cast<std::uint32_t>(parent));
  EXPECT_TRUE(sim->DestroyInstance(0, a100.gpu_instance_id));
}

TEST(SimWorkloadsTest, AWholeGpuWorkloadIsAProcessOnTheWholeGpu) {
  auto sim = gpu::SimBackend::Open({.gpus = "H100-80GB:1", .mig_enabled = false}).value();
  const gpu::GpuInfo info = sim->ListGpus().value()[0];
  const SimProcessChanges c =
      SyncSimWorkloadProcesses(*sim, {Running("whole", static_cast<int>(::getpid()), {info.uuid})});
  EXPECT_EQ(c.attached, 1);
  const std::vector<gpu::GpuProcess> procs = sim->Processes(0).value();
  ASSERT_EQ(procs.size(), 1u);
  EXPECT_EQ(procs[0].gpu_instance_id, -1);
  EXPECT_GT(procs[0].memory_used.value(), 0);
}

}  // namespace
}  // namespace gpuslice::cli
