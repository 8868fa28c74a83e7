// Every scenario file in tests/scenarios/ runs as its own test case, plus unit tests of the
// runner itself (malformed lines, failed expectations).
#include "sim/scenario.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace gpuslice::sim {
namespace {

using ::testing::HasSubstr;

const std::string kDir = std::string(GPUSLICE_SOURCE_DIR) + "/tests/scenarios";

std::vector<std::string> ScenarioFiles() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(kDir)) {
    if (e.path().extension() == ".scenario") out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class ScenarioFileTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ScenarioFileTest, Passes) {
  const Result<ScenarioResult> r = RunScenarioFile(kDir + "/" + GetParam());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_GT(r->checks, 0) << "a scenario without expectations tests nothing";
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ScenarioFileTest, ::testing::ValuesIn(ScenarioFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(0, info.param.find('.'));
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

const std::string kHeader = "cluster " + kDir + "/one-a100.yaml\n";

TEST(ScenarioRunnerTest, AFailedExpectationSaysWhatWasSeen) {
  const Result<ScenarioResult> r = RunScenario(kHeader +
                                                   "submit a team=nlp profile=1g.10gb\n"
                                                   "schedule\n"
                                                   "expect decisions\n"
                                                   "  bind a on n-1/0 1g.10gb@0\n",
                                               "inline");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(r.error().message, HasSubstr("inline:4: decisions:"));
  EXPECT_THAT(r.error().message, HasSubstr("create 1g.10gb@6 on a100-1/0"));
}

TEST(ScenarioRunnerTest, MalformedLinesNameTheirLine) {
  for (const char* bad :
       {"submit a profile=1g.10gb", "submit a team=nlp bogus=1", "at -5", "frobnicate", "finish nobody",
        "cordon a100-1/9", "option preemption maybe", "expect usage nlp"}) {
    const Result<ScenarioResult> r = RunScenario(kHeader + bad + "\n", "inline");
    ASSERT_FALSE(r) << bad;
    EXPECT_THAT(r.error().message, HasSubstr("inline:2: ")) << bad;
  }
  const Result<ScenarioResult> none = RunScenario("at 5\n", "inline");
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error().message, HasSubstr("before the `cluster` line"));
}

}  // namespace
}  // namespace gpuslice::sim
