// The simulator on tiny, hand-checkable scenarios.
#include "sim/simulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpuslice::sim {
namespace {

using ::testing::HasSubstr;

ClusterSpec Cluster(std::string_view yaml) {
  Result<ClusterSpec> c = ParseClusterSpec(yaml, ".", [](const std::string& p) -> Result<std::string> {
    return Fail(ErrorCode::kNotFound, "no file {}", p);
  });
  EXPECT_TRUE(c) << c.error().message;
  return *c;
}

std::vector<JobSpec> Jobs(std::string_view csv) {
  return ParseJobsCsv(csv).value();
}

TEST(SimulatorTest, ParsePolicy) {
  EXPECT_EQ(ParsePolicy("gpuslice")->kind, PolicySpec::Kind::kGpuslice);
  EXPECT_EQ(ParsePolicy("first-fit")->kind, PolicySpec::Kind::kFirstFit);
  EXPECT_EQ(ParsePolicy("whole-gpu")->kind, PolicySpec::Kind::kWholeGpu);
  const Result<PolicySpec> s = ParsePolicy("static:dir/a.yaml:all-balanced");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->static_file, "dir/a.yaml");
  EXPECT_EQ(s->static_config, "all-balanced");
  EXPECT_THAT(ParsePolicy("static:x").error().message, HasSubstr("static:FILE:CONFIG"));
  EXPECT_THAT(ParsePolicy("best").error().message, HasSubstr("unknown policy 'best'"));
}

// One GPU, two full-GPU jobs of 100 s, the second submitted at 50 s: it waits 50 s, the GPU is
// busy from 0 to 200 s (100%), and the bound is 7 x (100 + 100) / (7 x 200) = 100%.
TEST(SimulatorTest, ReplayAccountsWaitsAndAllocation) {
  const ClusterSpec c = Cluster("nodes:\n  - {count: 1, gpus: 1, model: A100-SXM4-80GB}\n");
  const std::vector<JobSpec> jobs = Jobs(
      "name,team,kind,submit_s,duration_s,profile\nj1,default,batch,0,100,7g.80gb\nj2,default,batch,50,100,"
      "7g.80gb\n");
  const Result<PolicyResult> r = RunPolicy(ParsePolicy("gpuslice").value(), c, jobs, {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->jobs_placed, 2);
  EXPECT_DOUBLE_EQ(r->allocation_ratio, 1.0);
  EXPECT_DOUBLE_EQ(r->upper_bound, 1.0);
  EXPECT_EQ(r->waits_s, (std::vector<double>{0, 50}));
  EXPECT_EQ(r->instances_created, 1);  // the second job reuses the warm 7g
}

// Whole GPUs waste what slices would share: two 1g jobs on one GPU at the same time.
TEST(SimulatorTest, WholeGpuPolicyServesOneJobPerGpu) {
  const ClusterSpec c = Cluster("nodes:\n  - {count: 1, gpus: 1, model: A100-SXM4-80GB}\n");
  const std::vector<JobSpec> jobs = Jobs(
      "name,team,kind,submit_s,duration_s,profile\na,default,batch,0,100,1g.10gb\nb,default,batch,0,100,1g."
      "10gb\n");
  const PolicyResult sliced = RunPolicy(ParsePolicy("gpuslice").value(), c, jobs, {}).value();
  const PolicyResult whole = RunPolicy(ParsePolicy("whole-gpu").value(), c, jobs, {}).value();
  EXPECT_EQ(sliced.wait_s.p99, 0);
  EXPECT_DOUBLE_EQ(sliced.allocation_ratio, 2.0 / 7.0);
  EXPECT_EQ(whole.waits_s, (std::vector<double>{0, 100}));
  EXPECT_DOUBLE_EQ(whole.allocation_ratio, 1.0 / 7.0);  // 1 slice for 200 s of 200 s
}

TEST(SimulatorTest, ArrivalModeIsDeterministicForASeedAndStopsAtTheLimit) {
  const ClusterSpec c = Cluster("nodes:\n  - {count: 2, gpus: 8, model: A100-SXM4-80GB}\n");
  const std::vector<JobSpec> jobs = Jobs(
      "name,team,kind,submit_s,profile\na,default,batch,0,1g.10gb\nb,default,batch,0,3g.40gb\nc,default,"
      "batch,0,whole\n");
  SimOptions o;
  o.mode = SimOptions::Mode::kArrival;
  o.seed = 7;
  const PolicyResult r1 = RunPolicy(ParsePolicy("gpuslice").value(), c, jobs, o).value();
  const PolicyResult r2 = RunPolicy(ParsePolicy("gpuslice").value(), c, jobs, o).value();
  EXPECT_EQ(r1.jobs_placed, r2.jobs_placed);
  EXPECT_EQ(r1.allocation_ratio, r2.allocation_ratio);
  EXPECT_EQ(r1.allocation.size(), 100u);  // one point per 1% of arrived demand
  EXPECT_GT(r1.allocation_ratio, 0.5);
  EXPECT_LE(r1.allocation_ratio, r1.upper_bound);
}

TEST(SimulatorTest, ErrorsAreReported) {
  const ClusterSpec c = Cluster("nodes:\n  - {count: 1, gpus: 1, model: A100-SXM4-80GB}\n");
  EXPECT_FALSE(RunPolicy(ParsePolicy("gpuslice").value(), c, {}, {}));
  const std::vector<JobSpec> jobs = Jobs("name,team,kind,submit_s,profile\na,nlp,batch,0,1g.10gb\n");
  const ClusterSpec teams = Cluster(
      "nodes:\n  - {count: 1, gpus: 1, model: A100-SXM4-80GB}\nteams:\n  - {name: vision, quota_mgpu: "
      "1000}\n");
  EXPECT_THAT(RunPolicy(ParsePolicy("gpuslice").value(), teams, jobs, {}).error().message,
              HasSubstr("the cluster has no team 'nlp'"));
  EXPECT_THAT(RunPolicy(ParsePolicy("static:nofile.yaml:x").value(), c, jobs, {}).error().message,
              HasSubstr("nofile.yaml"));
}

}  // namespace
}  // namespace gpuslice::sim
