#include "agent/supervisor_state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/read_file.h"

namespace gpuslice::agent {
namespace {

namespace fs = std::filesystem;

SupervisorState Example() {
  WorkloadRecord r;
  r.spec.job_id = "job-1";
  r.spec.device_uuids = {"MIG-a", "MIG-b"};
  r.spec.argv = {"sleep", "30", "\xff not utf-8"};
  r.spec.env = {{"A", "1"}};
  r.spec.working_dir = "/tmp";
  r.spec.memory_mib = 1024;
  r.spec.restart = api::RestartPolicy::kAlways;
  r.spec.grace_period = std::chrono::milliseconds(250);
  r.state = api::WorkloadState::kRunning;
  r.pid = 1234;
  r.start_ticks = 987654321;
  r.restarts = 2;
  r.backoff_step = 1;
  r.log_path = "/var/log/gpuslice/job-1.log";
  r.fifo_path = "/var/lib/gpuslice/pipes/job-1.fifo";
  WorkloadRecord done;
  done.spec.job_id = "job-0";
  done.spec.device_uuids = {"MIG-c"};
  done.spec.argv = {"true"};
  done.state = api::WorkloadState::kFailed;
  done.signal = 9;
  done.stop_requested = true;
  done.message = "killed by signal 9";
  return SupervisorState{"boot-1", {r, done}};
}

TEST(SupervisorStateTest, RoundTrips) {
  SupervisorState s = Example();
  auto back = DecodeSupervisorState(EncodeSupervisorState(s));
  ASSERT_TRUE(back) << back.error().message;
  s.workloads[0].spec.argv[2] = "\xef\xbf\xbd not utf-8";  // bytes that are not UTF-8 are replaced
  EXPECT_EQ(*back, s);
}

TEST(SupervisorStateTest, DamagedOrForeignFilesAreErrors) {
  for (std::string_view text : {"", "{", "[]", R"({"version":2,"boot_id":"x","workloads":[]})",
                                R"({"version":1,"boot_id":"x","workloads":[{"spec":{}}]})"}) {
    auto r = DecodeSupervisorState(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().code, ErrorCode::kInternal);
  }
}

TEST(SupervisorStateTest, WritesAtomicallyAndOverwrites) {
  char tmpl[] = "/tmp/gpuslice-state-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/state.json";
  ASSERT_TRUE(WriteFileAtomically(path, "first"));
  ASSERT_TRUE(WriteFileAtomically(path, "second"));
  EXPECT_EQ(*ReadFile(path, 100), "second");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  EXPECT_FALSE(WriteFileAtomically(std::string(tmpl) + "/no/such/dir/state.json", "x"));
  fs::remove_all(tmpl);
}

}  // namespace
}  // namespace gpuslice::agent
