#include "sim/cluster_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace gpuslice::sim {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kSourceDir = GPUSLICE_SOURCE_DIR;

// The cluster of the issue, with the static path relative to the source tree.
constexpr std::string_view kIssueExample = R"(nodes:
  - {count: 776, gpus: 8, model: A100-SXM4-80GB}          # mode defaults to dynamic
  - {count: 4, gpus: 8, model: H100-80GB, mode: whole}
  - {count: 2, gpus: 8, model: A100-40GB, mode: "static:examples/mig-parted/gpu-operator-catalogue.yaml:all-balanced"}
  - {name: gpu-a, count: 1, gpus: 4, model: A30}            # optional name prefix
teams:
  - {name: nlp, quota_mgpu: 200000, borrowing_limit_mgpu: 100000, cohort: research}
  - {name: vision, quota_mgpu: 100000, lending_limit_mgpu: 0, cohort: research, weight: 2}
)";

constexpr std::string_view kSmallMigParted = R"(version: v1
mig-configs:
  all-3g:
    - devices: all
      mig-enabled: true
      mig-devices: {"3g.40gb": 2}
  first-two:
    - devices: [0, 1]
      mig-enabled: true
      mig-devices: {"7g.80gb": 1}
  mixed:
    - devices: [0]
      mig-enabled: false
    - devices: [1]
      mig-enabled: true
      mig-devices: {"1g.10gb": 7}
)";

