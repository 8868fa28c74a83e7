#include "mig/mig_parted.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace gpuslice::mig {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(GPUSLICE_SOURCE_DIR) + "/examples/mig-parted/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

MigPartedConfig ParseFile(const std::string& name) {
  Result<MigPartedConfig> c = ParseMigPartedConfig(ReadTestdata(name));
  EXPECT_TRUE(c.has_value()) << name << ": " << c.error().message;
  return c.value_or(MigPartedConfig{});
}

PlanGpu Gpu(int index, std::string_view name) {
  Result<ResolvedGpu> g = Catalog::BuiltIn().Resolve(name);
  EXPECT_TRUE(g.has_value()) << name;
  return {index, g.value_or(ResolvedGpu{})};
}

// Profile name -> instances, the way mig-parted writes mig-devices.
std::map<std::string, int> Counts(const GpuPlan& plan) {
  std::map<std::string, int> out;
  for (const Placement& p : plan.placements) ++out[plan.gpu.model->profiles[p.profile].name];
  return out;
}

std::vector<int> Starts(const GpuPlan& plan) {
  std::vector<int> out;
  for (const Placement& p : plan.placements) out.push_back(p.start);
  return out;
}

// Layouts are kept sorted by (start, profile).
bool SortedByStart(const Layout& l) {
  return std::is_sorted(l.begin(), l.end(), [](const Placement& a, const Placement& b) {
    return a.start != b.start ? a.start < b.start : a.profile < b.profile;
  });
}

// Every layout a plan yields must be valid for its GPU (rules in layout.h) and sorted.
void ExpectValid(const GpuPlan& plan) {
  ASSERT_NE(plan.gpu.model, nullptr);
  Result<Geometry> g = Geometry::Build(*plan.gpu.model);
  ASSERT_TRUE(g.has_value());
  Result<void> ok = g->Validate(plan.placements);
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_TRUE(SortedByStart(plan.placements));
  EXPECT_EQ(plan.compute_instance_slices.size(), plan.placements.size());
}

Result<std::vector<GpuPlan>> Plan(const std::string& yaml, std::string_view name, std::vector<PlanGpu> gpus) {
  Result<MigPartedConfig> c = ParseMigPartedConfig(yaml);
  if (!c) return Fail(c.error());
  return PlanConfig(*c, name, gpus);
}

// ---- Parsing the sample files -------------------------------------------------------------

TEST(MigPartedParse, GpuOperatorCatalogue) {
  const MigPartedConfig c = ParseFile("gpu-operator-catalogue.yaml");
  for (const char* name : {"all-disabled", "all-enabled", "all-1g.5gb", "all-1g.10gb", "all-balanced"}) {
    EXPECT_TRUE(c.configs.contains(name)) << name;
  }
  const std::vector<MigConfigEntry>& balanced = c.configs.at("all-balanced");
  ASSERT_EQ(balanced.size(), 6u);
  EXPECT_THAT(balanced[0].device_filter, ElementsAre(0x20B710DEu));
  EXPECT_THAT(balanced[1].device_filter, ElementsAre(0x20B010DEu, 0x20F110DEu));
  EXPECT_FALSE(balanced[1].devices.has_value());  // devices: all
  EXPECT_TRUE(balanced[1].mig_enabled);
  ASSERT_EQ(balanced[1].mig_devices.size(), 3u);
  EXPECT_EQ(balanced[1].mig_devices[0].profile, "1g.5gb");
  EXPECT_EQ(balanced[1].mig_devices[0].count, 2);
  EXPECT_GT(balanced[1].line, balanced[0].line);

  const MigConfigEntry& enabled = c.configs.at("all-enabled").at(0);
  EXPECT_TRUE(enabled.mig_enabled);
  EXPECT_THAT(enabled.mig_devices, IsEmpty());
  EXPECT_FALSE(c.configs.at("all-disabled").at(0).mig_enabled);
}

TEST(MigPartedParse, CustomConfigInFlowStyle) {
  const MigPartedConfig c = ParseFile("custom-per-gpu.yaml");
  const std::vector<MigConfigEntry>& e = c.configs.at("custom-config");
  ASSERT_EQ(e.size(), 5u);
  ASSERT_TRUE(e[0].devices.has_value());
  EXPECT_THAT(*e[0].devices, ElementsAre(0, 1, 2, 3));
  EXPECT_FALSE(e[0].mig_enabled);
  EXPECT_THAT(*e[4].devices, ElementsAre(7));
  EXPECT_EQ(e[0].line, 6);  // the line of the first "- {" in the file
}

TEST(MigPartedParse, HexIsCaseInsensitiveAndYamlBooleansAreAccepted) {
  Result<MigPartedConfig> c = ParseMigPartedConfig(R"(version: v1
mig-configs:
  x:
    - device-filter: 0x20b010de
      devices: all
      mig-enabled: True
      mig-devices: {1g.5gb: 7}
    - devices: [1]
      mig-enabled: no
)");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_THAT(c->configs.at("x")[0].device_filter, ElementsAre(0x20B010DEu));
  EXPECT_TRUE(c->configs.at("x")[0].mig_enabled);
  EXPECT_FALSE(c->configs.at("x")[1].mig_enabled);
}

