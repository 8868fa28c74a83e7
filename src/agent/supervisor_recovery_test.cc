// Crash tests: an agent (a forked child running a Supervisor) is killed with SIGKILL, and a new
// Supervisor on the same state directory must re-adopt what still runs, report what ended, and
// never start anything twice or touch a process that merely reuses a recorded pid.
#include <gtest/gtest.h>
#include <sys/prctl.h>

#include <fstream>

#include "agent/supervisor.h"
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

class SupervisorRecoveryTest : public SupervisorTest {
 protected:
  // Workloads of a killed agent are orphans; as their subreaper the test process can reap them
  // in teardown instead of leaving that to an init that may not (not every container's does).
  void SetUp() override {
    SupervisorTest::SetUp();
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  }
  void TearDown() override {
    SupervisorTest::TearDown();
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  }

  // Forks an "agent" that opens a supervisor, starts `spec` and runs its poll loop until it is
  // killed. Returns the agent's pid and the workload's pid (-1 when the start failed).
  std::pair<pid_t, int> RunDoomedAgent(const WorkloadSpec& spec) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    const pid_t agent = ::fork();
    if (agent == 0) {
      ::close(fds[0]);
      RealClock clock;
      auto sup = Supervisor::Open(options_, clock);
      int pid = -1;
      if (sup && (*sup)->Start(spec)) pid = (*sup)->Get(spec.job_id)->pid.value_or(-1);
      (void)!::write(fds[1], &pid, sizeof pid);
      for (;;) {
        if (sup) (void)(*sup)->Poll();
        ::usleep(5000);
      }
    }
    ::close(fds[1]);
    int pid = -1;
    EXPECT_EQ(::read(fds[0], &pid, sizeof pid), static_cast<ssize_t>(sizeof pid));
    ::close(fds[0]);
    children_.push_back(agent);
    if (auto stat = ReadProcStat(pid)) seen_.emplace_back(pid, stat->start_ticks);
    return {agent, pid};
  }

  static void KillAgent(pid_t agent) {
    ASSERT_EQ(::kill(agent, SIGKILL), 0);
    siginfo_t info{};
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(agent), &info, WEXITED | WNOWAIT), 0);
  }

  static bool WaitFor(const std::function<bool()>& done) {
    for (int i = 0; i < 1000; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }
};

TEST_F(SupervisorRecoveryTest, WorkloadOfAKilledAgentIsReadoptedNotDuplicated) {
  // Prints once before the crash and once after it, then becomes `sleep 30` under the same pid.
  const WorkloadSpec spec = Shell("readopted", "echo before; while [ ! -e " + dir_ +
                                                   "/go ]; do sleep 0.01; done; "
                                                   "echo after; exec sleep 30");
  const auto [agent, pid] = RunDoomedAgent(spec);
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(WaitFor([&] { return LogOf("readopted") == "before\n"; }));
  KillAgent(agent);
  std::ofstream(dir_ + "/go").put('\n');
  // Written while no agent reads: the pipe holds it, and the workload must not die of SIGPIPE.
  ASSERT_TRUE(WaitFor([&] {
    return Slurp("/proc/" + std::to_string(pid) + "/cmdline") == std::string(
                                                                     "sleep\0"
                                                                     "30\0",
                                                                     9);
  }));

  Supervisor& sup = Open(real_clock_);
  auto st = sup.Get("readopted");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, WorkloadState::kRunning);
  EXPECT_EQ(st->pid, pid);
  EXPECT_TRUE(st->adopted);
  EXPECT_EQ(sup.List().size(), 1u);
  EXPECT_EQ(CountJobProcesses("readopted"), 1);
  EXPECT_EQ(sup.Start(spec).error().code, ErrorCode::kAlreadyExists);
  ASSERT_TRUE(PollUntil([&] { return LogOf("readopted") == "before\nafter\n"; }));

  ASSERT_TRUE(sup.Stop("readopted"));
  ASSERT_TRUE(WaitState("readopted", WorkloadState::kStopped));
  EXPECT_FALSE(IsSameProcess(pid, seen_.back().second));
  EXPECT_EQ(CountJobProcesses("readopted"), 0);
  EXPECT_THAT(sup.Get("readopted")->message, HasSubstr("exit status unknown"));
  EXPECT_FALSE(fs::exists(options_.state_dir + "/pipes/job-1.fifo"));
}