Result<std::string> DiskFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Fail(ErrorCode::kNotFound, "cannot read {}", path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// An in-memory reader that counts its calls.
struct MemoryFiles {
  std::map<std::string, std::string> files;
  std::map<std::string, int> reads;
  ReadFileFn Reader() {
    return [this](const std::string& path) -> Result<std::string> {
      ++reads[path];
      const auto it = files.find(path);
      if (it == files.end()) return Fail(ErrorCode::kNotFound, "no file {}", path);
      return it->second;
    };
  }
};

Result<ClusterSpec> Parse(std::string_view yaml) {
  MemoryFiles fs;
  fs.files["/c/parted.yaml"] = std::string(kSmallMigParted);
  return ParseClusterSpec(yaml, "/c", fs.Reader());
}

const mig::GpuModel* ModelNamed(std::string_view name) {
  return mig::Catalog::BuiltIn().Resolve(name).value().model;
}

TEST(ClusterSpecTest, ParsesTheIssueExample) {
  const Result<ClusterSpec> spec = ParseClusterSpec(kIssueExample, kSourceDir, DiskFile);
  ASSERT_TRUE(spec) << spec.error().message;
  ASSERT_EQ(spec->groups.size(), 4u);
  const NodeGroupSpec& a100 = spec->groups[0];
  EXPECT_EQ(a100.count, 776);
  EXPECT_EQ(a100.gpus, 8);
  EXPECT_EQ(a100.model->name, "A100-80GB");
  ASSERT_NE(a100.sku, nullptr);
  EXPECT_EQ(a100.sku->name, "NVIDIA A100-SXM4-80GB");
  EXPECT_EQ(a100.mode, GpuMode::kDynamic);
  EXPECT_EQ(a100.name_prefix, "node");
  EXPECT_EQ(a100.line, 2);
  EXPECT_EQ(spec->groups[1].mode, GpuMode::kWhole);
  const NodeGroupSpec& st = spec->groups[2];
  EXPECT_EQ(st.mode, GpuMode::kStatic);
  ASSERT_TRUE(st.layout.has_value());
  EXPECT_EQ(st.layout->config, "all-balanced");
  EXPECT_EQ(st.layout->file, "examples/mig-parted/gpu-operator-catalogue.yaml");
  ASSERT_EQ(st.layout->plans.size(), 8u);
  for (const mig::GpuPlan& p : st.layout->plans) {
    EXPECT_TRUE(p.matched && p.mig_enabled);
    EXPECT_EQ(p.placements.size(), 4u);  // 2 x 1g.5gb, 2g.10gb, 3g.20gb
  }
  EXPECT_EQ(spec->groups[3].name_prefix, "gpu-a");
  EXPECT_EQ(spec->groups[3].mode, GpuMode::kDynamic);

  ASSERT_EQ(spec->teams.size(), 2u);
  const TeamSpec& nlp = spec->teams[0];
  EXPECT_EQ(nlp.cohort, "research");
  EXPECT_EQ(nlp.weight, 1);
  ASSERT_EQ(nlp.quotas.size(), 4u);  // every class of the cluster: A100-80GB, H100-80GB, A100-40GB, A30
  for (const ClassQuotaSpec& q : nlp.quotas) {
    EXPECT_EQ(q.nominal, MilliGpu(200000));
    EXPECT_EQ(q.borrowing_limit, MilliGpu(100000));
    EXPECT_FALSE(q.lending_limit.has_value());
  }
  EXPECT_EQ(nlp.quotas[3].gpu_class->name, "A30");
  const TeamSpec& vision = spec->teams[1];
  EXPECT_EQ(vision.weight, 2);
  EXPECT_EQ(vision.quotas[0].lending_limit, MilliGpu(0));
  EXPECT_FALSE(vision.quotas[0].borrowing_limit.has_value());
}

TEST(ClusterSpecTest, TotalsAndClasses) {
  const Result<ClusterSpec> spec = ParseClusterSpec(kIssueExample, kSourceDir, DiskFile);
  ASSERT_TRUE(spec) << spec.error().message;
  const ClusterTotals t = Totals(*spec);
  EXPECT_EQ(t.nodes, 776 + 4 + 2 + 1);
  EXPECT_EQ(t.gpus, 776 * 8 + 4 * 8 + 2 * 8 + 4);
  ASSERT_EQ(t.per_model.size(), 4u);
  EXPECT_EQ(t.per_model[0].model, ModelNamed("A100-80GB"));
  EXPECT_EQ(t.per_model[0].gpus, 6208);
  EXPECT_EQ(t.per_model[0].nodes, 776);
  EXPECT_EQ(t.per_model[3].model, ModelNamed("A30"));
  EXPECT_EQ(t.per_model[3].gpus, 4);
  EXPECT_THAT(spec->GpuClasses(), ElementsAre(ModelNamed("A100-80GB"), ModelNamed("H100-80GB"),
                                              ModelNamed("A100-40GB"), ModelNamed("A30")));
}

TEST(ClusterSpecTest, TotalsMergeGroupsOfOneModel) {
  const Result<ClusterSpec> spec = Parse(
      "nodes:\n  - {count: 3, gpus: 8, model: A100-80GB}\n  - {count: 2, gpus: 4, model: L4}\n"
      "  - {count: 1, gpus: 2, model: A100-SXM4-80GB, mode: cordoned}\n");
  ASSERT_TRUE(spec) << spec.error().message;
  const ClusterTotals t = Totals(*spec);
  EXPECT_EQ(t.nodes, 6);
  EXPECT_EQ(t.gpus, 34);
  ASSERT_EQ(t.per_model.size(), 2u);
  EXPECT_EQ(t.per_model[0].nodes, 4);
  EXPECT_EQ(t.per_model[0].gpus, 26);
  EXPECT_EQ(t.per_model[1].gpus, 8);
}

TEST(ClusterSpecTest, NodeNamesCountPerPrefixAcrossGroups) {
  const Result<ClusterSpec> spec = Parse(
      "nodes:\n"
      "  - {count: 9, gpus: 8, model: A100-80GB}\n"
      "  - {name: h, count: 2, gpus: 8, model: H100-80GB}\n"
      "  - {count: 3, gpus: 4, model: A30, mode: whole}\n");
  ASSERT_TRUE(spec) << spec.error().message;
  const std::vector<NodeSpec> nodes = ExpandNodes(*spec);
  ASSERT_EQ(nodes.size(), 14u);
  // 12 nodes share the prefix "node": two digits for all of them, counting on across groups.
  EXPECT_EQ(nodes[0].name, "node-01");
  EXPECT_EQ(nodes[8].name, "node-09");
  EXPECT_EQ(nodes[9].name, "h-1");
  EXPECT_EQ(nodes[10].name, "h-2");
  EXPECT_EQ(nodes[11].name, "node-10");
  EXPECT_EQ(nodes[13].name, "node-12");
  EXPECT_EQ(nodes[13].model->name, "A30");
  EXPECT_EQ(nodes[13].mode, GpuMode::kWhole);
  EXPECT_EQ(nodes[13].gpus, 4);
  EXPECT_EQ(nodes[13].group, 2);
  EXPECT_EQ(nodes[9].group, 1);
}

TEST(ClusterSpecTest, ModelsWithoutMigAreWholeGpus) {
  const Result<ClusterSpec> spec = Parse(
      "nodes:\n  - {count: 1, gpus: 4, model: L4}\n  - {count: 1, gpus: 1, model: T4, mode: draining}\n");
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->groups[0].mode, GpuMode::kWhole);
  EXPECT_EQ(spec->groups[1].mode, GpuMode::kDraining);
  for (const char* mode : {"dynamic", "'static:parted.yaml:all-3g'"}) {
    const Result<ClusterSpec> bad =
        Parse(fmt::format("nodes:\n  - {{count: 1, gpus: 4, model: L4, mode: {}}}\n", mode));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(bad.error().message, AllOf(HasSubstr("node group 1 (line 2)"), HasSubstr("L4 has no MIG")));
  }
}