TEST(MigPartedParse, ZeroCountsBesideNonZeroOnesAreKept) {
  Result<MigPartedConfig> c = ParseMigPartedConfig(
      "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n"
      "      mig-devices: {1g.5gb: 0, 3g.20gb: 2}\n");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->configs.at("x")[0].mig_devices.size(), 2u);
}

// ---- Parse errors: each says what and where -----------------------------------------------

struct BadConfig {
  const char* what;
  std::string yaml;
  std::vector<std::string> message_parts;
};

std::string Entry(const std::string& body) {
  return "version: v1\nmig-configs:\n  cfg:\n    - " + body + "\n";
}

std::vector<BadConfig> BadConfigs() {
  const std::string kOk = "devices: all\n      mig-enabled: true\n      mig-devices: ";
  return {
      {"wrong version",
       "version: v2\nmig-configs: {a: [{devices: all, mig-enabled: false}]}\n",
       {"line 1", "unsupported version 'v2'"}},
      {"missing version",
       "mig-configs: {a: [{devices: all, mig-enabled: false}]}\n",
       {"missing field 'version'"}},
      {"unknown top-level field", "version: v1\nmigconfigs: {}\n", {"line 2", "unknown field 'migconfigs'"}},
      {"no configs", "version: v1\nmig-configs: {}\n", {"at least one config"}},
      {"empty config", "version: v1\nmig-configs:\n  a: []\n", {"config 'a'", "at least one entry"}},
      {"unknown entry field",
       Entry("devices: all\n      mig-enabled: true\n      mig-device: {1g.5gb: 1}"),
       {"config 'cfg', entry 1 (line 4)", "line 6", "unknown field 'mig-device'"}},
      {"negative count", Entry(kOk + "{1g.5gb: -1}"), {"line 6", "count for '1g.5gb'", "'-1'"}},
      {"float count", Entry(kOk + "{1g.5gb: 7.0}"), {"count for '1g.5gb'", "'7.0'"}},
      {"quoted count", Entry(kOk + "{1g.5gb: \"7\"}"), {"count for '1g.5gb'"}},
      {"huge count", Entry(kOk + "{1g.5gb: 99999999999999999999}"), {"from 0 to 64"}},
      {"count just over the limit", Entry(kOk + "{1g.5gb: 65}"), {"from 0 to 64"}},
      {"all-zero counts",
       Entry(kOk + "{1g.5gb: 0, 2g.10gb: 0}"),
       {"line 6", "every count in mig-devices is 0"}},
      {"not a profile name", Entry(kOk + "{big: 1}"), {"'big' is not a MIG profile name"}},
      {"profile name with junk", Entry(kOk + "{1g.5gb!: 1}"), {"'1g.5gb!'"}},
      {"devices on a disabled entry",
       Entry("devices: all\n      mig-enabled: false\n      mig-devices: {1g.5gb: 1}"),
       {"entry 1", "must be empty when mig-enabled is false"}},
      {"enabled without mig-devices",
       Entry("devices: all\n      mig-enabled: true"),
       {"mig-devices is missing"}},
      {"enabled with null mig-devices",
       Entry("devices: all\n      mig-enabled: true\n      mig-devices:"),
       {"mig-devices is missing"}},
      {"missing devices", Entry("mig-enabled: false"), {"missing required field 'devices'"}},
      {"missing mig-enabled", Entry("devices: all"), {"missing required field 'mig-enabled'"}},
      {"quoted bool", Entry("devices: all\n      mig-enabled: \"false\""), {"line 5", "true or false"}},
      {"devices word", Entry("devices: some\n      mig-enabled: false"), {"'all' or a list"}},
      {"duplicate GPU index",
       Entry("devices: [0, 1, 0]\n      mig-enabled: false"),
       {"GPU index 0 is listed twice"}},
      {"negative GPU index", Entry("devices: [-1]\n      mig-enabled: false"), {"GPU index '-1'"}},
      {"fractional GPU index", Entry("devices: [1.5]\n      mig-enabled: false"), {"GPU index '1.5'"}},
      {"short PCI id",
       Entry("device-filter: 0x20B0\n      devices: all\n      mig-enabled: false"),
       {"line 4", "'0x20B0' is not a PCI device id"}},
      {"PCI id without 0x",
       Entry("device-filter: 20B010DE\n      devices: all\n      mig-enabled: false"),
       {"'20B010DE' is not a PCI device id"}},
      {"non-hex PCI id",
       Entry("device-filter: [0x20B010DE, 0x20B0Z0DE]\n      devices: all\n      mig-enabled: false"),
       {"'0x20B0Z0DE'"}},
      {"PCI subsystem qualifier",
       Entry("device-filter: \"0x20B010DE:0x145110DE\"\n      devices: all\n      mig-enabled: false"),
       {"subsystem qualifier", "':0x145110DE'", "'0x20B010DE'"}},
      {"duplicate key",
       Entry("devices: all\n      devices: all\n      mig-enabled: false"),
       {"line 5", "duplicate key 'devices' (first on line 4)"}},
      {"duplicate config name",
       "version: v1\nmig-configs:\n  a: [{devices: all, mig-enabled: false}]\n  a: [{devices: all, "
       "mig-enabled: false}]\n",
       {"line 4", "duplicate key 'a'"}},
      {"empty document", "", {"empty mig-parted config"}},
      {"only a comment", "# nothing\n", {"empty mig-parted config"}},
      {"a list at the top", "- version: v1\n", {"a mig-parted config is a mapping"}},
      {"two documents", "version: v1\n---\nversion: v1\n", {"line 2", "expected one YAML document"}},
      // yaml-cpp 0.7's LoadAll loops forever, allocating, on a stray comma (yaml-cpp#1040).
      {"stray comma", ",", {"line 1, column 1", "unexpected ','"}},
      {"stray comma after text", ", x\n", {"unexpected ','"}},
      {"broken YAML", "version: v1\nmig-configs: [\n", {"invalid YAML"}},
  };
}

