#include "sim/workload_gen.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace gpuslice::sim {
namespace {

using ::testing::HasSubstr;

TEST(GeneratorSpecTest, ParsesKindAndOptions) {
  const Result<GeneratorSpec> s = ParseGeneratorSpec("mix:jobs=5000,hours=48,teams=nlp|vision|speech");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->kind, GeneratorSpec::Kind::kMix);
  EXPECT_EQ(s->jobs, 5000);
  EXPECT_EQ(s->hours, 48);
  EXPECT_EQ(s->teams, (std::vector<std::string>{"nlp", "vision", "speech"}));
  EXPECT_EQ(ParseGeneratorSpec("notebooks")->kind, GeneratorSpec::Kind::kNotebooks);
}

TEST(GeneratorSpecTest, RejectsWithAReason) {
  EXPECT_THAT(ParseGeneratorSpec("cron").error().message, HasSubstr("unknown generator 'cron'"));
  EXPECT_THAT(ParseGeneratorSpec("mix:jobs=0").error().message, HasSubstr("jobs='0'"));
  EXPECT_THAT(ParseGeneratorSpec("mix:speed=3").error().message, HasSubstr("unknown option 'speed'"));
  EXPECT_THAT(ParseGeneratorSpec("mix:teams=a||b").error().message, HasSubstr("bad team name"));
  EXPECT_THAT(ParseGeneratorSpec("mix:jobs").error().message, HasSubstr("not key=value"));
}

TEST(GenerateWorkloadTest, SameSeedSameWorkloadAndEveryJobIsValid) {
  const GeneratorSpec spec = ParseGeneratorSpec("mix:jobs=2000,hours=10,teams=a|b|c").value();
  Rng r1(11), r2(11), r3(12);
  const std::vector<JobSpec> a = GenerateWorkload(spec, r1);
  EXPECT_EQ(a, GenerateWorkload(spec, r2));
  EXPECT_NE(a, GenerateWorkload(spec, r3));
  ASSERT_EQ(a.size(), 2000u);
  std::map<JobKind, int> kinds;
  std::map<std::string, int> teams;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(ValidateJobSpec(a[i])) << a[i].name;
    if (i > 0) {
      EXPECT_GE(a[i].submit_ms, a[i - 1].submit_ms);
    }
    ++kinds[a[i].kind];
    ++teams[a[i].team];
  }
  // 40/30/30 of 2000, within a generous band.
  EXPECT_NEAR(kinds[JobKind::kNotebook], 800, 120);
  EXPECT_NEAR(kinds[JobKind::kService], 600, 120);
  EXPECT_NEAR(kinds[JobKind::kBatch], 600, 120);
  EXPECT_EQ(teams.size(), 3u);
  // Arrivals spread over about 10 hours.
  EXPECT_GT(a.back().submit_ms, 8 * 3600 * 1000);
  EXPECT_LT(a.back().submit_ms, 12 * 3600 * 1000);
}

TEST(GenerateWorkloadTest, BatchHasGangsOfWholeGpus) {
  Rng rng(3);
  const std::vector<JobSpec> jobs = GenerateWorkload(ParseGeneratorSpec("batch:jobs=1000").value(), rng);
  int gangs = 0;
  for (const JobSpec& j : jobs) {
    if (j.count > 1) {
      ++gangs;
      EXPECT_EQ(j.profile, kWholeGpu);
      EXPECT_TRUE(j.same_node);
      EXPECT_LE(j.count, 8);
    }
  }
  EXPECT_NEAR(gangs, 50, 25);
}

}  // namespace
}  // namespace gpuslice::sim
