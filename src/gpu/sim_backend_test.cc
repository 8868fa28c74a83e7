// SimBackend beyond the shared contract: the state file, MIG-mode rules per architecture, GI ids,
// deterministic UUIDs, fault injection and precise errors for corrupt state.
#include "gpu/sim_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "common/read_file.h"
#include "common/temp_dir_testing.h"

namespace gpuslice::gpu {
namespace {

using ::testing::HasSubstr;

class SimBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    state_ = dir_.File("state.json");
  }

  std::unique_ptr<SimBackend> Open(const std::string& spec, bool mig_enabled = true) {
    GpuResult<std::unique_ptr<SimBackend>> b =
        SimBackend::Open({.gpus = spec, .state_file = state_, .mig_enabled = mig_enabled});
    EXPECT_TRUE(b) << b.error().error.message;
    return b ? std::move(*b) : nullptr;
  }
  void Write(const std::string& text) { std::ofstream(state_) << text; }

  TempDir dir_{"gpuslice-sim"};
  std::string state_;
};

TEST_F(SimBackendTest, StateFileSurvivesReopen) {
  std::string uuid;
  {
    std::unique_ptr<SimBackend> b = Open("A100-80GB:2");
    GpuResult<Instance> in = b->CreateInstance(1, {9, 0});
    ASSERT_TRUE(in);
    uuid = in->mig_uuid;
    ASSERT_TRUE(
        b->AttachProcess(1, {.pid = 77, .gpu_instance_id = in->gpu_instance_id, .memory_used = MiB(512)}));
  }
  GpuResult<std::unique_ptr<SimBackend>> again = SimBackend::Open({.state_file = state_});
  ASSERT_TRUE(again) << again.error().error.message;
  GpuResult<std::vector<Instance>> all = (*again)->Instances(1);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].mig_uuid, uuid);
  EXPECT_EQ((*again)->Processes(1)->size(), 1u);
  // The UUID counter lives in the file too: the next instance gets a new UUID.
  GpuResult<Instance> next = (*again)->CreateInstance(1, {9, 4});
  ASSERT_TRUE(next);
  EXPECT_NE(next->mig_uuid, uuid);
  EXPECT_FALSE(std::filesystem::exists(state_ + ".tmp." + std::to_string(::getpid())));
}

TEST_F(SimBackendTest, SpecThatDisagreesWithStateFileIsRefused) {
  Open("A100-80GB:1");
  GpuResult<std::unique_ptr<SimBackend>> b = SimBackend::Open({.gpus = "H100-80GB:1", .state_file = state_});
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().kind, GpuErrorKind::kState);
  EXPECT_THAT(b.error().error.message, HasSubstr("A100-80GB"));
}

TEST_F(SimBackendTest, BadSpecs) {
  for (const char* spec : {"A100-80GB:0", "A100-80GB:x", "A100-80GB,", "nosuchgpu", "A100-80GB:65"}) {
    GpuResult<std::unique_ptr<SimBackend>> b = SimBackend::Open({.gpus = spec});
    EXPECT_FALSE(b) << spec;
  }
  EXPECT_EQ(SimBackend::Open({.gpus = "nosuchgpu"}).error().kind, GpuErrorKind::kNotFound);
  EXPECT_EQ(SimBackend::Open({}).error().kind, GpuErrorKind::kState);
  EXPECT_TRUE(SimBackend::Open({.gpus = "a100-40gb:2,NVIDIA H100 80GB HBM3"}));  // in memory, catalog names
}

TEST_F(SimBackendTest, AmpereModeChangeWaitsForResetOfABusyGpu) {
  std::unique_ptr<SimBackend> b = Open("A100-40GB:1", /*mig_enabled=*/false);
  ASSERT_TRUE(b->AttachProcess(0, {.pid = 10, .memory_used = MiB(100)}));
  GpuResult<MigMode> mode = b->SetMigMode(0, true);
  ASSERT_TRUE(mode);
  EXPECT_EQ(*mode, (MigMode{false, true}));
  EXPECT_EQ(b->Health(0)->state, HealthState::kResetRequired);
  EXPECT_EQ(b->ResetGpu(0).error().kind, GpuErrorKind::kInUse);
  ASSERT_TRUE(b->DetachProcess(0, 10));
  ASSERT_TRUE(b->ResetGpu(0));
  EXPECT_EQ((*b->ListGpus())[0].mig, (MigMode{true, true}));
  ASSERT_TRUE(b->CreateInstance(0, {19, 0}));
  ASSERT_TRUE(b->Reboot());  // Ampere keeps MIG mode across a reboot; instances do not survive
  EXPECT_EQ((*b->ListGpus())[0].mig, (MigMode{true, true}));
  EXPECT_EQ(b->Instances(0)->size(), 0u);
}