TEST(ClusterSpecTest, PerClassQuotas) {
  const Result<ClusterSpec> spec = Parse(R"(nodes:
  - {count: 4, gpus: 8, model: A100-SXM4-80GB}
  - {count: 1, gpus: 8, model: H100-80GB, mode: whole}
  - {count: 1, gpus: 8, model: L40S}
teams:
  - name: a
    quota_mgpu: {h100: 20000, A100-SXM4-80GB: 100000}
    borrowing_limit_mgpu: {A100-80GB: 5000}
    lending_limit_mgpu: 10000
    cohort: c
  - {name: b, quota_mgpu: 0, cohort: c}
)");
  ASSERT_TRUE(spec) << spec.error().message;
  const TeamSpec& a = spec->teams[0];
  ASSERT_EQ(a.quotas.size(), 2u);  // only the listed classes, in cluster order
  EXPECT_EQ(a.quotas[0].gpu_class, ModelNamed("A100-80GB"));
  EXPECT_EQ(a.quotas[0].nominal, MilliGpu(100000));
  EXPECT_EQ(a.quotas[0].borrowing_limit, MilliGpu(5000));
  EXPECT_EQ(a.quotas[0].lending_limit, MilliGpu(10000));
  EXPECT_EQ(a.quotas[1].gpu_class, ModelNamed("H100-80GB"));
  EXPECT_EQ(a.quotas[1].nominal, MilliGpu(20000));
  EXPECT_FALSE(a.quotas[1].borrowing_limit.has_value());
  EXPECT_EQ(a.quotas[1].lending_limit, MilliGpu(10000));
  const TeamSpec& b = spec->teams[1];
  ASSERT_EQ(b.quotas.size(), 3u);  // a plain number: every class, L40S included
  EXPECT_EQ(b.quotas[2].gpu_class, ModelNamed("L40S"));
  EXPECT_EQ(b.quotas[2].nominal, MilliGpu(0));
}

