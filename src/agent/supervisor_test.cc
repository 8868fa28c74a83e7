// Supervisor tests with real processes (/bin/sh, sleep). Each test works in its own temporary
// directory, and the fixture kills every process it has seen - by pid and start time - and reaps
// its children in teardown. Waiting is polling with short intervals and a timeout.
#include "agent/supervisor.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>

#include <thread>

#include "agent/supervisor_state.h"
#include "agent/supervisor_testing.h"

namespace gpuslice::agent {
namespace {

namespace fs = std::filesystem;
using api::WorkloadState;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
using testing::CountJobProcesses;
using testing::Shell;
using testing::Slurp;
using testing::Spec;
using testing::SupervisorTest;

TEST_F(SupervisorTest, EnvironmentNamesTheMigInstancesAndTheJob) {
  Supervisor& sup = Open(real_clock_);
  WorkloadSpec spec = Shell("job-1", "echo \"$CUDA_VISIBLE_DEVICES|$GPUSLICE_JOB_ID|$EXTRA|$PATH\"");
  spec.device_uuids = {"MIG-aaaa", "bbbb"};
  spec.env = {{"EXTRA", "x y"}};
  ASSERT_TRUE(sup.Start(spec));
  Track("job-1");
  ASSERT_TRUE(WaitState("job-1", WorkloadState::kExited));
  EXPECT_THAT(LogOf("job-1"), HasSubstr("MIG-aaaa,MIG-bbbb|job-1|x y|"));
  EXPECT_EQ(sup.Get("job-1")->exit_code, 0);
  EXPECT_FALSE(fs::exists(options_.state_dir + "/pipes/job-1.fifo"));
}

TEST_F(SupervisorTest, EnvironmentNamesWholeGpusByTheirUuids) {
  Supervisor& sup = Open(real_clock_);
  WorkloadSpec spec = Shell("job-1", "echo \"$CUDA_VISIBLE_DEVICES\"");
  spec.device_uuids = {"GPU-1111-aaaa", "GPU-2222-bbbb"};
  ASSERT_TRUE(sup.Start(spec));
  Track("job-1");
  ASSERT_TRUE(WaitState("job-1", WorkloadState::kExited));
  EXPECT_EQ(LogOf("job-1"), "GPU-1111-aaaa,GPU-2222-bbbb\n");
  EXPECT_EQ(sup.Get("job-1")->device_uuids, spec.device_uuids);
}

TEST_F(SupervisorTest, RunsInItsOwnProcessGroupWithStdinClosed) {
  Supervisor& sup = Open(real_clock_);
  ASSERT_TRUE(sup.Start(Spec("job-1", {"sleep", "30"})));
  const int pid = Track("job-1");
  ASSERT_GT(pid, 0);
  auto stat = ReadProcStat(pid);
  ASSERT_TRUE(stat);
  EXPECT_EQ(stat->pgid, pid);
  EXPECT_EQ(::getsid(pid), pid);
  EXPECT_NE(::getpgrp(), pid);
  EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(pid) + "/fd/0"), "/dev/null");
  EXPECT_EQ(sup.Get("job-1")->state, WorkloadState::kRunning);
}

TEST_F(SupervisorTest, WritesStdoutAndStderrToARotatedLog) {
  options_.log_rotation = LogRotation{1000, 2};
  Supervisor& sup = Open(real_clock_);
  // 100 lines of 50 bytes, then one on stderr.
  ASSERT_TRUE(
      sup.Start(Shell("job-1",
                      "i=0; while [ $i -lt 100 ]; do echo \"line $i 0123456789012345678901234567890123456\"; "
                      "i=$((i+1)); done; echo on-stderr >&2")));
  Track("job-1");
  ASSERT_TRUE(WaitState("job-1", WorkloadState::kExited));
  const std::string base = options_.log_dir + "/job-1.log";
  EXPECT_TRUE(fs::exists(base + ".1"));
  EXPECT_TRUE(fs::exists(base + ".2"));
  EXPECT_FALSE(fs::exists(base + ".3"));
  for (const std::string& f : {base, base + ".1", base + ".2"}) EXPECT_LE(fs::file_size(f), 1000u) << f;
  EXPECT_THAT(Slurp(base), HasSubstr("on-stderr\n"));
  EXPECT_THAT(Slurp(base + ".1") + Slurp(base), HasSubstr("line 99 "));
}