TEST(MigPartedParse, RejectsBadConfigsWithWhereAndWhat) {
  for (const BadConfig& bad : BadConfigs()) {
    Result<MigPartedConfig> c = ParseMigPartedConfig(bad.yaml);
    ASSERT_FALSE(c.has_value()) << bad.what;
    EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument) << bad.what;
    for (const std::string& part : bad.message_parts) {
      EXPECT_THAT(c.error().message, HasSubstr(part)) << bad.what;
    }
  }
}

TEST(MigPartedParse, RefusesOversizedInputBeforeParsing) {
  std::string big = "version: v1\n# ";
  big.append((1 << 20), 'x');
  Result<MigPartedConfig> c = ParseMigPartedConfig(big);
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("at most 1048576 (1 MiB)"));
}

TEST(MigPartedParse, RefusesDeepFlowNestingThatWouldOverflowTheParserStack) {
  // yaml-cpp recurses once per level; 100k levels would overflow the stack.
  const std::string deep = "version: v1\nmig-configs: " + std::string(100000, '[') + std::string(100000, ']');
  Result<MigPartedConfig> c = ParseMigPartedConfig(deep);
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, AllOf(HasSubstr("line 2"), HasSubstr("nested more than 32 deep")));
}

TEST(MigPartedParse, RefusesDeepBlockNesting) {
  std::string deep = "version: v1\nmig-configs:\n";
  for (int i = 0; i < 50; ++i) deep += std::string(static_cast<std::size_t>(2 * i + 2), ' ') + "k:\n";
  Result<MigPartedConfig> c = ParseMigPartedConfig(deep);
  ASSERT_FALSE(c.has_value());
  EXPECT_THAT(c.error().message, HasSubstr("columns deep"));
  // Compact sequences nest on one line without indentation.
  std::string compact = "version: v1\nmig-configs:\n  a:\n    ";
  for (int i = 0; i < 60; ++i) compact += "- ";
  compact += "x\n";
  Result<MigPartedConfig> c2 = ParseMigPartedConfig(compact);
  ASSERT_FALSE(c2.has_value());
  EXPECT_THAT(c2.error().message, AllOf(HasSubstr("line 4"), HasSubstr("columns deep")));
}

TEST(MigPartedParse, AliasExpansionIsBounded) {
  // "Billion laughs": each level names the previous one ten times. yaml-cpp shares aliased
  // nodes, so only a walk that follows them could blow up; it must stop with an error quickly.
  std::string yaml = "version: v1\nmig-configs:\n  a: &e0 [{devices: all, mig-enabled: false}]\n";
  for (int level = 1; level <= 8; ++level) {
    yaml += "  l" + std::to_string(level) + ": &e" + std::to_string(level) + " [";
    for (int k = 0; k < 10; ++k) yaml += (k ? ", *e" : "*e") + std::to_string(level - 1);
    yaml += "]\n";
  }
  const auto t0 = std::chrono::steady_clock::now();
  Result<MigPartedConfig> c = ParseMigPartedConfig(yaml);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  ASSERT_FALSE(c.has_value());
}

TEST(MigPartedParse, SmallAliasesAreFine) {
  Result<MigPartedConfig> c = ParseMigPartedConfig(R"(version: v1
mig-configs:
  a:
    - &whole {devices: all, mig-enabled: false}
  b:
    - *whole
)");
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->configs.size(), 2u);
}

// ---- Planning: GPU-Operator catalogue -----------------------------------------------------

TEST(MigPartedPlan, BalancedOnAMixedNode) {
  const MigPartedConfig c = ParseFile("gpu-operator-catalogue.yaml");
  const std::vector<PlanGpu> gpus = {Gpu(0, "NVIDIA A100-SXM4-40GB"),
                                     Gpu(1, "NVIDIA H100 80GB HBM3"),
                                     Gpu(2, "NVIDIA A30"),
                                     Gpu(3, "NVIDIA RTX PRO 6000 Blackwell Server Edition"),
                                     Gpu(4, "NVIDIA B200"),
                                     Gpu(5, "L4")};
  Result<std::vector<GpuPlan>> plans = PlanConfig(c, "all-balanced", gpus);
  ASSERT_TRUE(plans.has_value()) << plans.error().message;
  ASSERT_EQ(plans->size(), 6u);
  const std::vector<std::map<std::string, int>> want = {
      {{"1g.5gb", 2}, {"2g.10gb", 1}, {"3g.20gb", 1}},
      {{"1g.10gb", 2}, {"2g.20gb", 1}, {"3g.40gb", 1}},
      {{"1g.6gb", 2}, {"2g.12gb", 1}},
      {{"1g.24gb", 2}, {"2g.48gb", 1}},
      {{"1g.23gb", 2}, {"2g.45gb", 1}, {"3g.90gb", 1}},
  };
  for (std::size_t i = 0; i < want.size(); ++i) {
    const GpuPlan& p = (*plans)[i];
    EXPECT_EQ(p.index, static_cast<int>(i));
    EXPECT_TRUE(p.matched);
    EXPECT_TRUE(p.mig_enabled);
    EXPECT_EQ(Counts(p), want[i]) << p.gpu.model->name;
    ExpectValid(p);
  }
  // On the 8-unit grid a 3g at 0 would leave one legal 1g start beside the 2g, so the 3g must
  // take units 4-7 (mig-facts §2.5: 3g {0,4}:4, 2g {0,2,4}:2, 1g {0..6}:1).
  for (int i : {0, 1, 4}) {
    const GpuPlan& p = (*plans)[static_cast<std::size_t>(i)];
    EXPECT_EQ(p.placements.back().start, 4) << p.gpu.model->name;
    EXPECT_EQ(p.gpu.model->profiles[p.placements.back().profile].compute_slices, 3);
  }
  // The L4 has no MIG and no filter names it: left as it is.
  EXPECT_FALSE((*plans)[5].matched);
  EXPECT_THAT((*plans)[5].placements, IsEmpty());
}