TEST(ClusterSpecTest, StaticLayoutFromMemory) {
  MemoryFiles fs;
  fs.files["/c/parted.yaml"] = std::string(kSmallMigParted);
  fs.files["/abs/p.yaml"] = std::string(kSmallMigParted);
  const Result<ClusterSpec> spec = ParseClusterSpec(R"(nodes:
  - {count: 2, gpus: 2, model: A100-80GB, mode: "static:parted.yaml:mixed"}
  - {count: 1, gpus: 4, model: A100-80GB, mode: "static:parted.yaml:all-3g"}
  - {count: 1, gpus: 4, model: A100-80GB, mode: "static:/abs/p.yaml:all-3g"}
)",
                                                    "/c", fs.Reader());
  ASSERT_TRUE(spec) << spec.error().message;
  const StaticLayout& mixed = *spec->groups[0].layout;
  EXPECT_EQ(mixed.path, "/c/parted.yaml");
  ASSERT_EQ(mixed.plans.size(), 2u);
  EXPECT_FALSE(mixed.plans[0].mig_enabled);  // GPU 0: MIG off, a whole GPU
  EXPECT_TRUE(mixed.plans[1].mig_enabled);
  EXPECT_EQ(mixed.plans[1].placements.size(), 7u);
  EXPECT_EQ(spec->groups[1].layout->plans.size(), 4u);
  EXPECT_EQ(spec->groups[1].layout->plans[3].placements.size(), 2u);
  EXPECT_EQ(spec->groups[2].layout->path, "/abs/p.yaml");
  EXPECT_EQ(fs.reads["/c/parted.yaml"], 1);  // read and parsed once for both groups
  EXPECT_EQ(fs.reads["/abs/p.yaml"], 1);
}

TEST(ClusterSpecTest, StaticLayoutErrorsNameTheGroup) {
  struct Case {
    std::string mode;
    ErrorCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"static:parted.yaml:nope", ErrorCode::kNotFound, "no config 'nope'"},
      {"static:missing.yaml:all-3g", ErrorCode::kNotFound, "no file /c/missing.yaml"},
      {"static:parted.yaml", ErrorCode::kInvalidArgument, "static:FILE:CONFIG"},
      {"static::all-3g", ErrorCode::kInvalidArgument, "static:FILE:CONFIG"},
      {"static:parted.yaml:", ErrorCode::kInvalidArgument, "static:FILE:CONFIG"},
      {"static:parted.yaml:first-two", ErrorCode::kInvalidArgument, "leaves GPU 2 (A100-80GB) as it is"},
      // 3g.40gb is an A100-80GB profile: on an A100-40GB the plan fails at load time.
      {"static:parted.yaml:all-3g", ErrorCode::kNotFound, "A100-40GB has no profile '3g.40gb'"},
  };
  for (const Case& c : cases) {
    const std::string model = c.message.find("A100-40GB") != std::string::npos ? "A100-40GB" : "A100-80GB";
    const Result<ClusterSpec> spec =
        Parse(fmt::format("nodes:\n  - {{count: 1, gpus: 8, model: A100-80GB}}\n  - {{count: 1, gpus: 4, "
                          "model: {}, mode: '{}'}}\n",
                          model, c.mode));
    ASSERT_FALSE(spec) << c.mode;
    EXPECT_EQ(spec.error().code, c.code) << c.mode << ": " << spec.error().message;
    EXPECT_THAT(spec.error().message, AllOf(HasSubstr("node group 2 (line 3)"), HasSubstr(c.message)));
  }
}

TEST(ClusterSpecTest, StaticWithoutReaderIsAnError) {
  const Result<ClusterSpec> spec =
      ParseClusterSpec("nodes: [{count: 1, gpus: 1, model: A30, mode: 'static:x.yaml:c'}]\n", "", nullptr);
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code, ErrorCode::kFailedPrecondition);
}

struct ErrorCase {
  std::string yaml;
  ErrorCode code;
  std::vector<std::string> parts;
};

const std::string kNodes = "nodes:\n  - {count: 1, gpus: 8, model: A100-80GB}\n";

