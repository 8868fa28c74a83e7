// Tests of the Alibaba GPU trace v2023 reader and of the pod -> MIG mapping. Facts about the real
// files come from ../shared/alibaba-gpu-v2023/README.md and from counting the CSVs with awk; the
// expected profiles are worked out by hand from the profile tables of reference/mig-facts.md
// (memory in MiB: A100-40GB 1g.5gb 4864, 1g.10gb/2g.10gb 9856, 3g/4g 19968, 7g.40gb 40192;
// H100-80GB 1g.10gb 9984, 1g.20gb/2g.20gb 20096, 3g/4g 40448, 7g.80gb 81152).
#include "sim/alibaba_trace.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "mig/catalog.h"

namespace gpuslice::sim {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kCsvDir = std::string(GPUSLICE_SOURCE_DIR) + "/../shared/alibaba-gpu-v2023/csv/";

#define SKIP_WITHOUT_TRACE()                                                           \
  do {                                                                                 \
    if (!std::filesystem::is_directory(kCsvDir)) GTEST_SKIP() << kCsvDir << " absent"; \
  } while (0)

std::vector<TracePod> Pods(const std::string& file) {
  Result<std::vector<TracePod>> pods = ReadAlibabaPodsFile(kCsvDir + file);
  EXPECT_TRUE(pods.has_value()) << file << ": " << pods.error().message;
  return pods.value_or(std::vector<TracePod>{});
}

const TracePod* FindPod(const std::vector<TracePod>& pods, std::string_view name) {
  for (const TracePod& p : pods) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string PodError(std::string_view csv) {
  Result<std::vector<TracePod>> pods = ParseAlibabaPods(csv);
  EXPECT_FALSE(pods.has_value()) << csv;
  return pods ? "" : pods.error().message;
}

std::string NodeError(std::string_view csv) {
  Result<std::vector<TraceNode>> nodes = ParseAlibabaNodes(csv);
  EXPECT_FALSE(nodes.has_value()) << csv;
  return nodes ? "" : nodes.error().message;
}

constexpr std::string_view kFullHeader =
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,"
    "scheduled_time\n";
constexpr std::string_view kMultiHeader = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n";
constexpr std::string_view kNodeHeader = "sn,cpu_milli,memory_mib,gpu,model\n";

std::string FullRow(std::string_view row) {
  return std::string(kFullHeader) + std::string(row);
}

// --- The real files -------------------------------------------------------------------------

TEST(AlibabaTraceFiles, EveryPodListParsesWithTheExpectedCount) {
  SKIP_WITHOUT_TRACE();
  const std::vector<std::pair<std::string, std::size_t>> files = {
      {"openb_pod_list_default.csv", 8152},    {"openb_pod_list_cpu0.csv", 7064},
      {"openb_pod_list_cpu037.csv", 7336},     {"openb_pod_list_cpu050.csv", 7439},
      {"openb_pod_list_cpu072.csv", 7608},     {"openb_pod_list_cpu100.csv", 7853},
      {"openb_pod_list_cpu200.csv", 8832},     {"openb_pod_list_cpu235.csv", 9240},
      {"openb_pod_list_cpu300.csv", 10094},    {"openb_pod_list_gpushare20.csv", 8152},
      {"openb_pod_list_gpushare40.csv", 8152}, {"openb_pod_list_gpushare60.csv", 8152},
      {"openb_pod_list_gpuspec05.csv", 8152},  {"openb_pod_list_gpuspec10.csv", 8152},
      {"openb_pod_list_gpuspec20.csv", 8152},  {"openb_pod_list_multigpu20.csv", 8324},
      {"openb_pod_list_multigpu30.csv", 8508}, {"openb_pod_list_multigpu40.csv", 8746},
  };
  for (const auto& [file, count] : files) EXPECT_EQ(Pods(file).size(), count) << file;
}

TEST(AlibabaTraceFiles, DefaultPodListFacts) {
  SKIP_WITHOUT_TRACE();
  const std::vector<TracePod> pods = Pods("openb_pod_list_default.csv");
  const PodListSummary s = SummarizePods(pods);
  EXPECT_EQ(s.pods, 8152);
  EXPECT_EQ(s.cpu_only, 1088);
  EXPECT_EQ(s.sharing, 3078);
  EXPECT_EQ(s.whole, 3911 + 16 + 15 + 44);
  EXPECT_THAT(s.by_num_gpu, ElementsAre(1088, 3078 + 3911, 16, 0, 15, 0, 0, 0, 44));
  EXPECT_EQ(s.with_gpu_spec, 0);
  for (const TracePod& p : pods) {
    ASSERT_TRUE(p.creation_time && p.deletion_time) << p.name;
    EXPECT_EQ(p.scheduled_time.has_value(), p.phase != "Pending") << p.name;
  }
}

TEST(AlibabaTraceFiles, ReadmeSampleRows) {
  SKIP_WITHOUT_TRACE();
  const std::vector<TracePod> pods = Pods("openb_pod_list_default.csv");
  const TracePod* p17 = FindPod(pods, "openb-pod-0017");
  ASSERT_NE(p17, nullptr);
  EXPECT_EQ(*p17, (TracePod{"openb-pod-0017",
                            88000,
                            327680,
                            8,
                            1000,
                            {},
                            "Burstable",
                            "Succeeded",
                            9437497,
                            10769854,
                            9437497}));
  const TracePod* p22 = FindPod(pods, "openb-pod-0022");
  ASSERT_NE(p22, nullptr);
  EXPECT_EQ(
      *p22,
      (TracePod{"openb-pod-0022", 4000, 15258, 1, 220, {}, "BE", "Running", 9679175, 9973826, 9679175}));
  // The README shows gpu_spec "V100M16|V100M32" for this pod; none of the files at hand has it.
  const TracePod* p35 = FindPod(pods, "openb-pod-0035");
  ASSERT_NE(p35, nullptr);
  EXPECT_EQ(
      *p35,
      (TracePod{"openb-pod-0035", 16000, 32768, 1, 1000, {}, "LS", "Running", 9967058, 9968575, 9967063}));
  // The first pods of the trace are created at time 0 and scheduled at 0.
  EXPECT_EQ(pods.front().scheduled_time, 0);
}

TEST(AlibabaTraceFiles, GpuSpecSplitsAndDropsRepeats) {
  SKIP_WITHOUT_TRACE();
  const std::vector<TracePod> pods = Pods("openb_pod_list_gpuspec10.csv");
  ASSERT_NE(FindPod(pods, "openb-pod-0017"), nullptr);
  EXPECT_THAT(FindPod(pods, "openb-pod-0017")->gpu_spec, ElementsAre("G2"));
  // Written "V100M16|V100M32|V100M32" in the file.
  ASSERT_NE(FindPod(pods, "openb-pod-0031"), nullptr);
  EXPECT_THAT(FindPod(pods, "openb-pod-0031")->gpu_spec, ElementsAre("V100M16", "V100M32"));
}

TEST(AlibabaTraceFiles, MultiGpuLayoutHasNoTimes) {
  SKIP_WITHOUT_TRACE();
  const std::vector<TracePod> pods = Pods("openb_pod_list_multigpu20.csv");
  ASSERT_EQ(pods.size(), 8324u);
  const TracePod* p17 = FindPod(pods, "openb-pod-0017");
  ASSERT_NE(p17, nullptr);
  EXPECT_EQ(*p17, (TracePod{.name = "openb-pod-0017",
                            .cpu_milli = 88000,
                            .memory_mib = 327680,
                            .num_gpu = 8,
                            .gpu_milli = 1000}));
  for (const TracePod& p : pods) {
    EXPECT_FALSE(p.creation_time || p.deletion_time || p.scheduled_time) << p.name;
    EXPECT_TRUE(p.qos.empty() && p.phase.empty() && p.gpu_spec.empty()) << p.name;
  }
  EXPECT_EQ(SummarizePods(pods).by_num_gpu[8], 141);
}

TEST(AlibabaTraceFiles, NodeLists) {
  SKIP_WITHOUT_TRACE();
  Result<std::vector<TraceNode>> gpu = ReadAlibabaNodesFile(kCsvDir + "openb_node_list_gpu_node.csv");
  ASSERT_TRUE(gpu.has_value()) << gpu.error().message;
  EXPECT_EQ(gpu->size(), 1213u);
  for (const TraceNode& n : *gpu) EXPECT_GT(n.gpus, 0) << n.name;
  Result<std::vector<TraceNode>> all = ReadAlibabaNodesFile(kCsvDir + "openb_node_list_all_node.csv");
  ASSERT_TRUE(all.has_value()) << all.error().message;
  ASSERT_EQ(all->size(), 1523u);
  // The README's sample rows (its "nan" model is a blank field in the file).
  EXPECT_EQ((*all)[227], (TraceNode{"openb-node-0227", 32000, 262144, 0, ""}));
  EXPECT_EQ((*all)[228], (TraceNode{"openb-node-0228", 128000, 786432, 8, "G3"}));
  EXPECT_EQ((*all)[229], (TraceNode{"openb-node-0229", 96000, 786432, 8, "V100M32"}));
  int gpus = 0;
  for (const TraceNode& n : *all) gpus += n.gpus;
  EXPECT_EQ(gpus, 6212);  // DESIGN.md §8: "the Alibaba default trace on 6,212 GPUs"
}

TEST(AlibabaTraceFiles, MissingFileNamesThePath) {
  Result<std::vector<TracePod>> pods = ReadAlibabaPodsFile("/nonexistent/pods.csv");
  ASSERT_FALSE(pods.has_value());
  EXPECT_EQ(pods.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(pods.error().message, HasSubstr("/nonexistent/pods.csv"));
  Result<std::vector<TraceNode>> dir = ReadAlibabaNodesFile(GPUSLICE_SOURCE_DIR);
  ASSERT_FALSE(dir.has_value());
  EXPECT_THAT(dir.error().message, HasSubstr("directory"));
}

TEST(AlibabaTraceFiles, ParseErrorsNameThePath) {
  const std::string path = std::string(GPUSLICE_BINARY_DIR) + "/alibaba_trace_test_bad.csv";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,9,0\n", f);
  std::fclose(f);
  Result<std::vector<TracePod>> pods = ReadAlibabaPodsFile(path);
  ASSERT_FALSE(pods.has_value());
  EXPECT_EQ(pods.error().message, path + ": line 2, column 4 (num_gpu): '9' is out of range 0..8");
  std::remove(path.c_str());
}

// --- Parsing rules on small inputs -----------------------------------------------------------

TEST(AlibabaPods, BothLayoutsCrlfAndNoFinalNewline) {
  Result<std::vector<TracePod>> full = ParseAlibabaPods(
      "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,"
      "scheduled_time\r\n"
      "a,1000,2048,1,500,nan,LS,Pending,10,20,\r\n"
      "b,0,0,0,0,T4|P100|T4,BE,Running,0,0,0");
  ASSERT_TRUE(full.has_value()) << full.error().message;
  ASSERT_EQ(full->size(), 2u);
  EXPECT_EQ((*full)[0], (TracePod{"a", 1000, 2048, 1, 500, {}, "LS", "Pending", 10, 20, std::nullopt}));
  EXPECT_EQ((*full)[1], (TracePod{"b", 0, 0, 0, 0, {"T4", "P100"}, "BE", "Running", 0, 0, 0}));
  Result<std::vector<TracePod>> multi = ParseAlibabaPods(std::string(kMultiHeader) + "x,1,2,8,1000\n");
  ASSERT_TRUE(multi.has_value()) << multi.error().message;
  EXPECT_EQ(*multi, (std::vector<TracePod>{
                        {.name = "x", .cpu_milli = 1, .memory_mib = 2, .num_gpu = 8, .gpu_milli = 1000}}));
  EXPECT_EQ(DetectPodLayout(kMultiHeader), PodLayout::kMultiGpu);
  EXPECT_EQ(DetectPodLayout(kFullHeader), PodLayout::kFull);
}

TEST(AlibabaPods, ByteOrderMarkAndEmptyTimesAccepted) {
  Result<std::vector<TracePod>> pods =
      ParseAlibabaPods("\xEF\xBB\xBF" + FullRow("a,1,1,0,0,,LS,Failed,,,\n"));
  ASSERT_TRUE(pods.has_value()) << pods.error().message;
  EXPECT_FALSE((*pods)[0].creation_time || (*pods)[0].deletion_time || (*pods)[0].scheduled_time);
}

TEST(AlibabaPods, HeaderOnlyGivesNoPods) {
  Result<std::vector<TracePod>> pods = ParseAlibabaPods(kFullHeader);
  ASSERT_TRUE(pods.has_value()) << pods.error().message;
  EXPECT_THAT(*pods, IsEmpty());
  Result<std::vector<TracePod>> no_newline =
      ParseAlibabaPods(kMultiHeader.substr(0, kMultiHeader.size() - 1));
  ASSERT_TRUE(no_newline.has_value()) << no_newline.error().message;
  EXPECT_THAT(*no_newline, IsEmpty());
}

TEST(AlibabaPods, EmptyFile) {
  EXPECT_EQ(PodError(""), "empty pod list: no header line");
  EXPECT_EQ(NodeError(""), "empty node list: no header line");
}

TEST(AlibabaPods, WrongHeaderNamesColumns) {
  EXPECT_EQ(PodError("name,cpu_milli,memory_mib,num_gpus,gpu_milli\n"),
            "line 1: not an Alibaba pod list header: unknown column(s) 'num_gpus'; missing column(s) "
            "'num_gpu'; expected name,cpu_milli,memory_mib,num_gpu,gpu_milli");
  EXPECT_EQ(PodError("name,cpu_milli,memory_mib,num_gpu,gpu_milli,qos\n"),
            "line 1: not an Alibaba pod list header: missing column(s) 'gpu_spec', 'pod_phase', "
            "'creation_time', 'deletion_time', 'scheduled_time'; expected name,cpu_milli,memory_mib,num_gpu,"
            "gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time");
  EXPECT_EQ(PodError("cpu_milli,name,memory_mib,num_gpu,gpu_milli\n"),
            "line 1: not an Alibaba pod list header: columns out of order; expected "
            "name,cpu_milli,memory_mib,num_gpu,gpu_milli");
  EXPECT_THAT(PodError("name,name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"),
              HasSubstr("repeated column(s) 'name'"));
  // A node list given as a pod list.
  EXPECT_THAT(PodError(kNodeHeader), HasSubstr("unknown column(s) 'sn', 'gpu', 'model'; missing column(s) "
                                               "'name', 'num_gpu', 'gpu_milli'"));
  EXPECT_THAT(NodeError(kMultiHeader), HasSubstr("line 1: not an Alibaba node list header: unknown column(s) "
                                                 "'name', 'num_gpu', 'gpu_milli'"));
}

TEST(AlibabaPods, RowErrorsNameLineAndColumn) {
  EXPECT_EQ(PodError(FullRow("a,1,1,0,0,,LS,Running,1,2\n")),
            "line 2: 10 fields, expected 11 (name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,"
            "pod_phase,creation_time,deletion_time,scheduled_time)");
  EXPECT_EQ(PodError(std::string(kMultiHeader) + "a,1,1,0,0\nb,1,1,0,0,0\n"),
            "line 3: 6 fields, expected 5 (name,cpu_milli,memory_mib,num_gpu,gpu_milli)");
  EXPECT_EQ(PodError(std::string(kMultiHeader) + "a,1,1,0,0\n\nb,1,1,0,0\n"), "line 3: blank line");
  EXPECT_EQ(PodError(std::string(kMultiHeader) + "a,1,1,0,0\n\n"), "line 3: blank line");
  EXPECT_EQ(PodError(std::string(kMultiHeader) + "a,1.5,1,0,0\n"),
            "line 2, column 2 (cpu_milli): '1.5' is not an integer");
  EXPECT_EQ(PodError(std::string(kMultiHeader) + "a,1,x,0,0\n"),
            "line 2, column 3 (memory_mib): 'x' is not an integer");
  EXPECT_EQ(PodError(std::string(kMultiHeader) + "a,1,1, 1,0\n"),
            "line 2, column 4 (num_gpu): ' 1' is not an integer");
  EXPECT_EQ(PodError(std::string(kMultiHeader) + "a,-1,1,0,0\n"),
            "line 2, column 2 (cpu_milli): '-1' is out of range 0..100000000");
  EXPECT_EQ(PodError(std::string(kMultiHeader) + "a,1,1,1,1001\n"),
            "line 2, column 5 (gpu_milli): '1001' is out of range 0..1000");
  EXPECT_EQ(PodError(std::string(kMultiHeader) + "a,1,1,9,1000\n"),
            "line 2, column 4 (num_gpu): '9' is out of range 0..8");
  EXPECT_EQ(PodError(std::string(kMultiHeader) + "a,1,1,,0\n"),
            "line 2, column 4 (num_gpu): empty; expected an integer");
  EXPECT_EQ(PodError(std::string(kMultiHeader) + "a,99999999999999999999,1,1,0\n"),
            "line 2, column 2 (cpu_milli): '99999999999999999999' is out of range 0..100000000");
  EXPECT_EQ(PodError(std::string(kMultiHeader) + ",1,1,1,0\n"), "line 2, column 1 (name): empty");
  EXPECT_EQ(
      PodError(std::string(kMultiHeader) + "\"a\",1,1,1,0\n"),
      "line 2, column 1 (name): '\"a\"' has a quote or control character (quoted CSV is not supported)");
}

TEST(AlibabaPods, TimeAndSpecErrors) {
  EXPECT_EQ(PodError(FullRow("a,1,1,0,0,,LS,Running,20,10,20\n")),
            "line 2, column 10 (deletion_time): 10 is before creation_time 20");
  EXPECT_EQ(PodError(FullRow("a,1,1,0,0,,LS,Running,-5,10,20\n")),
            "line 2, column 9 (creation_time): '-5' is out of range 0..1000000000000");
  EXPECT_EQ(PodError(FullRow("a,1,1,0,0,,LS,Running,1,2,x\n")),
            "line 2, column 11 (scheduled_time): 'x' is not an integer");
  EXPECT_EQ(PodError(FullRow("a,1,1,0,0,T4||P100,LS,Running,1,2,3\n")),
            "line 2, column 6 (gpu_spec): empty GPU type in 'T4||P100'");
  EXPECT_EQ(PodError(FullRow("a,1,1,0,0,,,Running,1,2,3\n")), "line 2, column 7 (qos): empty");
  // The first problem of a row is the one reported.
  EXPECT_EQ(PodError(FullRow("a,1,1,9,2000,,,Running,1,2,3\n")),
            "line 2, column 4 (num_gpu): '9' is out of range 0..8");
}

TEST(AlibabaPods, LongFieldsAreCutInErrors) {
  const std::string error = PodError(std::string(kMultiHeader) + "a," + std::string(1000, '7') + ",1,1,0\n");
  EXPECT_THAT(error, HasSubstr("'7777777777777777777777777777777777777777...' is out of range"));
  EXPECT_LT(error.size(), 120u);
}

TEST(AlibabaNodes, ParseAndErrors) {
  Result<std::vector<TraceNode>> nodes =
      ParseAlibabaNodes(std::string(kNodeHeader) + "n0,1000,2048,0,nan\nn1,2,3,8,A10");
  ASSERT_TRUE(nodes.has_value()) << nodes.error().message;
  EXPECT_THAT(*nodes, ElementsAre(TraceNode{"n0", 1000, 2048, 0, ""}, TraceNode{"n1", 2, 3, 8, "A10"}));
  EXPECT_EQ(NodeError(std::string(kNodeHeader) + "n,1,1,2,\n"),
            "line 2, column 5 (model): empty, but the node has GPUs");
  EXPECT_EQ(NodeError(std::string(kNodeHeader) + "n,1,1,0,T4\n"),
            "line 2, column 5 (model): 'T4' names a GPU type, but the node has no GPUs");
  EXPECT_EQ(NodeError(std::string(kNodeHeader) + "n,1,1,65,T4\n"),
            "line 2, column 4 (gpu): '65' is out of range 0..64");
  EXPECT_EQ(NodeError(std::string(kNodeHeader) + "n,1,1,1\n"),
            "line 2: 4 fields, expected 5 (sn,cpu_milli,memory_mib,gpu,model)");
}

// --- Mapping ---------------------------------------------------------------------------------

class MapPodTest : public ::testing::Test {
 protected:
  static mig::Geometry Geo(std::string_view model) {
    Result<mig::ResolvedGpu> gpu = mig::Catalog::BuiltIn().Resolve(model);
    EXPECT_TRUE(gpu.has_value()) << model;
    Result<mig::Geometry> g = mig::Geometry::Build(*gpu->model);
    EXPECT_TRUE(g.has_value()) << model;
    return std::move(*g);
  }

  // "2g.10gb", "gang 8 x 7g.40gb" or "none".
  static std::string Map(const mig::Geometry& g, int num_gpu, int gpu_milli, MapMode mode) {
    TracePod pod{.name = "p", .num_gpu = num_gpu, .gpu_milli = gpu_milli};
    Result<PodDemand> d = MapPod(pod, g, mode);
    if (!d) return "error: " + d.error().message;
    if (d->kind == PodDemand::Kind::kNone) return "none";
    const std::string name = g.model().profiles[d->profile].name;
    if (d->kind == PodDemand::Kind::kSlice) return d->gang_size == 1 ? name : "bad slice";
    return "gang " + std::to_string(d->gang_size) + " x " + name;
  }

  const mig::Geometry a100_40_ = Geo("A100-40GB");
  const mig::Geometry h100_80_ = Geo("H100-80GB");
};

TEST_F(MapPodTest, ByComputeOnA100_40GB) {
  // ceil(gpu_milli * 7 / 1000) compute slices.
  constexpr MapMode kC = MapMode::kByCompute;
  EXPECT_EQ(Map(a100_40_, 1, 0, kC), "1g.5gb");     // at least one slice
  EXPECT_EQ(Map(a100_40_, 1, 1, kC), "1g.5gb");     // 0.007 -> 1
  EXPECT_EQ(Map(a100_40_, 1, 142, kC), "1g.5gb");   // 0.994 -> 1
  EXPECT_EQ(Map(a100_40_, 1, 143, kC), "2g.10gb");  // 1.001 -> 2
  EXPECT_EQ(Map(a100_40_, 1, 220, kC), "2g.10gb");  // 1.54 -> 2
  EXPECT_EQ(Map(a100_40_, 1, 285, kC), "2g.10gb");  // 1.995 -> 2
  EXPECT_EQ(Map(a100_40_, 1, 286, kC), "3g.20gb");  // 2.002 -> 3
  EXPECT_EQ(Map(a100_40_, 1, 428, kC), "3g.20gb");  // 2.996 -> 3
  EXPECT_EQ(Map(a100_40_, 1, 429, kC), "4g.20gb");  // 3.003 -> 4
  EXPECT_EQ(Map(a100_40_, 1, 500, kC), "4g.20gb");  // 3.5 -> 4
  EXPECT_EQ(Map(a100_40_, 1, 571, kC), "4g.20gb");  // 3.997 -> 4
  EXPECT_EQ(Map(a100_40_, 1, 572, kC), "7g.40gb");  // 4.004 -> 5: only 7g has 5 or more
  EXPECT_EQ(Map(a100_40_, 1, 999, kC), "7g.40gb");
  EXPECT_EQ(Map(a100_40_, 1, 1000, kC), "gang 1 x 7g.40gb");
  EXPECT_EQ(Map(a100_40_, 8, 1000, kC), "gang 8 x 7g.40gb");
  EXPECT_EQ(Map(a100_40_, 2, 500, kC), "gang 2 x 4g.20gb");  // not in the trace; share per GPU
  EXPECT_EQ(Map(a100_40_, 0, 0, kC), "none");
  EXPECT_EQ(Map(a100_40_, 0, 500, kC), "none");
}

TEST_F(MapPodTest, ByMemoryOnA100_40GB) {
  // ceil(gpu_milli * 40192 / 1000) MiB.
  constexpr MapMode kM = MapMode::kByMemory;
  EXPECT_EQ(Map(a100_40_, 1, 0, kM), "1g.5gb");
  EXPECT_EQ(Map(a100_40_, 1, 121, kM), "1g.5gb");   // 4863.2 -> 4864 = 1g.5gb exactly
  EXPECT_EQ(Map(a100_40_, 1, 122, kM), "1g.10gb");  // 4903.4 -> 4904
  EXPECT_EQ(Map(a100_40_, 1, 220, kM), "1g.10gb");  // 8842.2 -> 8843 (8.6 GiB)
  EXPECT_EQ(Map(a100_40_, 1, 245, kM), "1g.10gb");  // 9847.0 -> 9848
  EXPECT_EQ(Map(a100_40_, 1, 246, kM), "3g.20gb");  // 9887.2: 2g.10gb has no more memory than 1g.10gb
  EXPECT_EQ(Map(a100_40_, 1, 496, kM), "3g.20gb");  // 19935.2 -> 19936
  EXPECT_EQ(Map(a100_40_, 1, 497, kM), "7g.40gb");  // 19975.4 -> 19976 > 19968
  EXPECT_EQ(Map(a100_40_, 8, 1000, kM), "gang 8 x 7g.40gb");
}

TEST_F(MapPodTest, OnH100_80GB) {
  EXPECT_EQ(Map(h100_80_, 1, 220, MapMode::kByCompute), "2g.20gb");
  EXPECT_EQ(Map(h100_80_, 1, 500, MapMode::kByCompute), "4g.40gb");
  // ceil(gpu_milli * 81152 / 1000) MiB.
  EXPECT_EQ(Map(h100_80_, 1, 123, MapMode::kByMemory), "1g.10gb");  // 9981.7 -> 9982 <= 9984
  EXPECT_EQ(Map(h100_80_, 1, 124, MapMode::kByMemory), "1g.20gb");  // 10062.8
  EXPECT_EQ(Map(h100_80_, 1, 220, MapMode::kByMemory), "1g.20gb");  // 17853.4
  EXPECT_EQ(Map(h100_80_, 1, 498, MapMode::kByMemory), "3g.40gb");  // 40413.7 -> 40414 <= 40448
  EXPECT_EQ(Map(h100_80_, 1, 500, MapMode::kByMemory), "7g.80gb");  // 40576 > 40448
  EXPECT_EQ(Map(h100_80_, 4, 1000, MapMode::kByMemory), "gang 4 x 7g.80gb");
}

TEST_F(MapPodTest, Errors) {
  EXPECT_THAT(Map(a100_40_, 9, 1000, MapMode::kByCompute), HasSubstr("error: num_gpu 9"));
  EXPECT_THAT(Map(a100_40_, 1, 1001, MapMode::kByCompute), HasSubstr("error: num_gpu 1 / gpu_milli 1001"));
  // A model whose whole-GPU memory is unknown cannot map by memory, but can by compute.
  mig::GpuModel model = a100_40_.model();
  for (mig::Profile& p : model.profiles) p.memory.reset();
  Result<mig::Geometry> g = mig::Geometry::Build(model);
  ASSERT_TRUE(g.has_value()) << g.error().message;
  TracePod pod{.name = "p", .num_gpu = 1, .gpu_milli = 300};
  Result<PodDemand> by_memory = MapPod(pod, *g, MapMode::kByMemory);
  ASSERT_FALSE(by_memory.has_value());
  EXPECT_EQ(by_memory.error().code, ErrorCode::kUnimplemented);
  EXPECT_EQ(by_memory.error().message, "the memory of 7g.40gb on A100-40GB is unknown");
  EXPECT_EQ(MapPod(pod, *g, MapMode::kByCompute), (PodDemand{PodDemand::Kind::kSlice, 4, 1}));
}

TEST_F(MapPodTest, SummaryCountsInstancesAndCost) {
  const std::vector<TracePod> pods = {
      {.name = "cpu"},
      {.name = "s1", .num_gpu = 1, .gpu_milli = 220},
      {.name = "s2", .num_gpu = 1, .gpu_milli = 220},
      {.name = "w1", .num_gpu = 1, .gpu_milli = 1000},
      {.name = "w8", .num_gpu = 8, .gpu_milli = 1000},
  };
  Result<MappingSummary> s = SummarizeMapping(pods, a100_40_, MapMode::kByCompute);
  ASSERT_TRUE(s.has_value()) << s.error().message;
  EXPECT_EQ(s->pods, 5);
  EXPECT_EQ(s->none, 1);
  EXPECT_THAT(s->slice_pods, ElementsAre(0, 0, 0, 2, 0, 0, 0));
  EXPECT_THAT(s->instances, ElementsAre(0, 0, 0, 2, 0, 0, 9));
  EXPECT_THAT(s->gangs_by_size, ElementsAre(0, 1, 0, 0, 0, 0, 0, 0, 1));
  EXPECT_EQ(s->cost_milli_total, 2 * 286 + 9 * 1000);
  EXPECT_EQ(DescribeInstances(*s, a100_40_), "2g.10gb 2, 7g.40gb 9");
  Result<MappingSummary> bad = SummarizeMapping(
      std::vector<TracePod>{{.name = "x", .num_gpu = 1, .gpu_milli = 2000}}, a100_40_, MapMode::kByCompute);
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message, HasSubstr("pod x: num_gpu 1"));
}

TEST_F(MapPodTest, DefaultTraceOnA100_80GB) {
  SKIP_WITHOUT_TRACE();
  const std::vector<TracePod> pods = Pods("openb_pod_list_default.csv");
  const mig::Geometry a100_80 = Geo("A100-80GB");
  for (MapMode mode : {MapMode::kByCompute, MapMode::kByMemory}) {
    Result<MappingSummary> s = SummarizeMapping(pods, a100_80, mode);
    ASSERT_TRUE(s.has_value()) << s.error().message;
    EXPECT_EQ(s->none, 1088);
    EXPECT_THAT(s->gangs_by_size, ElementsAre(0, 3911, 16, 0, 15, 0, 0, 0, 44));
    std::int64_t slices = 0;
    for (std::int64_t n : s->slice_pods) slices += n;
    EXPECT_EQ(slices, 3078);
    RecordProperty(mode == MapMode::kByCompute ? "by_compute" : "by_memory", DescribeInstances(*s, a100_80));
  }
}

}  // namespace
}  // namespace gpuslice::sim
