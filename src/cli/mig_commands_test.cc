// The `gpuslice mig` commands, called in-process with captured output.
#include "cli/mig_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace gpuslice::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

struct Output {
  int code;
  std::string out;
  std::string err;
};

Output Invoke(int (*command)(const MigOptions&, std::ostream&, std::ostream&), const MigOptions& o) {
  std::ostringstream out, err;
  const int code = command(o, out, err);
  return {code, out.str(), err.str()};
}

MigOptions Gpu(std::string gpu, bool as_json = false) {
  MigOptions o;
  o.gpu = std::move(gpu);
  o.json = as_json;
  return o;
}

TEST(MigGpusTest, JsonListsEveryModelAndMarksUnknownFacts) {
  MigOptions o;
  o.json = true;
  const Output r = Invoke(RunMigGpus, o);
  ASSERT_EQ(r.code, 0);
  const json j = json::parse(r.out);
  EXPECT_EQ(j["count"], j["gpus"].size());
  bool saw_a100 = false, saw_l4 = false, saw_unknown = false;
  for (const json& g : j["gpus"]) {
    if (g["name"] == "A100-40GB") {
      saw_a100 = true;
      EXPECT_EQ(g["memory_units"], 8);
      EXPECT_EQ(g["compute_slices"], 7);
      EXPECT_EQ(g["placements"], "captured");
    }
    if (g["name"] == "L4") {
      saw_l4 = true;
      EXPECT_EQ(g["mig_capable"], false);
    }
    if (g["name"] == "H200-141GB") {
      EXPECT_EQ(g["placements"], "inferred");
      for (const json& u : g["unknown"]) saw_unknown |= u == "7g.141gb.sm_count";
    }
  }
  EXPECT_TRUE(saw_a100 && saw_l4);
  EXPECT_TRUE(saw_unknown) << "H200 7g.141gb SM count is UNCONFIRMED in the reference";
}

TEST(MigGpusTest, TableHasUnknownColumn) {
  const Output r = Invoke(RunMigGpus, MigOptions{});
  ASSERT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("UNKNOWN"));
  EXPECT_THAT(r.out, HasSubstr("A100-40GB"));
}

TEST(MigProfilesTest, TableShowsReferenceRowAndUnknownsAsQuestionMarks) {
  const Output r = Invoke(RunMigProfiles, Gpu("NVIDIA A100-SXM4-40GB"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("A100-40GB (NVIDIA A100-SXM4-40GB)"));
  EXPECT_THAT(r.out, HasSubstr("{0,2,4,6}:2"));
  EXPECT_THAT(r.out, HasSubstr("39.25 GiB"));
  const Output h200 = Invoke(RunMigProfiles, Gpu("H200-141GB"));
  EXPECT_THAT(h200.out, HasSubstr("?"));
}

TEST(MigProfilesTest, JsonProfileMatchesReference) {
  const Output r = Invoke(RunMigProfiles, Gpu("a100-40gb", true));
  ASSERT_EQ(r.code, 0);
  const json j = json::parse(r.out);
  bool found = false;
  for (const json& p : j["profiles"]) {
    if (p["name"] != "3g.20gb") continue;
    found = true;
    EXPECT_EQ(p["device_profile_id"], 9);
    EXPECT_EQ(p["sm_count"], 42);
    EXPECT_EQ(p["starts"], json::array({0, 4}));
    EXPECT_EQ(p["size_units"], 4);
    EXPECT_EQ(p["cost_mgpu"], 500);
  }
  EXPECT_TRUE(found);
}

TEST(MigProfilesTest, NonMigModelSaysSo) {
  const Output r = Invoke(RunMigProfiles, Gpu("T4"));
  ASSERT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("has no MIG"));
}

TEST(MigLayoutsTest, JsonCountMatchesListAndLayoutsAreMaximal) {
  MigOptions o = Gpu("A100-SXM4-40GB", true);
  o.maximal = true;
  const Output r = Invoke(RunMigLayouts, o);
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["count"], j["layouts"].size());
  EXPECT_GT(j["count"].get<int>(), 14);
  for (const json& layout : j["layouts"]) {
    int units = 0;
    for (const json& inst : layout) units += inst["size"].get<int>();
    EXPECT_GE(units, 7) << layout.dump();  // a maximal 8-unit layout leaves at most unit 7 free
  }
}

TEST(MigLayoutsTest, ProfileFilterAndLimit) {
  MigOptions o = Gpu("A30", true);
  o.profiles = {"4g.24gb"};
  json j = json::parse(Invoke(RunMigLayouts, o).out);
  EXPECT_EQ(j["count"], 1);
  EXPECT_EQ(j["layouts"][0][0]["profile"], "4g.24gb");

  o = Gpu("A100-40GB", true);
  o.limit = 3;
  j = json::parse(Invoke(RunMigLayouts, o).out);
  EXPECT_EQ(j["layouts"].size(), 3u);
  EXPECT_GT(j["count"].get<int>(), 3);

  o.profiles = {"9g.99gb"};
  const Output bad = Invoke(RunMigLayouts, o);
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.out, HasSubstr("has no profile '9g.99gb'"));
}

TEST(MigLayoutsTest, UnknownModelIsBadInputWithSuggestions) {
  const Output r = Invoke(RunMigLayouts, Gpu("A100-SXM4-41GB"));
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown GPU model 'A100-SXM4-41GB'"));
  EXPECT_THAT(r.err, HasSubstr("A100-SXM4-40GB"));
}

TEST(MigCheckTest, ValidLayoutChoosesMissingStart) {
  MigOptions o = Gpu("A100-40GB", true);
  o.specs = {"3g.20gb@4", "2g.10gb@0", "1g.5gb"};
  const Output r = Invoke(RunMigCheck, o);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["valid"], true);
  ASSERT_EQ(j["placements"].size(), 3u);
  // Sorted by start: 2g@0, then the 1g in units 2-3 (the engine's pick), then 3g@4.
  EXPECT_EQ(j["placements"][0]["profile"], "2g.10gb");
  EXPECT_EQ(j["placements"][2]["profile"], "3g.20gb");
  const int one_start = j["placements"][1]["start"];
  EXPECT_TRUE(one_start == 2 || one_start == 3);
}

TEST(MigCheckTest, InvalidLayoutExitsOneWithReason) {
  MigOptions o = Gpu("A100-40GB");
  o.specs = {"3g.20gb@4", "4g.20gb@0", "1g.5gb"};
  const Output r = Invoke(RunMigCheck, o);
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("invalid on A100-40GB"));
  o.specs = {"3g.20gb@3"};
  const Output r2 = Invoke(RunMigCheck, o);
  EXPECT_NE(r2.code, 0);
  EXPECT_THAT(r2.err, HasSubstr("allowed starts: 0,4"));
}

TEST(MigResolveTest, SmallestProfileForASize) {
  MigOptions o = Gpu("H100-80GB", true);
  o.memory = "15GiB";
  const Output r = Invoke(RunMigResolve, o);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(json::parse(r.out)["profile"]["name"], "1g.20gb");
  o.memory = "200GiB";
  EXPECT_EQ(Invoke(RunMigResolve, o).code, 1);
  o.memory = "lots";
  EXPECT_EQ(Invoke(RunMigResolve, o).code, 2);
  o.memory = "";
  o.media = "maybe";
  EXPECT_EQ(Invoke(RunMigResolve, o).code, 2);
}

}  // namespace
}  // namespace gpuslice::cli