std::vector<ErrorCase> ErrorCases() {
  const ErrorCode inv = ErrorCode::kInvalidArgument;
  const std::string t = kNodes + "teams:\n";
  return {
      {"", inv, {"empty cluster file"}},
      {"- 1\n", inv, {"line 1", "a mapping"}},
      {"teams: []\n", inv, {"missing field 'nodes'"}},
      {"nodes: []\n", inv, {"at least one node group"}},
      {kNodes + "racks: 3\n", inv, {"line 3", "unknown field 'racks'"}},
      {kNodes + "nodes: []\n", inv, {"line 3", "duplicate key 'nodes' (first on line 1)"}},
      {"nodes:\n  - 7\n", inv, {"node group 1 (line 2)", "a node group is a mapping"}},
      {"nodes:\n  - {gpus: 8, model: A30}\n",
       inv,
       {"node group 1 (line 2)", "missing required field 'count'"}},
      {"nodes:\n  - {count: 1, gpus: 8, model: A30, colour: red}\n", inv, {"unknown field 'colour'"}},
      {"nodes:\n  - {count: 0, gpus: 8, model: A30}\n",
       inv,
       {"count must be an integer from 1 to 100000, not '0'"}},
      {"nodes:\n  - {count: 100001, gpus: 8, model: A30}\n", inv, {"count must be an integer"}},
      {"nodes:\n  - {count: '3', gpus: 8, model: A30}\n", inv, {"count must be an integer", "not '3'"}},
      {"nodes:\n  - {count: -1, gpus: 8, model: A30}\n", inv, {"count must be an integer"}},
      {"nodes:\n  - {count: 1.5, gpus: 8, model: A30}\n", inv, {"count must be an integer"}},
      {"nodes:\n  - {count: 010, gpus: 8, model: A30}\n", inv, {"count must be an integer"}},
      {"nodes:\n  - {count: [1], gpus: 8, model: A30}\n", inv, {"not '<not a scalar>'"}},
      {"nodes:\n  - {count: 1, gpus: 17, model: A30}\n", inv, {"gpus must be an integer from 1 to 16"}},
      {"nodes:\n  - {count: 1, gpus: 8, model: A100-90GB}\n",
       ErrorCode::kNotFound,
       {"node group 1 (line 2)", "unknown GPU model 'A100-90GB'", "closest"}},
      {"nodes:\n  - {count: 1, gpus: 8, model: }\n", inv, {"model must be a non-empty string"}},
      {"nodes:\n  - {count: 1, gpus: 8, model: A30, mode: elastic}\n", inv, {"unknown mode 'elastic'"}},
      {"nodes:\n  - {count: 1, gpus: 8, model: A30, name: -x}\n", inv, {"name '-x' may hold only"}},
      {"nodes:\n  - {count: 1, gpus: 8, model: A30, name: a b}\n", inv, {"name 'a b'"}},
      {"nodes:\n  - {count: 100000, gpus: 8, model: A30}\n  - {count: 100000, gpus: 8, model: A30}\n",
       inv,
       {"node group 2 (line 3)", "1600000 GPUs", "at most 1000000"}},
      {t + "  - {quota_mgpu: 1}\n", inv, {"team 1 (line 4)", "missing required field 'name'"}},
      {t + "  - {name: a}\n", inv, {"team 1 'a' (line 4)", "missing required field 'quota_mgpu'"}},
      {t + "  - {name: a, quota_mgpu: 1, boss: x}\n", inv, {"team 1 (line 4)", "unknown field 'boss'"}},
      {t + "  - {name: a, quota_mgpu: 1}\n  - {name: a, quota_mgpu: 2}\n",
       inv,
       {"team 2 'a' (line 5)", "duplicate team name (first in team 1 (line 4))"}},
      {t + "  - {name: a, quota_mgpu: -5}\n", inv, {"quota_mgpu must be an integer from 0 to 1000000000000"}},
      {t + "  - {name: a, quota_mgpu: 1000000000001}\n", inv, {"quota_mgpu must be an integer"}},
      {t + "  - {name: a, quota_mgpu: {}}\n", inv, {"quota_mgpu is an empty map"}},
      {t + "  - {name: a, quota_mgpu: {H100-80GB: 5}}\n",
       ErrorCode::kNotFound,
       {"team 1 'a' (line 4)",
        "'H100-80GB' (H100-80GB) is not a GPU class of this cluster (its classes: A100-80GB)"}},
      {t + "  - {name: a, quota_mgpu: {A100-80GB: 5, a100-sxm4-80gb: 6}}\n",
       inv,
       {"'a100-sxm4-80gb' is A100-80GB again"}},
      {t + "  - {name: a, quota_mgpu: {A100-80GB: x}}\n",
       inv,
       {"quota_mgpu for A100-80GB must be an integer"}},
      {t + "  - {name: a, quota_mgpu: {A10-9: 5}}\n", ErrorCode::kNotFound, {"unknown GPU model 'A10-9'"}},
      {t + "  - {name: a, quota_mgpu: 5, borrowing_limit_mgpu: 1}\n",
       inv,
       {"borrowing_limit_mgpu needs a cohort"}},
      {t + "  - {name: a, quota_mgpu: 5, lending_limit_mgpu: 1}\n",
       inv,
       {"lending_limit_mgpu needs a cohort"}},
      {t + "  - {name: a, quota_mgpu: 5, lending_limit_mgpu: 6, cohort: c}\n",
       inv,
       {"lending_limit_mgpu 6 for A100-80GB exceeds the nominal quota of 5"}},
      {t + "  - {name: a, quota_mgpu: 5, weight: 1000001}\n",
       inv,
       {"weight must be an integer from 0 to 1000000"}},
      {t + "  - {name: a, quota_mgpu: 5, cohort: 'x y'}\n", inv, {"cohort 'x y'"}},
      {t + "  - {name: a, quota_mgpu: 5, cohort: b}\n  - {name: b, quota_mgpu: 5}\n",
       inv,
       {"cohort 'b' has the name of a team"}},
      {kNodes + "teams: {a: 1}\n", inv, {"'teams' must be a list"}},
      {"nodes: [{count: 1, gpus: 8, model: A30}\n", inv, {"invalid YAML"}},
      {",", inv, {"line 1, column 1", "unexpected ','"}},
      {kNodes + "---\nnodes: []\n", inv, {"found a second one"}},
      {std::string(40, '[') + std::string(40, ']'),
       inv,
       {"brackets nested more than 32 deep; a cluster file"}},
      {std::string("nodes: x\0", 9), inv, {"NUL byte in a cluster file"}},
  };
}