TEST(MigPartedPlan, DeviceFilterPicksTheRightEntryForAnAmbiguousName) {
  // "1g.10gb" is a 2-unit double-memory profile (max 4) on A100-40GB and a 1-unit profile
  // (max 7) on A100-80GB / H100; the catalogue's filters pick the matching count.
  const MigPartedConfig c = ParseFile("gpu-operator-catalogue.yaml");
  Result<std::vector<GpuPlan>> plans =
      PlanConfig(c, "all-1g.10gb", std::vector<PlanGpu>{Gpu(0, "A100-PCIE-40GB"), Gpu(1, "A100-SXM4-80GB")});
  ASSERT_TRUE(plans.has_value()) << plans.error().message;
  EXPECT_THAT(Starts((*plans)[0]), ElementsAre(0, 2, 4, 6));
  EXPECT_THAT(Starts((*plans)[1]), ElementsAre(0, 1, 2, 3, 4, 5, 6));
  ExpectValid((*plans)[0]);
  ExpectValid((*plans)[1]);
}

TEST(MigPartedPlan, AllEnabledAndAllDisabled) {
  const MigPartedConfig c = ParseFile("gpu-operator-catalogue.yaml");
  const std::vector<PlanGpu> gpus = {Gpu(0, "H100-80GB"), Gpu(1, "A30")};
  Result<std::vector<GpuPlan>> on = PlanConfig(c, "all-enabled", gpus);
  ASSERT_TRUE(on.has_value()) << on.error().message;
  for (const GpuPlan& p : *on) {
    EXPECT_TRUE(p.matched && p.mig_enabled);
    EXPECT_THAT(p.placements, IsEmpty());
  }
  Result<std::vector<GpuPlan>> off = PlanConfig(c, "all-disabled", gpus);
  ASSERT_TRUE(off.has_value()) << off.error().message;
  for (const GpuPlan& p : *off) {
    EXPECT_TRUE(p.matched);
    EXPECT_FALSE(p.mig_enabled);
    EXPECT_THAT(p.placements, IsEmpty());
  }
}

TEST(MigPartedPlan, FilteredConfigLeavesOtherModelsAlone) {
  const MigPartedConfig c = ParseFile("gpu-operator-catalogue.yaml");
  Result<std::vector<GpuPlan>> plans =
      PlanConfig(c, "all-1g.24gb", std::vector<PlanGpu>{Gpu(0, "H100-80GB"), Gpu(1, "RTX-PRO-6000")});
  ASSERT_TRUE(plans.has_value()) << plans.error().message;
  EXPECT_FALSE((*plans)[0].matched);
  EXPECT_TRUE((*plans)[1].matched);
  // 1g.24gb occupies 3 of the 12 units, starts {0,3,6,9} (mig-facts §2.4).
  EXPECT_THAT(Starts((*plans)[1]), ElementsAre(0, 3, 6, 9));
}

TEST(MigPartedPlan, MediaProfileFromTheCatalogue) {
  const MigPartedConfig c = ParseFile("gpu-operator-catalogue.yaml");
  Result<std::vector<GpuPlan>> plans =
      PlanConfig(c, "all-1g.5gb.me", std::vector<PlanGpu>{Gpu(0, "A100-40GB")});
  ASSERT_TRUE(plans.has_value()) << plans.error().message;
  EXPECT_EQ(Counts((*plans)[0]), (std::map<std::string, int>{{"1g.5gb+me", 1}}));
}

