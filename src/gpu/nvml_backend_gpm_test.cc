// NvmlBackend's GPM activity when the driver's reply is wrong: a note, never a crash or a made-up
// percent, and a correct reply afterwards is believed again. (The behaviour with a correct driver
// is in the contract tests.) The fake NVML library misreplies on $GPUSLICE_FAKE_NVML_GPM_REPLY.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/temp_dir_testing.h"
#include "gpu/nvml_backend.h"
#include "gpu/sim_backend.h"

namespace gpuslice::gpu {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr int k3g = 9;  // H100-80GB 3g.40gb

class NvmlGpmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    const std::string state = dir_.File("state.json");
    GpuResult<std::unique_ptr<SimBackend>> hw =
        SimBackend::Open({.gpus = "H100-80GB:1", .state_file = state});
    ASSERT_TRUE(hw) << hw.error().error.message;
    GpuResult<Instance> in = (*hw)->CreateInstance(0, {k3g, 0});
    ASSERT_TRUE(in) << in.error().error.message;
    gi_ = in->gpu_instance_id;
    ASSERT_TRUE((*hw)->AttachProcess(0, {.pid = 7, .gpu_instance_id = gi_, .activity_percent = 42}));
    ::setenv("GPUSLICE_FAKE_NVML_STATE", state.c_str(), 1);
    GpuResult<std::unique_ptr<NvmlBackend>> b =
        NvmlBackend::Open({.library_path = GPUSLICE_FAKE_NVML_PATH, .read_only = true, .clock = &clock_});
    ASSERT_TRUE(b) << b.error().error.message;
    backend_ = std::move(*b);
  }
  void TearDown() override {
    ::unsetenv("GPUSLICE_FAKE_NVML_GPM_REPLY");
    backend_.reset();
  }
  // Usage 100 ms after the previous sample.
  InstanceUsage Next() {
    clock_.Advance(100ms);
    GpuResult<InstanceUsage> u = backend_->Usage(0, gi_);
    EXPECT_TRUE(u) << u.error().error.message;  // activity never fails Usage
    return u ? *u : InstanceUsage{};
  }

  TempDir dir_{"gpuslice-gpm"};
  FakeClock clock_;
  std::unique_ptr<NvmlBackend> backend_;
  int gi_ = 0;
};

TEST_F(NvmlGpmTest, BadRepliesAreNotesAndTheNextGoodOneCounts) {
  EXPECT_FALSE(Next().activity_percent);  // the first sample
  EXPECT_EQ(Next().activity_percent, 42);
  const struct {
    const char* reply;
    const char* note;
  } cases[] = {
      {"call-error", "nvmlGpmMetricsGet: NVML_ERROR_UNKNOWN"},
      {"metric-error", "GPM metric SM_UTIL: NVML_ERROR_NOT_SUPPORTED"},
      {"nan", "implausible SM utilisation (nan)"},
      {"150", "implausible SM utilisation (150)"},
      {"-1", "implausible SM utilisation (-1)"},
  };
  for (const auto& c : cases) {
    ::setenv("GPUSLICE_FAKE_NVML_GPM_REPLY", c.reply, 1);
    const InstanceUsage u = Next();
    EXPECT_FALSE(u.activity_percent) << c.reply;
    EXPECT_THAT(u.activity_note, HasSubstr("activity not measured: ")) << c.reply;
    EXPECT_THAT(u.activity_note, HasSubstr(c.note)) << c.reply;
    EXPECT_EQ(u.activity_retry_after, 0ms) << c.reply;
    EXPECT_EQ(u.memory_total, MiB(40448)) << c.reply;  // the memory is still reported
  }
  ::setenv("GPUSLICE_FAKE_NVML_GPM_REPLY", "99.6", 1);
  EXPECT_EQ(Next().activity_percent, 100);  // rounded
  ::unsetenv("GPUSLICE_FAKE_NVML_GPM_REPLY");
  EXPECT_EQ(Next().activity_percent, 42);
}

}  // namespace
}  // namespace gpuslice::gpu