TEST_F(SimBackendTest, AmpereModeChangeOnAnIdleGpuIsImmediate) {
  std::unique_ptr<SimBackend> b = Open("A30:1", /*mig_enabled=*/false);
  EXPECT_EQ(*b->SetMigMode(0, true), (MigMode{true, true}));
  EXPECT_EQ(*b->SetMigMode(0, true), (MigMode{true, true}));  // no-op
}

TEST_F(SimBackendTest, HopperModeIsImmediateAndLostOnReboot) {
  std::unique_ptr<SimBackend> b = Open("H100-80GB:1,B200:1", /*mig_enabled=*/false);
  for (int gpu : {0, 1}) {
    ASSERT_TRUE(b->AttachProcess(gpu, {.pid = 5, .memory_used = MiB(1)}));
    EXPECT_EQ(b->SetMigMode(gpu, true).error().kind, GpuErrorKind::kInUse);
    ASSERT_TRUE(b->DetachProcess(gpu, 5));
    EXPECT_EQ(*b->SetMigMode(gpu, true), (MigMode{true, true}));
  }
  ASSERT_TRUE(b->CreateInstance(0, {19, 3}));
  EXPECT_EQ(b->SetMigMode(0, false).error().kind, GpuErrorKind::kInUse);  // instances exist
  ASSERT_TRUE(b->Reboot());
  const std::vector<GpuInfo> gpus = *b->ListGpus();
  for (const GpuInfo& g : gpus) EXPECT_EQ(g.mig, (MigMode{false, false})) << g.name;
  EXPECT_EQ(b->Instances(0).error().kind, GpuErrorKind::kNotSupported);
}

TEST_F(SimBackendTest, GpuInstanceIdsAsTheDriverHandsThemOut) {
  std::unique_ptr<SimBackend> b = Open("H100-80GB:2");
  for (int start = 0; start < 7; ++start)
    EXPECT_EQ(b->CreateInstance(0, {19, start})->gpu_instance_id, 7 + start);
  EXPECT_EQ(b->CreateInstance(1, {9, 4})->gpu_instance_id, 1);
  EXPECT_EQ(b->CreateInstance(1, {9, 0})->gpu_instance_id, 2);
  ASSERT_TRUE(b->DestroyInstance(1, 1));
  EXPECT_EQ(b->CreateInstance(1, {14, 4})->gpu_instance_id, 3);
  EXPECT_EQ(b->CreateInstance(1, {15, 6})->gpu_instance_id, 4);
}

TEST_F(SimBackendTest, UuidsAreDeterministicPerSeed) {
  const auto uuids = [](std::uint64_t seed) {
    std::unique_ptr<SimBackend> b = std::move(*SimBackend::Open({.gpus = "A100-80GB:2", .seed = seed}));
    return std::pair{(*b->ListGpus())[1].uuid, b->CreateInstance(0, {0, 0})->mig_uuid};
  };
  EXPECT_EQ(uuids(3), uuids(3));
  EXPECT_NE(uuids(3).first, uuids(4).first);
  EXPECT_NE(uuids(3).second, uuids(4).second);
  EXPECT_THAT(uuids(3).first,
              ::testing::MatchesRegex("GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"));
}

TEST_F(SimBackendTest, FaultsFromJsonPersistAcrossBackends) {
  std::unique_ptr<SimBackend> a = Open("A100-80GB:2");
  Result<SimFaults> faults = ParseSimFaults(
      R"({"fail_creates": 2, "fail_create_error": "no-permission", "busy_destroys": 1, "lose_gpus": [1]})");
  ASSERT_TRUE(faults) << faults.error().message;
  ASSERT_TRUE(a->InjectFaults(*faults));
  GpuResult<std::unique_ptr<SimBackend>> b = SimBackend::Open({.state_file = state_});
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)->CreateInstance(0, {19, 0}).error().kind, GpuErrorKind::kNoPermission);
  EXPECT_EQ(a->CreateInstance(0, {19, 0}).error().kind, GpuErrorKind::kNoPermission);  // the second one
  GpuResult<Instance> in = (*b)->CreateInstance(0, {19, 0});
  ASSERT_TRUE(in);
  EXPECT_EQ(a->DestroyInstance(0, in->gpu_instance_id).error().kind, GpuErrorKind::kInUse);
  EXPECT_TRUE((*b)->DestroyInstance(0, in->gpu_instance_id));
  EXPECT_EQ((*b)->Health(1)->state, HealthState::kLost);
  EXPECT_FALSE(ParseSimFaults(R"({"fail_creates": -1})"));
  EXPECT_FALSE(ParseSimFaults(R"({"fail_create_error": "melted"})"));
  EXPECT_FALSE(ParseSimFaults(R"({"explode": true})"));
  EXPECT_EQ(a->InjectFaults({.lose_gpus = {5}}).error().kind, GpuErrorKind::kNotFound);
}

