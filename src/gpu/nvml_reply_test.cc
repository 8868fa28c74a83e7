// Validation of NVML replies, and NvmlBackend's behaviour when the library is missing or broken.
#include "gpu/nvml_reply.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <cstring>
#include <vector>

#include "gpu/nvml_backend.h"

namespace gpuslice::gpu {
namespace {

using ::testing::HasSubstr;

TEST(NvmlReply, StringsAreBoundedAndPrintable) {
  const char unterminated[4] = {'a', 'b', 'c', 'd'};
  EXPECT_EQ(BoundedString(unterminated, sizeof unterminated), "abcd");
  EXPECT_EQ(BoundedString("x\ny\x80", 16), "x?y?");
  EXPECT_EQ(BoundedString(nullptr, 16), "");
  EXPECT_EQ(ProfileNameFromNvml("MIG 1g.10gb", 96, 1, 9856), "1g.10gb");
  EXPECT_EQ(ProfileNameFromNvml("", 96, 3, 40192), "3g.40gb");
}

nvml::GpuInstanceProfileInfoV2 Info(unsigned slices, unsigned instances) {
  nvml::GpuInstanceProfileInfoV2 info{};
  info.id = 9;
  info.slice_count = slices;
  info.instance_count = instances;
  info.memory_size_mb = 40192;
  std::strcpy(info.name, "MIG 3g.40gb");
  return info;
}

TEST(NvmlReply, ProfilesAreChecked) {
  std::array<nvml::GpuInstancePlacement, 4> buf = {{{4, 4}, {0, 4}}};
  GpuResult<GpuProfile> p = ProfileFromNvml(Info(3, 2), buf, 2);
  ASSERT_TRUE(p) << p.error().error.message;
  EXPECT_EQ(p->name, "3g.40gb");
  EXPECT_EQ(p->placements, (std::vector<UnitRange>{{0, 4}, {4, 4}}));
  EXPECT_EQ(ProfileFromNvml(Info(3, 2), buf, 5).error().kind, GpuErrorKind::kBadReply);  // count > buffer
  EXPECT_EQ(ProfileFromNvml(Info(0, 2), buf, 2).error().kind, GpuErrorKind::kBadReply);
  EXPECT_EQ(ProfileFromNvml(Info(3, 100000), buf, 2).error().kind, GpuErrorKind::kBadReply);
  buf[1] = {62, 4};
  EXPECT_THAT(ProfileFromNvml(Info(3, 2), buf, 2).error().error.message, HasSubstr("outside"));
  buf[1] = {0, 2};
  EXPECT_THAT(ProfileFromNvml(Info(3, 2), buf, 2).error().error.message, HasSubstr("sizes"));
}

TEST(NvmlReply, ProcessesDecodeAtEitherStride) {
  std::vector<unsigned char> buf(4 * nvml::kProcessInfoMaxStride, 0);
  const auto put = [&](std::size_t stride, unsigned i, nvml::ProcessInfo p) {
    std::memcpy(buf.data() + stride * i, &p, sizeof p);
  };
  put(sizeof(nvml::ProcessInfo), 0, {100, 1ULL << 30, 1, 0});
  put(sizeof(nvml::ProcessInfo), 1,
      {200, nvml::kValueNotAvailable, nvml::kInvalidInstanceId, nvml::kInvalidInstanceId});
  GpuResult<std::vector<GpuProcess>> ps = DecodeProcesses(buf.data(), buf.size(), 2);
  ASSERT_TRUE(ps) << ps.error().error.message;
  ASSERT_EQ(ps->size(), 2u);
  EXPECT_EQ((*ps)[0].memory_used, MiB(1024));
  EXPECT_EQ((*ps)[1].gpu_instance_id, -1);
  EXPECT_EQ((*ps)[1].memory_used, MiB(0));

  std::fill(buf.begin(), buf.end(), 0);
  put(32, 0, {100, 1ULL << 20, 2, 0});
  put(32, 1, {300, 1ULL << 20, 3, 0});
  ps = DecodeProcesses(buf.data(), buf.size(), 2);
  ASSERT_TRUE(ps) << ps.error().error.message;
  EXPECT_EQ((*ps)[1].pid, 300u);
  EXPECT_EQ((*ps)[1].gpu_instance_id, 3);

  EXPECT_EQ(DecodeProcesses(buf.data(), buf.size(), 1000).error().kind, GpuErrorKind::kBadReply);
  std::fill(buf.begin(), buf.end(), 0xFF);
  EXPECT_EQ(DecodeProcesses(buf.data(), buf.size(), 2).error().kind, GpuErrorKind::kBadReply);
  EXPECT_TRUE(DecodeProcesses(nullptr, 0, 0));
}

TEST(NvmlBackendOpen, MissingLibraryIsLibraryUnavailable) {
  GpuResult<std::unique_ptr<NvmlBackend>> b =
      NvmlBackend::Open({.library_path = "/nonexistent/libnvidia-ml.so.1"});
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().kind, GpuErrorKind::kLibraryUnavailable);
  EXPECT_THAT(b.error().error.message, HasSubstr("/nonexistent/libnvidia-ml.so.1"));
}

TEST(NvmlBackendOpen, LibraryPathFromEnvironment) {
  ::setenv("GPUSLICE_NVML_LIBRARY", "/nonexistent/from-env.so", 1);
  EXPECT_EQ(NvmlLibrary::DefaultPath(), "/nonexistent/from-env.so");
  GpuResult<std::unique_ptr<NvmlBackend>> b = NvmlBackend::Open({});
  ::unsetenv("GPUSLICE_NVML_LIBRARY");
  ASSERT_FALSE(b);
  EXPECT_THAT(b.error().error.message, HasSubstr("from-env.so"));
  EXPECT_EQ(NvmlLibrary::DefaultPath(), "libnvidia-ml.so.1");
}

TEST(NvmlBackendOpen, FailingInitIsReported) {
  ::unsetenv("GPUSLICE_FAKE_NVML_STATE");  // the fake then answers NVML_ERROR_DRIVER_NOT_LOADED
  GpuResult<std::unique_ptr<NvmlBackend>> b = NvmlBackend::Open({.library_path = GPUSLICE_FAKE_NVML_PATH});
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().kind, GpuErrorKind::kDriver);
  EXPECT_THAT(b.error().error.message, HasSubstr("NVML_ERROR_DRIVER_NOT_LOADED"));
}

}  // namespace
}  // namespace gpuslice::gpu