TEST_F(SupervisorRecoveryTest, WorkloadThatEndedWhileTheAgentWasDownIsReportedExited) {
  const auto [agent, pid] = RunDoomedAgent(Spec("job-1", {"sleep", "30"}));
  ASSERT_GT(pid, 0);
  KillAgent(agent);
  const std::uint64_t ticks = seen_.back().second;
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&] { return !IsSameProcess(pid, ticks); }));

  Supervisor& sup = Open(real_clock_);
  const WorkloadStatus st = *sup.Get("job-1");
  EXPECT_EQ(st.state, WorkloadState::kExited);
  EXPECT_FALSE(st.exit_code.has_value());
  EXPECT_FALSE(st.signal.has_value());
  EXPECT_FALSE(st.pid.has_value());
  EXPECT_EQ(st.message, "exit status unknown: the process ended while the agent was not running");
  EXPECT_FALSE(fs::exists(options_.state_dir + "/pipes/job-1.fifo"));
  // The finding is persisted: a third supervisor sees the same.
  sup_.reset();
  EXPECT_EQ(Open(real_clock_).Get("job-1")->state, WorkloadState::kExited);
}

TEST_F(SupervisorRecoveryTest, RestartableWorkloadThatEndedUnseenIsRestarted) {
  WorkloadSpec spec = Spec("unseen-svc", {"sleep", "30"});
  spec.restart = api::RestartPolicy::kOnFailure;
  const auto [agent, pid] = RunDoomedAgent(spec);
  ASSERT_GT(pid, 0);
  KillAgent(agent);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&, pid = pid] { return !IsSameProcess(pid, seen_.back().second); }));

  FakeClock clock;
  Supervisor& sup = Open(clock);
  EXPECT_EQ(sup.Get("unseen-svc")->state, WorkloadState::kStarting);
  EXPECT_EQ(sup.Get("unseen-svc")->message, "restart 1 in 1000 ms after an exit with unknown status");
  clock.Advance(1s);
  ASSERT_TRUE(sup.Poll());
  EXPECT_EQ(sup.Get("unseen-svc")->state, WorkloadState::kRunning);
  Track("unseen-svc");
  EXPECT_EQ(CountJobProcesses("unseen-svc"), 1);
}

// The agent recorded the process, then died before opening its start gate: the process ran
// nothing (its gate marker is still there), so the next supervisor starts it as the same run,
// once, without calling it a restart or an exit.
TEST_F(SupervisorRecoveryTest, ProcessRecordedButNeverStartedIsStartedOnce) {
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(126);  // what a child does when the gate closes
  int status = 0;
  ASSERT_EQ(::waitpid(gone, &status, 0), gone);
  WorkloadRecord r;
  r.spec = Spec("gated", {"sleep", "30"});
  r.state = WorkloadState::kRunning;
  r.pid = gone;
  r.start_ticks = 1;
  r.log_path = options_.log_dir + "/gated.log";
  r.fifo_path = options_.state_dir + "/pipes/gated.fifo";
  fs::create_directories(options_.state_dir + "/pipes");
  std::ofstream(r.fifo_path + ".gate").flush();
  ASSERT_TRUE(WriteFileAtomically(options_.state_dir + "/supervisor-state.json",
                                  EncodeSupervisorState({ReadBootId(), {r}})));

  Supervisor& sup = Open(real_clock_);
  EXPECT_EQ(sup.Get("gated")->state, WorkloadState::kStarting);
  ASSERT_TRUE(sup.Poll());
  const WorkloadStatus st = *sup.Get("gated");
  EXPECT_EQ(st.state, WorkloadState::kRunning);
  EXPECT_EQ(st.restarts, 0);
  Track("gated");
  EXPECT_EQ(CountJobProcesses("gated"), 1);
  EXPECT_FALSE(fs::exists(r.fifo_path + ".gate"));  // removed by the new process at its gate

  // Without the marker the same record means the process ran and ended unseen: never rerun.
  sup_.reset();
  r.spec.job_id = "ran";
  r.log_path = options_.log_dir + "/ran.log";
  r.fifo_path = options_.state_dir + "/pipes/ran.fifo";
  ASSERT_TRUE(WriteFileAtomically(options_.state_dir + "/supervisor-state.json",
                                  EncodeSupervisorState({ReadBootId(), {r}})));
  EXPECT_EQ(Open(real_clock_).Get("ran")->state, WorkloadState::kExited);
  EXPECT_EQ(CountJobProcesses("ran"), 0);
}