TEST_F(SupervisorTest, SigtermIgnoringProcessGetsSigkillAfterTheGracePeriod) {
  Supervisor& sup = Open(real_clock_);
  WorkloadSpec spec = Shell("job-1", "trap '' TERM; echo ready; while :; do sleep 0.05; done");
  spec.grace_period = 300ms;
  ASSERT_TRUE(sup.Start(spec));
  const int pid = Track("job-1");
  ASSERT_TRUE(PollUntil([&] { return LogOf("job-1").find("ready") != std::string::npos; }));
  const auto stop_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(sup.Stop("job-1"));
  EXPECT_EQ(sup.Get("job-1")->state, WorkloadState::kRunning);  // still in its grace period
  ASSERT_TRUE(WaitState("job-1", WorkloadState::kStopped));
  EXPECT_GE(std::chrono::steady_clock::now() - stop_at, 300ms);
  const WorkloadStatus st = *sup.Get("job-1");
  EXPECT_EQ(st.signal, SIGKILL);
  EXPECT_FALSE(st.exit_code.has_value());
  EXPECT_FALSE(st.pid.has_value());
  // The whole group went, the shell's sleeps included.
  EXPECT_TRUE(PollUntil([&] { return ::kill(-pid, 0) != 0 && errno == ESRCH; }, 2s));
}

TEST_F(SupervisorTest, CooperativeProcessStopsOnSigterm) {
  Supervisor& sup = Open(real_clock_);
  ASSERT_TRUE(sup.Start(Spec("job-1", {"sleep", "30"})));
  Track("job-1");
  ASSERT_TRUE(sup.Stop("job-1"));
  ASSERT_TRUE(sup.Stop("job-1"));  // stopping twice is a no-op
  ASSERT_TRUE(WaitState("job-1", WorkloadState::kStopped));
  EXPECT_EQ(sup.Get("job-1")->signal, SIGTERM);
  EXPECT_TRUE(sup.Stop("job-1"));  // and so is stopping a stopped one
}

TEST_F(SupervisorTest, RecordsExitCodeAndTerminatingSignal) {
  Supervisor& sup = Open(real_clock_);
  ASSERT_TRUE(sup.Start(Shell("exit-3", "exit 3")));
  ASSERT_TRUE(sup.Start(Shell("usr1", "kill -USR1 $$")));
  Track("exit-3");
  Track("usr1");
  ASSERT_TRUE(WaitState("exit-3", WorkloadState::kFailed));
  ASSERT_TRUE(WaitState("usr1", WorkloadState::kFailed));
  EXPECT_EQ(sup.Get("exit-3")->exit_code, 3);
  EXPECT_FALSE(sup.Get("exit-3")->signal.has_value());
  EXPECT_EQ(sup.Get("usr1")->signal, SIGUSR1);
  EXPECT_EQ(sup.Get("usr1")->message, "killed by signal 10");
  const api::ActualWorkload a = sup.Get("exit-3")->ToActual();
  EXPECT_EQ(a.state, WorkloadState::kFailed);
  EXPECT_EQ(a.exit_code, 3);
}

TEST_F(SupervisorTest, OnFailureRestartsWithExponentialBackoff) {
  FakeClock clock;
  Supervisor& sup = Open(clock);
  WorkloadSpec spec = Shell("svc", "echo run; exit 1");
  spec.restart = api::RestartPolicy::kOnFailure;
  ASSERT_TRUE(sup.Start(spec));
  Track("svc");
  ASSERT_TRUE(WaitState("svc", WorkloadState::kStarting));
  EXPECT_EQ(sup.Get("svc")->message, "restart 1 in 1000 ms after exit code 1");
  EXPECT_EQ(sup.NextDeadline(), clock.MonoNow() + 1s);
  clock.Advance(999ms);
  ASSERT_TRUE(sup.Poll());
  EXPECT_EQ(sup.Get("svc")->restarts, 0);  // not yet due
  clock.Advance(1ms);
  ASSERT_TRUE(PollUntil(
      [&] { return sup.Get("svc")->restarts == 1 && sup.Get("svc")->state == WorkloadState::kStarting; }));
  EXPECT_EQ(sup.Get("svc")->message, "restart 2 in 2000 ms after exit code 1");
  clock.Advance(2s);
  ASSERT_TRUE(PollUntil(
      [&] { return sup.Get("svc")->restarts == 2 && sup.Get("svc")->state == WorkloadState::kStarting; }));
  EXPECT_EQ(sup.Get("svc")->message, "restart 3 in 4000 ms after exit code 1");
  EXPECT_EQ(LogOf("svc"), "run\nrun\nrun\n");
  // Stop cancels the pending restart.
  ASSERT_TRUE(sup.Stop("svc"));
  EXPECT_EQ(sup.Get("svc")->state, WorkloadState::kStopped);
  clock.Advance(10s);
  ASSERT_TRUE(sup.Poll());
  EXPECT_EQ(sup.Get("svc")->restarts, 2);
}

