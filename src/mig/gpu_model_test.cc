// Tests of GpuModel/Profile helpers: cost (DESIGN.md §4), profile lookup, the full profile,
// name normalisation and unknown fields.
#include "mig/gpu_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mig/catalog.h"

namespace gpuslice::mig {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const GpuModel& Model(std::string_view name) {
  const Result<ResolvedGpu> r = Catalog::BuiltIn().Resolve(name);
  if (!r) {
    ADD_FAILURE() << name << ": " << r.error().message;
    static const GpuModel empty;
    return empty;
  }
  return *r->model;
}

std::int64_t CostOf(std::string_view model, std::string_view profile) {
  const GpuModel& m = Model(model);
  const Profile* p = m.FindProfile(profile);
  if (p == nullptr) {
    ADD_FAILURE() << model << " has no " << profile;
    return -1;
  }
  return m.Cost(*p).value();
}

// cost = ceil(1000 * max(compute/C, units/U)).
TEST(GpuModelCostTest, DesignExamplesOnA100_40GB) {
  EXPECT_EQ(CostOf("A100-40GB", "1g.5gb"), 143);  // max(1/7, 1/8)
  EXPECT_EQ(CostOf("A100-40GB", "1g.5gb+me"), 143);
  EXPECT_EQ(CostOf("A100-40GB", "1g.10gb"), 250);  // max(1/7, 2/8)
  EXPECT_EQ(CostOf("A100-40GB", "2g.10gb"), 286);  // max(2/7, 2/8), rounded up
  EXPECT_EQ(CostOf("A100-40GB", "3g.20gb"), 500);  // max(3/7, 4/8)
  EXPECT_EQ(CostOf("A100-40GB", "4g.20gb"), 572);  // max(4/7, 4/8), rounded up
  EXPECT_EQ(CostOf("A100-40GB", "7g.40gb"), 1000);
}

TEST(GpuModelCostTest, OtherGrids) {
  EXPECT_EQ(CostOf("H100-80GB", "3g.40gb"), 500);
  EXPECT_EQ(CostOf("A30", "1g.6gb"), 250);
  EXPECT_EQ(CostOf("A30", "2g.12gb"), 500);
  EXPECT_EQ(CostOf("A30", "4g.24gb"), 1000);
  EXPECT_EQ(CostOf("RTX-PRO-6000", "1g.24gb"), 250);  // 1/4 of compute and 3/12 of units
  EXPECT_EQ(CostOf("RTX-PRO-6000", "2g.48gb-me"), 500);
  EXPECT_EQ(CostOf("RTX-PRO-6000", "4g.96gb+gfx"), 1000);
  EXPECT_EQ(CostOf("RTX-PRO-5000", "1g.24gb"), 500);
}

TEST(GpuModelCostTest, ModelWithoutGridCostsAWholeGpu) {
  const GpuModel& t4 = Model("T4");
  Profile p;
  p.compute_slices = 1;
  p.size_units = 1;
  EXPECT_EQ(t4.Cost(p), MilliGpu(1000));
}

TEST(GpuModelTest, FindProfileIgnoresCase) {
  const GpuModel& m = Model("A100-40GB");
  const Profile* p = m.FindProfile("1G.5GB+ME");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->name, "1g.5gb+me");
  EXPECT_EQ(m.FindProfile("3g.20GB"), &m.profiles[4]);
  EXPECT_EQ(m.FindProfile("1g.5gb-me"), nullptr);
  EXPECT_EQ(m.FindProfile(""), nullptr);
  EXPECT_EQ(m.FindProfile("mig-1g.5gb"), nullptr) << "the k8s resource prefix is not a profile";
}

TEST(GpuModelTest, ProfileIndex) {
  const GpuModel& m = Model("A100-40GB");
  EXPECT_EQ(m.ProfileIndex("1g.5gb"), 0);
  EXPECT_EQ(m.ProfileIndex("7G.40GB"), 6);
  EXPECT_EQ(m.ProfileIndex("7g.80gb"), -1);
}

