// `gpuslice gpu inspect`: in process over the sim and the fake NVML library, and as a real process.
#include "cli/gpu_command.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "common/read_file.h"
#include "common/temp_dir_testing.h"
#include "gpu/sim_backend.h"

namespace gpuslice::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

Outcome Inspect(const GpuInspectOptions& o) {
  std::ostringstream out, err;
  Outcome r;
  r.exit_code = RunGpuInspect(o, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

class GpuInspectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    state_ = dir_.File("state.json");
  }
  // Two GPUs, each with a 3g.40gb instance running a process (activity 55% on the A100, 30% on
  // the H100); the H100 lost when `lose` is set.
  void MakeState(bool lose) {
    auto hw = gpu::SimBackend::Open({.gpus = "A100-SXM4-80GB:1,H100-80GB:1", .state_file = state_});
    ASSERT_TRUE(hw) << hw.error().error.message;
    for (const auto& [gpu, pid, activity] : {std::tuple{0, 4242u, 55}, std::tuple{1, 4343u, 30}}) {
      auto in = (*hw)->CreateInstance(gpu, {9, 4});
      ASSERT_TRUE(in) << in.error().error.message;
      ASSERT_TRUE((*hw)->AttachProcess(gpu, {.pid = pid,
                                             .gpu_instance_id = in->gpu_instance_id,
                                             .memory_used = MiB(2048),
                                             .activity_percent = activity}));
    }
    if (lose) {
      ASSERT_TRUE((*hw)->InjectFaults({.lose_gpus = {1}}));
    }
  }

  TempDir dir_{"gpuslice-inspect"};
  std::string state_;
};