TEST(ClusterSpecTest, ErrorsNameTheEntryAndLine) {
  for (const ErrorCase& c : ErrorCases()) {
    const Result<ClusterSpec> spec = Parse(c.yaml);
    ASSERT_FALSE(spec) << c.yaml;
    EXPECT_EQ(spec.error().code, c.code) << c.yaml << "\n-> " << spec.error().message;
    for (const std::string& part : c.parts) {
      EXPECT_THAT(spec.error().message, HasSubstr(part)) << c.yaml;
    }
  }
}

TEST(ClusterSpecTest, AliasBombIsRefusedQuickly) {
  // 8^10 leaves if expanded; yaml-cpp shares aliased nodes and the walk stops at the first
  // element, which is a list where a node group (a mapping) belongs.
  std::string yaml = "nodes:\n  - &a0 [1, 1, 1, 1, 1, 1, 1, 1]\n";
  for (int i = 1; i < 10; ++i) {
    yaml += fmt::format("  - &a{} [*a{}, *a{}, *a{}, *a{}, *a{}, *a{}, *a{}, *a{}]\n", i, i - 1, i - 1, i - 1,
                        i - 1, i - 1, i - 1, i - 1, i - 1);
  }
  const Result<ClusterSpec> spec = Parse(yaml);
  ASSERT_FALSE(spec);
  EXPECT_THAT(spec.error().message, AllOf(HasSubstr("node group 1 (line 2)"), HasSubstr("is a mapping")));
}