TEST(MigPartedPlan, UnknownConfigNameListsKnownOnes) {
  const MigPartedConfig c = ParseFile("hyperpod-style.yaml");
  Result<std::vector<GpuPlan>> plans =
      PlanConfig(c, "all-balanced", std::vector<PlanGpu>{Gpu(0, "H100-80GB")});
  ASSERT_FALSE(plans.has_value());
  EXPECT_EQ(plans.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(plans.error().message, AllOf(HasSubstr("no config 'all-balanced'"), HasSubstr("all-1g.10gb"),
                                           HasSubstr("all-disabled")));
}

// ---- Planning: HyperPod-style file ---------------------------------------------------------

// "mixed-2-1g.10gb-1-2g.20gb-1-3g.40gb" -> {1g.10gb: 2, 2g.20gb: 1, 3g.40gb: 1}, read from the
// name alone so the test does not trust the file's mig-devices.
std::map<std::string, int> CountsFromMixedName(std::string_view name) {
  std::map<std::string, int> out;
  std::string_view rest = name.substr(std::string_view("mixed-").size());
  while (!rest.empty()) {
    const std::size_t dash = rest.find('-');
    const int n = std::stoi(std::string(rest.substr(0, dash)));
    rest = rest.substr(dash + 1);
    const std::size_t next = rest.find('-');
    out[std::string(rest.substr(0, next))] = n;
    rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
  }
  return out;
}

TEST(MigPartedPlan, EveryHyperPodMixedConfigFitsAnH100) {
  const MigPartedConfig c = ParseFile("hyperpod-style.yaml");
  int mixed = 0;
  for (const auto& [name, entries] : c.configs) {
    if (!name.starts_with("mixed-")) continue;
    ++mixed;
    Result<std::vector<GpuPlan>> plans =
        PlanConfig(c, name, std::vector<PlanGpu>{Gpu(0, "H100-80GB"), Gpu(1, "A100-80GB")});
    ASSERT_TRUE(plans.has_value()) << name << ": " << plans.error().message;
    for (const GpuPlan& p : *plans) {
      EXPECT_EQ(Counts(p), CountsFromMixedName(name)) << name;
      ExpectValid(p);
    }
  }
  EXPECT_EQ(mixed, 11);
}

TEST(MigPartedPlan, HyperPodAll1g10gbOnA100_40GBExplainsTheDoubleMemoryProfile) {
  const MigPartedConfig c = ParseFile("hyperpod-style.yaml");
  Result<std::vector<GpuPlan>> plans =
      PlanConfig(c, "all-1g.10gb", std::vector<PlanGpu>{Gpu(0, "A100-SXM4-40GB")});
  ASSERT_FALSE(plans.has_value());
  EXPECT_EQ(plans.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(plans.error().message,
            "config 'all-1g.10gb', GPU 0 (A100-40GB): 7 x 1g.10gb exceeds the profile's maximum of 4 "
            "(on this model 1g.10gb is the double-memory 1-slice profile)");
}

TEST(MigPartedPlan, HyperPodNamesDoNotExistOnA100_40GB) {
  const MigPartedConfig c = ParseFile("hyperpod-style.yaml");
  Result<std::vector<GpuPlan>> plans = PlanConfig(
      c, "mixed-1-3g.40gb-1-4g.40gb", std::vector<PlanGpu>{Gpu(0, "H100-80GB"), Gpu(3, "A100-40GB")});
  ASSERT_FALSE(plans.has_value());
  EXPECT_EQ(plans.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(plans.error().message,
              AllOf(HasSubstr("config 'mixed-1-3g.40gb-1-4g.40gb', GPU 3 (A100-40GB)"),
                    HasSubstr("no profile '3g.40gb'"), HasSubstr("1g.5gb, "), HasSubstr("7g.40gb")));
}

TEST(MigPartedPlan, AllThreeG40OnH100UsesBothHalves) {
  const MigPartedConfig c = ParseFile("hyperpod-style.yaml");
  Result<std::vector<GpuPlan>> plans =
      PlanConfig(c, "all-3g.40gb", std::vector<PlanGpu>{Gpu(0, "H100-80GB")});
  ASSERT_TRUE(plans.has_value()) << plans.error().message;
  EXPECT_THAT(Starts((*plans)[0]), ElementsAre(0, 4));
}

// ---- Planning: per-GPU custom config --------------------------------------------------------

TEST(MigPartedPlan, CustomPerGpuConfig) {
  const MigPartedConfig c = ParseFile("custom-per-gpu.yaml");
  std::vector<PlanGpu> gpus;
  for (int i = 0; i < 9; ++i) gpus.push_back(Gpu(i, "A100-SXM4-40GB"));
  Result<std::vector<GpuPlan>> plans = PlanConfig(c, "custom-config", gpus);
  ASSERT_TRUE(plans.has_value()) << plans.error().message;
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE((*plans)[static_cast<std::size_t>(i)].matched);
    EXPECT_FALSE((*plans)[static_cast<std::size_t>(i)].mig_enabled);
    EXPECT_THAT((*plans)[static_cast<std::size_t>(i)].placements, IsEmpty());
  }
  // The only arrangements there are (mig-facts §2.4 A100-40GB starts).
  EXPECT_THAT(Starts((*plans)[4]), ElementsAre(0, 1, 2, 3, 4, 5, 6));
  EXPECT_THAT(Starts((*plans)[5]), ElementsAre(0, 2, 4));
  EXPECT_THAT(Starts((*plans)[6]), ElementsAre(0, 4));
  EXPECT_EQ(Counts((*plans)[7]), (std::map<std::string, int>{{"1g.5gb", 2}, {"2g.10gb", 1}, {"3g.20gb", 1}}));
  for (int i = 4; i < 8; ++i) ExpectValid((*plans)[static_cast<std::size_t>(i)]);
  EXPECT_FALSE((*plans)[8].matched);  // no entry names GPU 8
}

TEST(MigPartedPlan, ComputeInstancePrefixSelectsTheGpuInstanceProfile) {
  const MigPartedConfig c = ParseFile("custom-per-gpu.yaml");
  Result<std::vector<GpuPlan>> plans =
      PlanConfig(c, "split-compute", std::vector<PlanGpu>{Gpu(0, "A100-40GB")});
  ASSERT_TRUE(plans.has_value()) << plans.error().message;
  const GpuPlan& p = (*plans)[0];
  EXPECT_EQ(Counts(p), (std::map<std::string, int>{{"3g.20gb", 2}}));
  EXPECT_THAT(p.compute_instance_slices, UnorderedElementsAre(1, 2));
}

TEST(MigPartedPlan, ComputeInstancePrefixErrors) {
  const std::string head =
      "version: v1\nmig-configs:\n  x:\n    - {devices: all, mig-enabled: true, mig-devices: {";
  auto plan = [&](const std::string& devices) {
    return Plan(head + devices + "}}\n", "x", {Gpu(0, "A100-40GB")});
  };
  Result<std::vector<GpuPlan>> too_big = plan("4c.3g.20gb: 1");
  ASSERT_FALSE(too_big.has_value());
  EXPECT_THAT(too_big.error().message, HasSubstr("4-slice compute instance in 3g.20gb, which has 3"));
  Result<std::vector<GpuPlan>> five = plan("5c.7g.40gb: 1");  // NVML has no 5-slice CI profile
  ASSERT_FALSE(five.has_value());
  Result<std::vector<GpuPlan>> whole = plan("3c.3g.20gb: 1");  // the whole GI: same as 3g.20gb
  ASSERT_TRUE(whole.has_value()) << whole.error().message;
  EXPECT_THAT((*whole)[0].compute_instance_slices, ElementsAre(0));
  Result<std::vector<GpuPlan>> three = plan("1c.3g.20gb: 3");
  ASSERT_FALSE(three.has_value());
  EXPECT_THAT(three.error().message, AllOf(HasSubstr("3 x 3g.20gb exceeds the profile's maximum of 2"),
                                           HasSubstr("one compute instance per GPU instance")));
}

// ---- Planning: overlapping entries and GPUs without MIG --------------------------------------

TEST(MigPartedPlan, LaterEntryWinsWhenEntriesAgreeOnMigMode) {
  Result<std::vector<GpuPlan>> plans = Plan(R"(version: v1
mig-configs:
  x:
    - {devices: all, mig-enabled: true, mig-devices: {1g.5gb: 7}}
    - {devices: [1], mig-enabled: true, mig-devices: {3g.20gb: 2}}
)",
                                            "x", {Gpu(0, "A100-40GB"), Gpu(1, "A100-40GB")});
  ASSERT_TRUE(plans.has_value()) << plans.error().message;
  EXPECT_EQ(Counts((*plans)[0]), (std::map<std::string, int>{{"1g.5gb", 7}}));
  EXPECT_EQ(Counts((*plans)[1]), (std::map<std::string, int>{{"3g.20gb", 2}}));
}

TEST(MigPartedPlan, OverriddenEntryMustStillFit) {
  Result<std::vector<GpuPlan>> plans = Plan(R"(version: v1
mig-configs:
  x:
    - {devices: all, mig-enabled: true, mig-devices: {3g.20gb: 3}}
    - {devices: [0], mig-enabled: true, mig-devices: {7g.40gb: 1}}
)",
                                            "x", {Gpu(0, "A100-40GB")});
  ASSERT_FALSE(plans.has_value());
  EXPECT_THAT(plans.error().message, AllOf(HasSubstr("config 'x', GPU 0 (A100-40GB): entry 1 (line 4)"),
                                           HasSubstr("3 x 3g.20gb exceeds the profile's maximum of 2")));
}