TEST_F(SimBackendTest, ReadOnlyNeverWritesTheFile) {
  GpuResult<std::unique_ptr<SimBackend>> ro =
      SimBackend::Open({.gpus = "A30:1", .state_file = state_, .read_only = true});
  ASSERT_TRUE(ro);
  EXPECT_EQ((*ro)->ListGpus()->size(), 1u);
  EXPECT_EQ((*ro)->AttachProcess(0, {.pid = 1}).error().kind, GpuErrorKind::kReadOnly);
  EXPECT_EQ((*ro)->Reboot().error().kind, GpuErrorKind::kReadOnly);
  EXPECT_FALSE(std::filesystem::exists(state_));
}

TEST_F(SimBackendTest, CorruptStateFileGetsAPreciseError) {
  Open("A100-80GB:1");
  Result<std::string> good = ReadFile(state_, 1 << 20);
  ASSERT_TRUE(good);
  const auto replace = [&](const std::string& from, const std::string& to) {
    std::string text = *good;
    const std::size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? text : text.replace(at, from.size(), to);
  };
  const std::string instance = R"("instances": [{"gpu_instance_id": 1, "profile_id": 9, "start": 4}, )"
                               R"({"gpu_instance_id": 3, "profile_id": 14, "start": START}])";
  const struct {
    std::string text;
    std::string expected;
  } cases[] = {
      {"{ not json", "not valid JSON"},
      {"[]", "state: expected an object"},
      {replace("\"A100-80GB\"", "\"A100-81GB\""), "gpus[0].model"},
      {replace("\"version\": 1", "\"version\": 2"), "state.version: 2 is not supported"},
      {replace("\"lost\": false", "\"lost\": 0"), "gpus[0].lost: expected true or false"},
      {replace("\"lost\": false", "\"lost\": false, \"colour\": 1"), "gpus[0]: unknown field 'colour'"},
      {replace("\"instances\": []", std::string(instance).replace(instance.find("START"), 5, "4")),
       "gpus[0]: 2g.20gb@4 overlaps 3g.40gb@4 on units 4-5"},
      {replace("\"instances\": []", std::string(instance).replace(instance.find("START"), 5, "3")),
       "gpus[0].instances[1]: start 3 is not an allowed start of 2g.20gb (allowed: 0, 2, 4)"},
      {replace("\"processes\": []", R"("processes": [{"pid": 9, "gpu_instance_id": 4}])"),
       "gpus[0]: pid 9 runs on GPU instance 4"},
      {replace("\"uuid_counter\": 0", "\"uuid_counter\": -1"), "state.uuid_counter: expected a non-negative"},
  };
  for (const auto& c : cases) {
    Write(c.text);
    GpuResult<std::unique_ptr<SimBackend>> b = SimBackend::Open({.state_file = state_});
    ASSERT_FALSE(b) << c.expected;
    EXPECT_EQ(b.error().kind, GpuErrorKind::kState);
    EXPECT_THAT(b.error().error.message, HasSubstr(state_)) << c.expected;
    EXPECT_THAT(b.error().error.message, HasSubstr(c.expected));
  }
}

TEST_F(SimBackendTest, CorruptionWhileRunningIsReportedNotBelieved) {
  std::unique_ptr<SimBackend> b = Open("A100-80GB:1");
  Write("{}");
  GpuResult<std::vector<GpuInfo>> gpus = b->ListGpus();
  ASSERT_FALSE(gpus);
  EXPECT_EQ(gpus.error().kind, GpuErrorKind::kState);
}

TEST_F(SimBackendTest, SerializeParseRoundTrip) {
  std::unique_ptr<SimBackend> b = Open("RTX-PRO-6000:1,B300:1,L4:1");
  ASSERT_TRUE(b->CreateInstance(0, {5, 6}));
  const SimState s = *b->Snapshot();
  Result<SimState> parsed = ParseSimState(SerializeSimState(s));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(SerializeSimState(*parsed), SerializeSimState(s));
  GpuResult<GpuGeometry> b300 = b->Geometry(1);
  ASSERT_TRUE(b300);
  EXPECT_EQ(b300->profiles.front().profile_id, 100);  // B300 ids are unknown: the sim's are 100 + index
  ASSERT_TRUE(b->CreateInstance(1, {b300->profiles.back().profile_id, 0}));
  EXPECT_GT(b300->profiles.back().memory, MiB(0));
}

}  // namespace
}  // namespace gpuslice::gpu