TEST(ClusterSpecTest, AliasedGroupsArePlannedOnce) {
  MemoryFiles fs;
  fs.files["parted.yaml"] = std::string(kSmallMigParted);
  std::string yaml =
      "nodes:\n  - &g {count: 2, gpus: 4, model: A100-80GB, mode: 'static:parted.yaml:all-3g'}\n";
  for (int i = 0; i < 999; ++i) yaml += "  - *g\n";
  const Result<ClusterSpec> spec = ParseClusterSpec(yaml, "", fs.Reader());
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(Totals(*spec).gpus, 8000);
  EXPECT_EQ(spec->groups[999].layout->plans.size(), 4u);
  EXPECT_EQ(fs.reads["parted.yaml"], 1);
}

TEST(ClusterSpecTest, OversizedInputIsRefused) {
  const Result<ClusterSpec> spec = Parse(kNodes + "# " + std::string(1 << 20, 'x') + "\n");
  ASSERT_FALSE(spec);
  EXPECT_THAT(spec.error().message, HasSubstr("at most 1048576 (1 MiB)"));
}

TEST(ClusterSpecTest, TeamsMayBeAbsentOrEmpty) {
  for (const std::string& yaml : {kNodes, kNodes + "teams:\n", kNodes + "teams: []\n"}) {
    const Result<ClusterSpec> spec = Parse(yaml);
    ASSERT_TRUE(spec) << yaml << ": " << spec.error().message;
    EXPECT_THAT(spec->teams, IsEmpty());
  }
}

TEST(ClusterSpecTest, ExampleFilesLoad) {
  const Result<ClusterSpec> small = ReadClusterSpecFile(kSourceDir + "/examples/clusters/small.yaml");
  ASSERT_TRUE(small) << small.error().message;
  EXPECT_EQ(Totals(*small).gpus, 24);
  EXPECT_EQ(small->groups[0].mode, GpuMode::kDynamic);
  EXPECT_EQ(small->groups[1].mode, GpuMode::kWhole);
  ASSERT_EQ(small->teams.size(), 2u);
  EXPECT_EQ(small->teams[0].cohort, small->teams[1].cohort);
  const std::vector<NodeSpec> nodes = ExpandNodes(*small);
  EXPECT_EQ(nodes[0].name, "a100-1");
  EXPECT_EQ(nodes[2].name, "h100-1");

  const Result<ClusterSpec> alibaba =
      ReadClusterSpecFile(kSourceDir + "/examples/clusters/alibaba-6212.yaml");
  ASSERT_TRUE(alibaba) << alibaba.error().message;
  const ClusterTotals t = Totals(*alibaba);
  EXPECT_EQ(t.gpus, 6212);
  EXPECT_EQ(t.nodes, 777);
  ASSERT_EQ(t.per_model.size(), 1u);
  EXPECT_EQ(t.per_model[0].model->name, "A100-80GB");
  const std::vector<NodeSpec> all = ExpandNodes(*alibaba);
  EXPECT_EQ(all.front().name, "node-001");
  EXPECT_EQ(all.back().name, "node-777");
  EXPECT_EQ(all.back().gpus, 4);
}

TEST(ClusterSpecTest, ReadFileErrorsStartWithThePath) {
  const Result<ClusterSpec> spec = ReadClusterSpecFile(kSourceDir + "/examples/clusters/no-such.yaml");
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(spec.error().message, HasSubstr("no-such.yaml"));
}

}  // namespace
}  // namespace gpuslice::sim