TEST_F(GpuInspectTest, SimSpecText) {
  const Outcome r = Inspect({.backend = "sim", .sim_gpus = "A100-SXM4-80GB:1,L4:1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("2 GPUs (sim backend, read-only)"));
  EXPECT_THAT(r.out, HasSubstr("GPU 0: NVIDIA A100-SXM4-80GB"));
  EXPECT_THAT(r.out, HasSubstr("MIG on"));
  EXPECT_THAT(r.out, HasSubstr("3g.40gb"));
  EXPECT_THAT(r.out, HasSubstr("{0,4}:4"));
  EXPECT_THAT(r.out, HasSubstr("GPU 1: NVIDIA L4"));
  EXPECT_THAT(r.out, HasSubstr("no MIG"));
}

TEST_F(GpuInspectTest, StateFileJsonAndNothingWritten) {
  MakeState(/*lose=*/true);
  const Result<std::string> before = ReadFile(state_, 1 << 20);
  const Outcome r = Inspect({.backend = "sim", .sim_state = state_, .json = true});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["backend"], "sim");
  EXPECT_EQ(j["count"], 2);
  const json& a100 = j["gpus"][0];
  EXPECT_EQ(a100["pci_device_id"], "0x20B210DE");
  EXPECT_EQ(a100["memory_units"], 8);
  EXPECT_EQ(a100["profiles"].size(), 7u);
  ASSERT_EQ(a100["instances"].size(), 1u);
  const json& in = a100["instances"][0];
  EXPECT_EQ(in["profile"], "3g.40gb");
  EXPECT_EQ(in["start"], 4);
  EXPECT_EQ(in["memory_used_mib"], 2048);
  // NVML cannot measure a MIG instance's activity on Ampere, and the sim does as NVML does.
  EXPECT_TRUE(in["activity_percent"].is_null());
  EXPECT_EQ(in["activity_note"], gpu::kNoMigActivityNote);
  EXPECT_EQ(in["processes"][0]["pid"], 4242);
  EXPECT_EQ(j["gpus"][1]["health"]["state"], "lost");
  EXPECT_EQ(*ReadFile(state_, 1 << 20), *before);
}

TEST_F(GpuInspectTest, NvmlOverFakeLibraryMatchesSim) {
  MakeState(/*lose=*/false);
  ::setenv("GPUSLICE_FAKE_NVML_STATE", state_.c_str(), 1);
  const Outcome nvml = Inspect({.nvml_library = GPUSLICE_FAKE_NVML_PATH, .json = true});
  const Outcome sim = Inspect({.backend = "sim", .sim_state = state_, .json = true});
  ASSERT_EQ(nvml.exit_code, 0) << nvml.out << nvml.err;
  ASSERT_EQ(sim.exit_code, 0) << sim.err;
  json n = json::parse(nvml.out), s = json::parse(sim.out);
  EXPECT_EQ(n["backend"], "nvml");
  // Activity: none on the A100 (no GPM), GPM's on the H100 — inspect waited for a second sample.
  EXPECT_TRUE(n["gpus"][0]["instances"][0]["activity_percent"].is_null());
  EXPECT_EQ(n["gpus"][0]["instances"][0]["activity_note"], gpu::kNoMigActivityNote);
  EXPECT_EQ(n["gpus"][1]["instances"][0]["activity_percent"], 30);
  EXPECT_EQ(n["gpus"][1]["instances"][0]["activity_note"], "");
  n.erase("backend");
  s.erase("backend");
  EXPECT_EQ(n.dump(1), s.dump(1));
  const Outcome text = Inspect({.nvml_library = GPUSLICE_FAKE_NVML_PATH});
  ASSERT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_THAT(text.out, HasSubstr(" n/a "));
  EXPECT_THAT(text.out, HasSubstr(" 30% "));
}

TEST_F(GpuInspectTest, Errors) {
  Outcome r = Inspect({.nvml_library = dir_.File("no-such-libnvidia-ml.so.1")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot load the NVIDIA management library"));
  r = Inspect({.nvml_library = dir_.File("no-such-libnvidia-ml.so.1"), .json = true});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(json::parse(r.out)["error"]["kind"], "library-unavailable");
  EXPECT_EQ(Inspect({.backend = "sim"}).exit_code, 2);
  EXPECT_EQ(Inspect({.backend = "sim", .sim_gpus = "A100-SXM4-81GB"}).exit_code, 2);
  std::ofstream(state_) << "{\"format\": 1}";
  r = Inspect({.backend = "sim", .sim_state = state_});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(state_));
  EXPECT_EQ(Inspect({.backend = "sim", .sim_state = dir_.File("missing.json")}).exit_code, 2);
}

int Process(const std::string& args, std::string* output) {
  const std::string cmd = std::string(GPUSLICE_BINARY_DIR) + "/gpuslice " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::array<char, 4096> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) output->append(buf.data(), n);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(GpuInspectProcess, ExitCodes) {
  std::string out;
  EXPECT_EQ(Process("gpu inspect --backend sim --sim-gpus H100-80GB --json", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\"backend\": \"sim\""));
  out.clear();
  EXPECT_EQ(Process("gpu inspect --nvml-library /nonexistent/libnvidia-ml.so.1", &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("/nonexistent/libnvidia-ml.so.1"));
  out.clear();
  EXPECT_EQ(Process("gpu inspect --backend cuda", &out), 2) << out;
  out.clear();
  EXPECT_EQ(Process("gpu inspect --help", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("--sim-state"));
}

// `gpuslice up --gpus nvml` over the fake NVML library: each GPU is used as it is set up, and MIG
// is left alone unless --manage-mig.
// `gpuslice gpu fault` arms the simulated GPUs' faults through the state file another process uses.
TEST_F(GpuInspectTest, FaultsAreArmedThroughTheStateFile) {
  auto hw = gpu::SimBackend::Open({.gpus = "A100-SXM4-80GB:2", .state_file = state_});
  ASSERT_TRUE(hw);
  std::string out;
  EXPECT_EQ(Process("gpu fault --sim-state " + state_ + " --fail-creates 1 --busy-destroys 1 --lose 1", &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("GPU 1 is lost"));
  const gpu::GpuResult<gpu::Instance> failed = (*hw)->CreateInstance(0, {.profile_id = 19, .start = 0});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, gpu::GpuErrorKind::kInsufficientResources);
  const gpu::GpuResult<gpu::Instance> made = (*hw)->CreateInstance(0, {.profile_id = 19, .start = 0});
  ASSERT_TRUE(made) << made.error().error.message;
  const gpu::GpuResult<void> busy = (*hw)->DestroyInstance(0, made->gpu_instance_id);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().kind, gpu::GpuErrorKind::kInUse);
  EXPECT_TRUE((*hw)->DestroyInstance(0, made->gpu_instance_id));
  EXPECT_EQ((*hw)->Health(1).value().state, gpu::HealthState::kLost);
  out.clear();
  EXPECT_EQ(Process("gpu fault --sim-state " + state_ + " --lose 7", &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("cannot lose GPU 7"));
  out.clear();
  EXPECT_EQ(Process("gpu fault --sim-state /nonexistent/gpus.json --lose 0", &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("no simulated-GPU state file"));
}

TEST_F(GpuInspectTest, UpOnNvmlUsesTheGpusAsTheyAreSetUp) {
  {
    auto hw = gpu::SimBackend::Open({.gpus = "A100-SXM4-80GB:2", .state_file = state_});
    ASSERT_TRUE(hw) << hw.error().error.message;
    ASSERT_TRUE((*hw)->SetMigMode(1, false));
  }
  ::setenv("GPUSLICE_FAKE_NVML_STATE", state_.c_str(), 1);
  const std::string before = *ReadFile(state_, 1 << 20);
  for (const bool manage : {false, true}) {
    std::string out;
    const std::string data = dir_.File(manage ? "up-managed" : "up");
    const int code =
        Process(fmt::format("up --gpus nvml --nvml-library {} --no-demo --listen 127.0.0.1:0 --data {} "
                            "--config-home {} --exit-after 3{}",
                            GPUSLICE_FAKE_NVML_PATH, data, data, manage ? " --manage-mig" : ""),
                &out);
    EXPECT_EQ(code, 0) << out;
    EXPECT_THAT(out, HasSubstr("GPUs (NVML): NVIDIA A100-SXM4-80GB:2"));
    EXPECT_THAT(out, HasSubstr("GPU 1 (NVIDIA A100-SXM4-80GB): MIG off: whole-GPU jobs\n"));
    EXPECT_THAT(out, HasSubstr(manage ? "GPU 0 (NVIDIA A100-SXM4-80GB): MIG on: slices cut on demand"
                                      : "GPU 0 (NVIDIA A100-SXM4-80GB): MIG on: cordoned"));
  }
  EXPECT_EQ(*ReadFile(state_, 1 << 20), before);  // no instance was created, no mode changed
  ::unsetenv("GPUSLICE_FAKE_NVML_STATE");
}

}  // namespace
}  // namespace gpuslice::cli