TEST(MigPartedPlan, EntriesThatDisagreeOnMigModeAreAnError) {
  Result<std::vector<GpuPlan>> plans = Plan(R"(version: v1
mig-configs:
  x:
    - devices: all
      mig-enabled: false
    - devices: [2]
      mig-enabled: true
      mig-devices: {7g.40gb: 1}
)",
                                            "x", {Gpu(0, "A100-40GB"), Gpu(2, "A100-40GB")});
  ASSERT_FALSE(plans.has_value());
  EXPECT_EQ(plans.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(plans.error().message,
              AllOf(HasSubstr("GPU 2 (A100-40GB)"), HasSubstr("entry 1 (line 4) and entry 2 (line 6)"),
                    HasSubstr("disagree on mig-enabled")));
}

TEST(MigPartedPlan, GpusWithoutMigFollowMigParted) {
  const std::string all =
      "version: v1\nmig-configs:\n  x:\n    - {devices: all, mig-enabled: true, mig-devices: {1g.5gb: 7}}\n";
  Result<std::vector<GpuPlan>> skipped = Plan(all, "x", {Gpu(0, "A100-40GB"), Gpu(1, "L4")});
  ASSERT_TRUE(skipped.has_value()) << skipped.error().message;
  EXPECT_TRUE((*skipped)[0].matched);
  EXPECT_FALSE((*skipped)[1].matched);  // `devices: all` passes over GPUs without MIG

  const std::string named =
      "version: v1\nmig-configs:\n  x:\n    - {devices: [1], mig-enabled: true, mig-devices: {1g.5gb: 7}}\n";
  Result<std::vector<GpuPlan>> refused = Plan(named, "x", {Gpu(0, "A100-40GB"), Gpu(1, "L4")});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(refused.error().message, AllOf(HasSubstr("GPU 1 (L4)"), HasSubstr("L4 has no MIG")));

  const std::string off = "version: v1\nmig-configs:\n  x:\n    - {devices: [1], mig-enabled: false}\n";
  Result<std::vector<GpuPlan>> disabled = Plan(off, "x", {Gpu(1, "T4")});
  ASSERT_TRUE(disabled.has_value()) << disabled.error().message;
  EXPECT_TRUE((*disabled)[0].matched);
  EXPECT_FALSE((*disabled)[0].mig_enabled);
}