TEST(GpuModelTest, FullProfile) {
  EXPECT_EQ(Model("A100-40GB").FullProfile()->name, "7g.40gb");
  EXPECT_EQ(Model("H200-141GB").FullProfile()->name, "7g.141gb");
  EXPECT_EQ(Model("A30").FullProfile()->name, "4g.24gb");
  // Not the +gfx twin that occupies the same 12 units.
  EXPECT_EQ(Model("RTX-PRO-6000").FullProfile()->name, "4g.96gb");
  EXPECT_EQ(Model("RTX-PRO-4500").FullProfile()->name, "2g.32gb");
  EXPECT_EQ(Model("L4").FullProfile(), nullptr);

  // Only a +gfx profile covers the grid: there is no default-media full profile.
  GpuModel m{.name = "X", .memory_units = 2, .compute_slices = 1};
  Profile gfx;
  gfx.name = "1g.2gb+gfx";
  gfx.compute_slices = 1;
  gfx.size_units = 2;
  gfx.gfx = true;
  m.profiles = {gfx};
  EXPECT_EQ(m.FullProfile(), nullptr);
}

TEST(GpuModelTest, NormalizeGpuName) {
  EXPECT_EQ(NormalizeGpuName("NVIDIA A100-SXM4-40GB"), "a100sxm440gb");
  EXPECT_EQ(NormalizeGpuName("a100 sxm4 40gb"), "a100sxm440gb");
  EXPECT_EQ(NormalizeGpuName("A100_SXM4\t40GB"), "a100sxm440gb");
  EXPECT_EQ(NormalizeGpuName("nvidia-h100-80gb"), "h10080gb");
  EXPECT_EQ(NormalizeGpuName("NVIDIA"), "nvidia") << "nothing would be left";
  EXPECT_EQ(NormalizeGpuName("Tesla T4"), "teslat4") << "only an 'nvidia' prefix is removed";
  EXPECT_EQ(NormalizeGpuName("GH200 NVIDIA"), "gh200nvidia");
  EXPECT_EQ(NormalizeGpuName(""), "");
}

TEST(GpuModelTest, UnknownFields) {
  EXPECT_THAT(Profile{}.UnknownFields(),
              ElementsAre("device_profile_id", "memory", "sm_count", "copy_engines", "media_engines"));
  EXPECT_THAT(Model("A100-40GB").FindProfile("1g.5gb")->UnknownFields(), IsEmpty());
  EXPECT_THAT(Model("H200-141GB").FindProfile("7g.141gb")->UnknownFields(),
              ElementsAre("memory", "sm_count"));
  EXPECT_THAT(Model("B200").FindProfile("3g.90gb")->UnknownFields(),
              ElementsAre("memory", "sm_count", "media_engines"));
  EXPECT_THAT(Model("H100-96GB").FindProfile("1g.12gb")->UnknownFields(),
              ElementsAre("device_profile_id", "memory", "sm_count", "copy_engines", "media_engines"));
}

TEST(GpuModelTest, Names) {
  EXPECT_EQ(ArchitectureName(Architecture::kAmpere), "Ampere");
  EXPECT_EQ(ArchitectureName(Architecture::kHopper), "Hopper");
  EXPECT_EQ(ArchitectureName(Architecture::kBlackwell), "Blackwell");
  EXPECT_EQ(ProvenanceName(Provenance::kCaptured), "captured");
  EXPECT_EQ(ProvenanceName(Provenance::kInferred), "inferred");
  EXPECT_EQ(Model("A30").architecture, Architecture::kAmpere);
  EXPECT_EQ(Model("GH200-144GB").architecture, Architecture::kHopper);
  EXPECT_EQ(Model("RTX-PRO-4500").architecture, Architecture::kBlackwell);
  // GPUs without MIG keep their own architecture.
  EXPECT_EQ(Model("L4").architecture, Architecture::kAda);
  EXPECT_EQ(ArchitectureName(Model("T4").architecture), "Turing");
  EXPECT_EQ(ArchitectureName(Model("V100").architecture), "Volta");
}

}  // namespace
}  // namespace gpuslice::mig