TEST_F(SupervisorTest, RestartPolicyDecidesWhichExitsRestart) {
  FakeClock clock;
  Supervisor& sup = Open(clock);
  WorkloadSpec ok = Shell("ok", "exit 0");
  ok.restart = api::RestartPolicy::kOnFailure;
  WorkloadSpec always = Shell("always", "exit 0");
  always.restart = api::RestartPolicy::kAlways;
  WorkloadSpec never = Shell("never", "exit 1");
  ASSERT_TRUE(sup.Start(ok));
  ASSERT_TRUE(sup.Start(always));
  ASSERT_TRUE(sup.Start(never));
  ASSERT_TRUE(WaitState("ok", WorkloadState::kExited));
  ASSERT_TRUE(WaitState("always", WorkloadState::kStarting));
  ASSERT_TRUE(WaitState("never", WorkloadState::kFailed));
  clock.Advance(1s);
  ASSERT_TRUE(PollUntil([&] { return sup.Get("always")->restarts == 1; }));
  EXPECT_EQ(sup.Get("ok")->restarts, 0);
  EXPECT_EQ(sup.Get("never")->restarts, 0);
}

TEST_F(SupervisorTest, StartErrorsLeaveNothingBehind) {
  Supervisor& sup = Open(real_clock_);
  auto r = sup.Start(Spec("job-1", {"no-such-program-gpuslice"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  WorkloadSpec bad_dir = Spec("job-2", {"true"});
  bad_dir.working_dir = dir_ + "/missing";
  r = sup.Start(bad_dir);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(r.error().message, HasSubstr("chdir " + dir_ + "/missing: No such file or directory"));
  r = sup.Start(Spec("../etc", {"true"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  WorkloadSpec reserved = Spec("job-3", {"true"});
  reserved.env = {{"GPUSLICE_JOB_ID", "other"}};
  EXPECT_FALSE(sup.Start(reserved));
  EXPECT_TRUE(sup.List().empty());
  EXPECT_EQ(Slurp(options_.state_dir + "/supervisor-state.json").find("job-"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(options_.state_dir + "/pipes"));

  ASSERT_TRUE(sup.Start(Spec("dup-start", {"sleep", "30"})));
  Track("dup-start");
  r = sup.Start(Spec("dup-start", {"sleep", "30"}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(CountJobProcesses("dup-start"), 1);
}

TEST_F(SupervisorTest, RunsAsAnotherUserOnlyAsRoot) {
  Supervisor& sup = Open(real_clock_);
  WorkloadSpec spec = Shell("job-1", "id -u; echo $HOME");
  spec.run_as_user = "nobody";
  spec.working_dir = "/";
  passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no user 'nobody' here";
  auto r = sup.Start(spec);
  if (::geteuid() != 0) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kPermissionDenied);
    return;
  }
  ASSERT_TRUE(r) << r.error().message;
  Track("job-1");
  ASSERT_TRUE(WaitState("job-1", WorkloadState::kExited));
  EXPECT_EQ(LogOf("job-1"), fmt::format("{}\n{}\n", nobody->pw_uid, nobody->pw_dir));
}

TEST_F(SupervisorTest, MissingCgroupDelegationDoesNotFailTheStart) {
  options_.cgroup_parent = "";
  Supervisor& sup = Open(real_clock_);
  WorkloadSpec spec = Spec("job-1", {"sleep", "30"});
  spec.cpu_millicores = 500;
  spec.memory_mib = 256;
  ASSERT_TRUE(sup.Start(spec));
  Track("job-1");
  EXPECT_EQ(sup.Get("job-1")->state, WorkloadState::kRunning);
  EXPECT_EQ(sup.Get("job-1")->message, "limits not enforced: the agent has no cgroup parent configured");

  options_.cgroup_parent = dir_;  // a plain directory, not a cgroup
  Supervisor& again = Open(real_clock_);
  spec.job_id = "job-2";
  ASSERT_TRUE(again.Start(spec));
  Track("job-2");
  EXPECT_EQ(again.Get("job-2")->message, "limits not enforced: " + dir_ + " is not a cgroup v2 directory");
}

// Needs a delegated cgroup v2 directory with the cpu and memory controllers, named by
// GPUSLICE_TEST_CGROUP_PARENT (e.g. a systemd unit with Delegate=yes); skipped elsewhere.
TEST_F(SupervisorTest, CgroupLimitsAreWrittenWhereDelegated) {
  const char* parent = std::getenv("GPUSLICE_TEST_CGROUP_PARENT");
  if (parent == nullptr) GTEST_SKIP() << "GPUSLICE_TEST_CGROUP_PARENT is not set";
  options_.cgroup_parent = parent;
  Supervisor& sup = Open(real_clock_);
  WorkloadSpec spec = Spec("job-cg", {"sleep", "30"});
  spec.cpu_millicores = 500;
  spec.memory_mib = 256;
  ASSERT_TRUE(sup.Start(spec));
  const int pid = Track("job-cg");
  ASSERT_EQ(sup.Get("job-cg")->message, "");
  const std::string cg = std::string(parent) + "/gpuslice-job-cg";
  EXPECT_EQ(Slurp(cg + "/cpu.max"), "50000 100000\n");
  EXPECT_EQ(Slurp(cg + "/memory.max"), "268435456\n");
  EXPECT_THAT(Slurp(cg + "/cgroup.procs"), HasSubstr(std::to_string(pid)));
  ASSERT_TRUE(sup.Stop("job-cg"));
  ASSERT_TRUE(WaitState("job-cg", WorkloadState::kStopped));
  EXPECT_FALSE(fs::exists(cg));
}

TEST_F(SupervisorTest, StateFileFollowsEveryChange) {
  Supervisor& sup = Open(real_clock_);
  ASSERT_TRUE(sup.Start(Spec("job-1", {"sleep", "30"})));
  const int pid = Track("job-1");
  auto read_state = [&] {
    return *DecodeSupervisorState(Slurp(options_.state_dir + "/supervisor-state.json"));
  };
  SupervisorState s = read_state();
  ASSERT_EQ(s.workloads.size(), 1u);
  EXPECT_EQ(s.boot_id, ReadBootId());
  EXPECT_EQ(s.workloads[0].pid, pid);
  EXPECT_EQ(s.workloads[0].state, WorkloadState::kRunning);
  EXPECT_EQ(s.workloads[0].start_ticks, ReadProcStat(pid)->start_ticks);
  ASSERT_TRUE(sup.Stop("job-1"));
  EXPECT_TRUE(read_state().workloads[0].stop_requested);
  ASSERT_TRUE(WaitState("job-1", WorkloadState::kStopped));
  EXPECT_EQ(read_state().workloads[0].state, WorkloadState::kStopped);
  ASSERT_TRUE(sup.Remove("job-1"));
  EXPECT_TRUE(read_state().workloads.empty());
  EXPECT_EQ(sup.Remove("job-1").error().code, ErrorCode::kNotFound);
}

// The start gate: a process whose start could not be recorded never runs the workload.
TEST_F(SupervisorTest, WorkloadThatCannotBeRecordedNeverRuns) {
  Supervisor& sup = Open(real_clock_);
  // Where Save writes its temporary file (common/write_file.h): a directory there makes it fail.
  fs::create_directory(options_.state_dir + "/supervisor-state.json.tmp." + std::to_string(::getpid()));
  auto r = sup.Start(Shell("unrecorded", "touch " + dir_ + "/ran"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE(fs::exists(dir_ + "/ran"));  // Start killed and reaped the child before returning
  EXPECT_FALSE(sup.Get("unrecorded"));
  EXPECT_EQ(CountJobProcesses("unrecorded"), 0);
}

TEST_F(SupervisorTest, RemoveRefusesARunningWorkload) {
  Supervisor& sup = Open(real_clock_);
  ASSERT_TRUE(sup.Start(Spec("job-1", {"sleep", "30"})));
  Track("job-1");
  EXPECT_EQ(sup.Remove("job-1").error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(SupervisorTest, OneSupervisorPerStateDirectory) {
  Open(real_clock_);
  auto second = Supervisor::Open(options_, real_clock_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kFailedPrecondition);
}

// A supervisor killed between a child's fork and exec leaves that child holding the lock for a
// moment; the next supervisor waits for it instead of failing.
TEST_F(SupervisorTest, OpenWaitsForALockHeldBriefly) {
  fs::create_directories(options_.state_dir);
  const int held =
      ::open((options_.state_dir + "/supervisor.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::flock(held, LOCK_EX | LOCK_NB), 0);
  options_.lock_wait = std::chrono::milliseconds(0);
  auto refused = Supervisor::Open(options_, real_clock_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
  std::thread release([held] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ::close(held);
  });
  options_.lock_wait = std::chrono::seconds(20);
  auto waited = Supervisor::Open(options_, real_clock_);
  release.join();
  EXPECT_TRUE(waited) << (waited ? "" : waited.error().message);
}

}  // namespace
}  // namespace gpuslice::agent