TEST(MigPartedPlan, ProfilesThatCannotCoexistAreResourceExhausted) {
  // 4g.20gb and 3g.20gb both fit alone, but 4g@0 + 3g@4 needs 7 slices and 8 units: fine;
  // adding a 1g.5gb needs an eighth compute slice.
  Result<std::vector<GpuPlan>> plans = Plan(
      "version: v1\nmig-configs:\n  x:\n    - {devices: all, mig-enabled: true, mig-devices: "
      "{4g.20gb: 1, 3g.20gb: 1, 1g.5gb: 1}}\n",
      "x", {Gpu(0, "A100-40GB")});
  ASSERT_FALSE(plans.has_value());
  EXPECT_EQ(plans.error().code, ErrorCode::kResourceExhausted);
  EXPECT_THAT(plans.error().message, HasSubstr("config 'x', GPU 0 (A100-40GB): "));
}

TEST(MigPartedPlan, ProfileNamesIgnoreCase) {
  Result<std::vector<GpuPlan>> plans = Plan(
      "version: v1\nmig-configs:\n  x:\n    - {devices: all, mig-enabled: true, mig-devices: {3G.20GB: 2}}\n",
      "x", {Gpu(0, "A100-40GB")});
  ASSERT_TRUE(plans.has_value()) << plans.error().message;
  EXPECT_THAT(Starts((*plans)[0]), ElementsAre(0, 4));
}

TEST(MigPartedPlan, RejectsBadGpuLists) {
  const MigPartedConfig c = ParseFile("gpu-operator-catalogue.yaml");
  Result<std::vector<GpuPlan>> twice =
      PlanConfig(c, "all-disabled", std::vector<PlanGpu>{Gpu(0, "A30"), Gpu(0, "A30")});
  ASSERT_FALSE(twice.has_value());
  EXPECT_THAT(twice.error().message, HasSubstr("GPU index 0 is given twice"));
  Result<std::vector<GpuPlan>> no_model = PlanConfig(c, "all-disabled", std::vector<PlanGpu>{PlanGpu{}});
  ASSERT_FALSE(no_model.has_value());
}

// A model built by hand: planning works on any catalog, not only the built-in one.
TEST(MigPartedPlan, WorksWithATestLocalModel) {
  GpuModel m{.name = "Toy", .memory_units = 2, .compute_slices = 2};
  m.profiles = {
      Profile{.name = "1g.1gb", .compute_slices = 1, .size_units = 1, .max_count = 2, .starts = {0, 1}},
      Profile{.name = "2g.2gb", .compute_slices = 2, .size_units = 2, .max_count = 1, .starts = {0}}};
  m.skus = {{"Toy GPU", 0x12345678u}};
  m.pci_ids = {0x12345678u};
  const Catalog catalog({m});
  const ResolvedGpu toy{&catalog.models()[0], &catalog.models()[0].skus[0]};
  Result<std::vector<GpuPlan>> plans = Plan(
      "version: v1\nmig-configs:\n  x:\n    - {device-filter: '0x12345678', devices: all, mig-enabled: true, "
      "mig-devices: {1g.1gb: 2}}\n",
      "x", {PlanGpu{0, toy}});
  ASSERT_TRUE(plans.has_value()) << plans.error().message;
  EXPECT_THAT(Starts((*plans)[0]), ElementsAre(0, 1));
}

// ---- Placement specs ------------------------------------------------------------------------

TEST(PlacementSpec, Parses) {
  Result<PlacementSpec> a = ParsePlacementSpec("3g.20gb@4");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->profile, "3g.20gb");
  EXPECT_EQ(a->start, 4);
  Result<PlacementSpec> b = ParsePlacementSpec("1g.5gb");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->profile, "1g.5gb");
  EXPECT_FALSE(b->start.has_value());
  Result<PlacementSpec> c = ParsePlacementSpec("1g.5gb+me@6");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->profile, "1g.5gb+me");
  EXPECT_EQ(c->start, 6);
  Result<PlacementSpec> d = ParsePlacementSpec("1g.24gb+me.all@9");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->start, 9);
}

TEST(PlacementSpec, RejectsMalformedText) {
  for (const char* bad :
       {"", "@4", "3g.20gb@", "3g.20gb@-1", "3g.20gb@99999999999", "3g.20gb@16", "3g.20gb@4x", "3g.20gb@4@5",
        "3g.20gb @4", "3g.20gb@ 4", " 3g.20gb", "3g 20gb", "3g.20gb@+4", "3g.20gb@0x4", "3g.20gb\n"}) {
    Result<PlacementSpec> s = ParsePlacementSpec(bad);
    EXPECT_FALSE(s.has_value()) << "'" << bad << "'";
    if (!s) {
      EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument) << bad;
    }
  }
}