TEST_F(SupervisorRecoveryTest, CleanRestartInTheSameProcessReadopts) {
  Supervisor& first = Open(real_clock_);
  ASSERT_TRUE(first.Start(Spec("job-1", {"sleep", "30"})));
  const int pid = Track("job-1");
  Supervisor& second = Open(real_clock_);  // destroys the first
  EXPECT_EQ(second.Get("job-1")->pid, pid);
  EXPECT_TRUE(second.Get("job-1")->adopted);
  ASSERT_TRUE(second.Stop("job-1"));
  ASSERT_TRUE(WaitState("job-1", WorkloadState::kStopped));
}

// A recorded pid now used by another process (other start time, or another boot) is neither
// adopted nor signalled.
TEST_F(SupervisorRecoveryTest, ReusedPidIsNeverAdoptedOrSignalled) {
  const pid_t stranger = ::fork();
  if (stranger == 0) {
    ::execl("/bin/sleep", "sleep", "30", nullptr);
    ::_exit(127);
  }
  children_.push_back(stranger);
  auto stat = ReadProcStat(stranger);
  ASSERT_TRUE(stat);
  seen_.emplace_back(stranger, stat->start_ticks);

  const auto record = [&](const std::string& job, std::uint64_t ticks) {
    WorkloadRecord r;
    r.spec = Spec(job, {"sleep", "30"});
    r.state = WorkloadState::kRunning;
    r.pid = stranger;
    r.start_ticks = ticks;
    r.log_path = options_.log_dir + "/" + job + ".log";
    r.fifo_path = options_.state_dir + "/pipes/" + job + ".fifo";
    return r;
  };
  fs::create_directories(options_.state_dir);
  ASSERT_TRUE(WriteFileAtomically(
      options_.state_dir + "/supervisor-state.json",
      EncodeSupervisorState({ReadBootId(), {record("other-start", stat->start_ticks + 1)}})));
  Supervisor& sup = Open(real_clock_);
  EXPECT_EQ(sup.Get("other-start")->state, WorkloadState::kExited);
  EXPECT_FALSE(sup.Get("other-start")->adopted);
  EXPECT_TRUE(sup.Stop("other-start"));
  ASSERT_TRUE(sup.Poll());
  sup_.reset();

  ASSERT_TRUE(WriteFileAtomically(
      options_.state_dir + "/supervisor-state.json",
      EncodeSupervisorState({"another-boot", {record("other-boot", stat->start_ticks)}})));
  Supervisor& again = Open(real_clock_);
  EXPECT_EQ(again.Get("other-boot")->state, WorkloadState::kExited);
  EXPECT_EQ(again.Get("other-boot")->message,
            "exit status unknown: the node restarted while the process ran");
  ASSERT_TRUE(again.Poll());
  EXPECT_TRUE(IsSameProcess(stranger, stat->start_ticks));  // untouched throughout
}

}  // namespace
}  // namespace gpuslice::agent
