// The gpuslice binary end to end: real process, real exit codes, real stdout/stderr.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

using ::testing::HasSubstr;

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

Result Gpuslice(const std::string& args) {
  const std::string cmd = std::string(GPUSLICE_BINARY_DIR) + "/gpuslice " + args + " 2>&1";
  Result r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// README's first command: `gpuslice up` brings up a server and an agent on simulated GPUs with a
// demo workload; here with a temporary data dir, a free port and a bounded run.
TEST(CliEndToEnd, ReadmeMainCommand) {
  const std::string dir = ::testing::TempDir() + "/up-e2e-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  const Result r =
      Gpuslice("up --data " + dir + "/data --listen 127.0.0.1:0 --exit-after 6 --config-home " + dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("gpuslice is up: http://127.0.0.1:"));
  EXPECT_THAT(r.output, HasSubstr("demo: 8 jobs"));
  // The demo's slices were cut and its processes started (the status line every 5 s).
  EXPECT_THAT(r.output, ::testing::ContainsRegex("jobs: [1-9] running"));
  EXPECT_THAT(r.output, HasSubstr("stopping: agents"));
  std::filesystem::remove_all(dir);
}

TEST(CliEndToEnd, HelpAnswersForEveryCommand) {
  for (const char* cmd :
       {"",         "mig", "mig gpus", "mig profiles", "mig layouts", "mig check",   "mig resolve",
        "mig plan", "sim", "scenario", "gpu inspect",  "agent",       "server",      "up",
        "run",      "ls",  "show",     "why",          "cancel",      "token create"}) {
    const Result r = Gpuslice(std::string(cmd) + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("Usage")) << cmd;
  }
}

TEST(CliEndToEnd, ExitCodes) {
  EXPECT_EQ(Gpuslice("mig check --gpu A100-40GB 3g.20gb@4 2g.10gb@0 1g.5gb").exit_code, 0);
  const Result invalid = Gpuslice("mig check --gpu A100-40GB 4g.20gb 4g.20gb");
  EXPECT_EQ(invalid.exit_code, 1) << invalid.output;
  EXPECT_THAT(invalid.output, HasSubstr("exceeds the profile's maximum of 1"));
  EXPECT_EQ(Gpuslice("mig check --gpu A100-40GB 3g.20gb@2").exit_code, 1);  // illegal start: a "no"
  EXPECT_EQ(Gpuslice("mig check --gpu A100-40GB 9g.1gb").exit_code, 2);     // unknown profile
  EXPECT_EQ(Gpuslice("mig check --gpu nosuchgpu 1g.5gb").exit_code, 2);
  EXPECT_EQ(Gpuslice("mig check --gpu A100-40GB 1g.5gb@x").exit_code, 2);
  EXPECT_EQ(Gpuslice("mig layouts").exit_code, 2);  // --gpu is required
  EXPECT_EQ(Gpuslice("mig frobnicate").exit_code, 2);
  EXPECT_EQ(Gpuslice("").exit_code, 2);  // a command is required
}

TEST(CliEndToEnd, NonUtf8InputInJsonModeIsAnErrorNotACrash) {
  const Result r = Gpuslice("mig profiles --gpu \"$(printf '\\377')\" --json");  // a lone 0xFF byte
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\"error\""));
}

TEST(CliEndToEnd, SimulatesTwoPoliciesAndWritesAReport) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("gpuslice-sim-e2e-" + std::to_string(getpid()))).string();
  const Result r = Gpuslice("sim --cluster " + std::string(GPUSLICE_SOURCE_DIR) +
                            "/examples/clusters/small.yaml --workload gen:mix:jobs=200,hours=4 --policy "
                            "gpuslice,whole-gpu --json --report " +
                            dir);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\"policy\": \"gpuslice\""));
  EXPECT_THAT(r.output, HasSubstr("\"policy\": \"whole-gpu\""));
  EXPECT_THAT(r.output, HasSubstr("\"allocation_ratio\""));
  std::ifstream html(dir + "/report.html");
  EXPECT_TRUE(html.good());
  std::filesystem::remove_all(dir);
  const Result bad = Gpuslice("sim --cluster /nonexistent.yaml --workload gen:mix --policy gpuslice");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.output, HasSubstr("/nonexistent.yaml"));
}

TEST(CliEndToEnd, PlanMissingFileIsPreciseError) {
  const Result r = Gpuslice("mig plan -f /nonexistent/x.yaml -c all-balanced --gpu A100-40GB");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("cannot read /nonexistent/x.yaml"));
}

}  // namespace