Geometry A100Geometry() {
  Result<Geometry> g = Geometry::Build(*Catalog::BuiltIn().Resolve("A100-40GB")->model);
  EXPECT_TRUE(g.has_value());
  return *g;
}

std::vector<PlacementSpec> Specs(std::initializer_list<const char*> texts) {
  std::vector<PlacementSpec> out;
  for (const char* t : texts) out.push_back(*ParsePlacementSpec(t));
  return out;
}

TEST(PlacementSpec, ResolveKeepsExplicitStartsAndFillsTheRest) {
  const Geometry g = A100Geometry();
  Result<Layout> l = ResolvePlacementSpecs(g, Specs({"3g.20gb", "3g.20gb@0", "1g.5gb"}));
  // 3g at 0 is fixed; the other 3g can only go to 4; a 1g.5gb then has no compute slice left?
  // 3 + 3 + 1 = 7 slices and units 0-7 are all taken by the two 3g, so it cannot fit.
  ASSERT_FALSE(l.has_value());
  EXPECT_EQ(l.error().code, ErrorCode::kResourceExhausted);

  Result<Layout> ok = ResolvePlacementSpecs(g, Specs({"1g.5gb", "3g.20gb@0", "2g.10gb"}));
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  ASSERT_EQ(ok->size(), 3u);
  EXPECT_EQ(g.Describe(ok->front()), "3g.20gb@0");
  EXPECT_TRUE(g.Validate(*ok).has_value());
  EXPECT_TRUE(SortedByStart(*ok));
}

TEST(PlacementSpec, ResolveErrors) {
  const Geometry g = A100Geometry();
  Result<Layout> unknown = ResolvePlacementSpecs(g, Specs({"3g.40gb@4"}));
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(unknown.error().message, AllOf(HasSubstr("'3g.40gb'"), HasSubstr("3g.20gb")));

  Result<Layout> bad_start = ResolvePlacementSpecs(g, Specs({"3g.20gb@2"}));
  ASSERT_FALSE(bad_start.has_value());
  EXPECT_EQ(bad_start.error().code, ErrorCode::kInvalidArgument);

  Result<Layout> overlap = ResolvePlacementSpecs(g, Specs({"4g.20gb@0", "2g.10gb@2"}));
  ASSERT_FALSE(overlap.has_value());
  EXPECT_EQ(overlap.error().code, ErrorCode::kResourceExhausted);

  Result<Layout> none = ResolvePlacementSpecs(g, {});
  ASSERT_TRUE(none.has_value());
  EXPECT_THAT(*none, IsEmpty());
}

// ---- Properties -----------------------------------------------------------------------------

// Any valid layout of a model, written as mig-devices counts, plans to a valid layout with the
// same instances: the planner finds an arrangement whenever one exists.
RC_GTEST_PROP(MigPartedProperty, EveryValidLayoutAsConfigPlansBack, ()) {
  const auto models = Catalog::BuiltIn().models();
  std::vector<const GpuModel*> mig;
  for (const GpuModel& m : models) {
    if (m.mig_capable) mig.push_back(&m);
  }
  const GpuModel* model = *rc::gen::elementOf(mig);
  const Geometry g = *Geometry::Build(*model);
  static std::map<const GpuModel*, std::vector<Layout>> layouts;
  auto [it, fresh] = layouts.try_emplace(model);
  if (fresh) it->second = g.Enumerate();
  RC_PRE(!it->second.empty());
  const Layout want = *rc::gen::elementOf(it->second);
  std::map<std::string, int> counts;
  for (const Placement& p : want) ++counts[model->profiles[p.profile].name];
  std::string yaml =
      "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: true\n      mig-devices:\n";
  for (const auto& [name, n] : counts) yaml += "        \"" + name + "\": " + std::to_string(n) + "\n";
  Result<std::vector<GpuPlan>> plans = Plan(yaml, "x", {PlanGpu{0, ResolvedGpu{model, nullptr}}});
  RC_ASSERT(plans.has_value());
  RC_ASSERT(g.Validate((*plans)[0].placements).has_value());
  RC_ASSERT(Counts((*plans)[0]) == counts);
}

RC_GTEST_PROP(MigPartedProperty, PlacementSpecRoundTrips, ()) {
  const auto model = *rc::gen::elementOf(Catalog::BuiltIn().models());
  RC_PRE(model.mig_capable);
  const Profile& prof = *rc::gen::elementOf(model.profiles);
  const bool with_start = *rc::gen::arbitrary<bool>();
  const int start = *rc::gen::inRange(0, kMaxMemoryUnits);
  const std::string text = with_start ? prof.name + "@" + std::to_string(start) : prof.name;
  Result<PlacementSpec> s = ParsePlacementSpec(text);
  RC_ASSERT(s.has_value());
  RC_ASSERT(s->profile == prof.name);
  RC_ASSERT(s->start == (with_start ? std::optional<int>(start) : std::nullopt));
}

// Arbitrary text never crashes the parser and every refusal is kInvalidArgument.
RC_GTEST_PROP(MigPartedProperty, ArbitraryTextIsAnswered, (const std::string& text)) {
  Result<MigPartedConfig> c = ParseMigPartedConfig(text);
  if (!c) RC_ASSERT(c.error().code == ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace gpuslice::mig
