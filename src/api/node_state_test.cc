#include "api/node_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "common/read_file.h"

namespace gpuslice::api {
namespace {

using ::testing::HasSubstr;

DesiredNodeState FullDesired() {
  DesiredNodeState s;
  s.node = "n1";
  s.generation = 18446744073709551615ull;
  s.instances = {{0, "3g.40gb", 4, "n1-g0-s4-3g.40gb-17"}, {1, "1g.10gb+me", 0, "n1-g1-s0-1g.10gb+me-18"}};
  DesiredWorkload w;
  w.job_id = "job-17";
  w.instance_keys = {"n1-g0-s4-3g.40gb-17"};
  w.argv = {"python3", "serve.py", "--port", "8000", "ünïcode"};
  w.env = {{"HF_HOME", "/data/hf"}, {"EMPTY", ""}};
  w.working_dir = "/home/ana/project";
  w.run_as_user = "ana";
  w.cpu_millicores = 4000;
  w.memory_mib = 65536;
  w.restart = RestartPolicy::kOnFailure;
  w.kind = WorkloadKind::kService;
  w.grace_period_ms = 30000;
  s.workloads.push_back(w);
  DesiredWorkload b;
  b.job_id = "job-18";
  b.instance_keys = {"n1-g1-s0-1g.10gb+me-18"};
  b.argv = {"/bin/true"};
  s.workloads.push_back(b);
  DesiredWorkload whole;
  whole.job_id = "job-19";
  whole.gpu_indices = {3, 2};
  whole.argv = {"torchrun", "--nproc-per-node=2", "train.py"};
  whole.restart = RestartPolicy::kAlways;
  s.workloads.push_back(whole);
  return s;
}

ActualNodeState FullActual() {
  ActualNodeState s;
  s.node = "n1";
  s.generation_applied = 42;
  s.gpus = {{0, "GPU-5d2a3c1e-0000-1111-2222-333344445555", GpuHealth::kOk, ""},
            {1, "GPU-aaaa", GpuHealth::kLost, "GPU_IS_LOST: fell off the bus"}};
  s.instances = {{0, "3g.40gb", 4, "n1-g0-s4-3g.40gb-17", "MIG-0c8f0a1e-0000-1111-2222-333344445555", true},
                 {0, "1g.10gb", 0, "", "MIG-aaaa", false},
                 {0, "1g.10gb", 1, "", "MIG-bbbb", false}};
  s.instances[0].processes = 2;
  s.instances[0].memory_used_mib = 20480;
  s.instances[0].memory_total_mib = 40192;
  s.instances[0].activity_percent = 73;
  s.instances[1].processes = 0;
  s.instances[1].memory_used_mib = 0;
  s.instances[1].memory_total_mib = 9728;
  s.instances[1].usage_message = "activity needs GPM sampling (Hopper and later)";
  s.instances[2].processes = 0;
  s.instances[2].usage_message = "usage not read: GPU 0 has no GPU instance 13";
  s.workloads = {{"job-17", WorkloadState::kRunning, 4242, std::nullopt, std::nullopt, 2, ""},
                 {"job-16", WorkloadState::kFailed, std::nullopt, std::nullopt, 9, 0, "killed by SIGKILL"},
                 {"job-15", WorkloadState::kExited, std::nullopt, 0, std::nullopt, 0, ""}};
  return s;
}

// A minimal valid document with `workload` spliced in as the only workload.
std::string WithWorkload(const std::string& workload) {
  return R"({"node":"n1","generation":1,"instances":[{"gpu_index":0,"profile":"1g.10gb","start":0,"key":"k0"}],
             "workloads":[)" +
         workload + "]}";
}

std::string ParseError(std::string_view text) {
  auto r = ParseDesiredNodeState(text);
  EXPECT_FALSE(r.has_value()) << text;
  if (r) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  return r.error().message;
}

TEST(NodeStateTest, DesiredRoundTripsThroughJson) {
  const DesiredNodeState s = FullDesired();
  ASSERT_TRUE(ValidateDesiredNodeState(s));
  auto back = ParseDesiredNodeState(ToJson(s).dump());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, s);
  EXPECT_EQ(ToJson(*back).dump(2), ToJson(s).dump(2));
}

TEST(NodeStateTest, ActualRoundTripsThroughJson) {
  const ActualNodeState s = FullActual();
  ASSERT_TRUE(ValidateActualNodeState(s));
  auto back = ParseActualNodeState(ToJson(s).dump());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, s);
}

TEST(NodeStateTest, OptionalFieldsTakeDefaultsAndNullMeansAbsent) {
  auto s = ParseDesiredNodeState(
      WithWorkload(R"({"job_id":"j","instance_keys":["k0"],"argv":["sleep","1"],"working_dir":null})"));
  ASSERT_TRUE(s) << s.error().message;
  const DesiredWorkload& w = s->workloads.at(0);
  EXPECT_EQ(w.restart, RestartPolicy::kNever);
  EXPECT_EQ(w.kind, WorkloadKind::kBatch);
  EXPECT_EQ(w.grace_period_ms, 10000);
  EXPECT_FALSE(w.working_dir.has_value());
  EXPECT_TRUE(w.env.empty());
  auto empty = ParseDesiredNodeState(R"({"node":"n1","generation":0})");
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_TRUE(empty->instances.empty());
}

TEST(NodeStateTest, UnknownFieldsAreRejectedWithTheirPath) {
  EXPECT_EQ(ParseError(WithWorkload(R"({"job_id":"j","instance_keys":["k0"],"argv":["a"],"argvv":[]})")),
            "workloads[0].argvv: unknown field");
  EXPECT_EQ(ParseError(R"({"node":"n1","generation":1,"extra":true})"), "extra: unknown field");
  EXPECT_EQ(ParseError(R"({"node":"n1","generation":1,"instances":[{"gpu_index":0,"profile":"1g.10gb",
                          "start":0,"key":"k","uuid":"x"}]})"),
            "instances[0].uuid: unknown field");
}

TEST(NodeStateTest, TypeErrorsNameTheFieldAndTheExpectedType) {
  EXPECT_EQ(ParseError(WithWorkload(R"({"job_id":"j","instance_keys":["k0"],"argv":["a",1]})")),
            "workloads[0].argv: expected an array of strings");
  EXPECT_EQ(ParseError(WithWorkload(R"({"job_id":"j","instance_keys":["k0"],"argv":"a b"})")),
            "workloads[0].argv: expected an array of strings");
  EXPECT_EQ(ParseError(WithWorkload(R"({"job_id":"j","instance_keys":["k0"],"argv":["a"],"env":{"A":1}})")),
            "workloads[0].env.A: expected a string");
  EXPECT_EQ(ParseError(WithWorkload(R"({"job_id":"j","instance_keys":["k0"],"argv":["a"],"kind":"cron"})")),
            "workloads[0].kind: expected one of batch, service, notebook");
  EXPECT_EQ(ParseError(WithWorkload(R"({"job_id":7,"instance_keys":["k0"],"argv":["a"]})")),
            "workloads[0].job_id: expected a string");
  EXPECT_EQ(ParseError(R"({"node":"n1","generation":-1})"), "generation: -1 is out of range");
  EXPECT_EQ(ParseError(R"({"node":"n1","generation":1.5})"), "generation: expected an integer");
  EXPECT_EQ(ParseError(R"({"node":"n1","generation":"1"})"), "generation: expected an integer");
  EXPECT_EQ(ParseError(R"({"node":"n1"})"), "generation: required field is missing");
  EXPECT_EQ(ParseError(R"({"node":"n1","generation":1,"instances":{}})"), "instances: expected an array");
  EXPECT_EQ(ParseError(R"({"node":"n1","generation":1,"instances":[{"gpu_index":4294967296,"profile":"p",
                          "start":0,"key":"k"}]})"),
            "instances[0].gpu_index: 4294967296 is too large");
  EXPECT_EQ(ParseError("[1,2]"), "document: expected an object");
}

TEST(NodeStateTest, MalformedTextIsAnErrorNotAnException) {
  for (std::string_view text : {"", "{", "nul", "{\"node\":\"n1\",}", "\xff\xfe", "{\"a\":\"\\ud800\"}"}) {
    auto r = ParseDesiredNodeState(text);
    EXPECT_FALSE(r) << text;
    auto a = ParseActualNodeState(text);
    EXPECT_FALSE(a) << text;
  }
  EXPECT_EQ(ParseError("{"), "not valid JSON");
}

TEST(NodeStateTest, DuplicateKeysAreRejected) {
  EXPECT_EQ(ParseError(R"({"node":"n1","generation":1,"generation":2})"), "duplicate key 'generation'");
  // The same key in sibling objects is fine.
  auto r = ParseDesiredNodeState(R"({"node":"n1","generation":1,"instances":[
      {"gpu_index":0,"profile":"p","start":0,"key":"a"},{"gpu_index":0,"profile":"p","start":1,"key":"b"}]})");
  EXPECT_TRUE(r) << r.error().message;
}

TEST(NodeStateTest, DepthAndSizeAreBounded) {
  std::string deep = R"({"node":"n1","generation":1,"x":)" + std::string(100000, '[');
  EXPECT_THAT(ParseError(deep), HasSubstr("nests deeper than"));
  // Brackets inside strings do not count.
  auto ok = ParseDesiredNodeState(WithWorkload(
      R"({"job_id":"j","instance_keys":["k0"],"argv":["[[[[[[[[[[[[[[[[[[[[[[\"{{{{{{{{{{{{{{{{{{{"]})"));
  EXPECT_TRUE(ok) << ok.error().message;
  std::string huge = R"({"node":")" + std::string(kMaxNodeStateBytes, 'a') + "\"}";
  EXPECT_THAT(ParseError(huge), HasSubstr("exceeds the limit"));
  std::string argv = R"({"job_id":"j","instance_keys":["k0"],"argv":[)";
  for (std::size_t i = 0; i <= kMaxArgvEntries; ++i) argv += i == 0 ? "\"a\"" : ",\"a\"";
  EXPECT_EQ(ParseError(WithWorkload(argv + "]}")),
            "workloads[0].argv: 1025 entries exceed the limit of 1024");
  const std::string big(kMaxArgBytes, 'x');
  std::string many = R"({"job_id":"j","instance_keys":["k0"],"argv":["a")";
  for (int i = 0; i < 9; ++i) many += ",\"" + big + "\"";
  EXPECT_THAT(ParseError(WithWorkload(many + "]}")), HasSubstr("workloads[0]: argv and env take"));
}

TEST(NodeStateTest, CommandRules) {
  auto err = [](const std::string& fields) {
    return ParseError(WithWorkload(R"({"job_id":"j","instance_keys":["k0"],)" + fields + "}"));
  };
  EXPECT_EQ(err(R"("argv":[])"), "workloads[0].argv: must name a program");
  EXPECT_EQ(err(R"("argv":[""])"), "workloads[0].argv[0]: the program name is empty");
  EXPECT_EQ(err(R"("argv":["a","b\u0000c"])"), "workloads[0].argv[1]: contains a NUL character");
  EXPECT_EQ(err(R"("argv":["a"],"env":{"CUDA_VISIBLE_DEVICES":"0"})"),
            "workloads[0].env.CUDA_VISIBLE_DEVICES: is set by the agent and may not be given");
  EXPECT_EQ(err(R"("argv":["a"],"env":{"GPUSLICE_JOB_ID":"x"})"),
            "workloads[0].env.GPUSLICE_JOB_ID: is set by the agent and may not be given");
  EXPECT_THAT(err(R"("argv":["a"],"env":{"A=B":"x"})"),
              HasSubstr("workloads[0].env.A=B: not a valid variable"));
  EXPECT_EQ(err(R"("argv":["a"],"working_dir":"tmp")"), "workloads[0].working_dir: must be an absolute path");
  EXPECT_EQ(err(R"("argv":["a"],"run_as_user":"root;rm")"),
            "workloads[0].run_as_user: not a valid user name");
  EXPECT_EQ(err(R"("argv":["a"],"cpu_millicores":0)"),
            "workloads[0].cpu_millicores: 0 is out of range [1, 1024000]");
  EXPECT_EQ(err(R"("argv":["a"],"grace_period_ms":-1)"),
            "workloads[0].grace_period_ms: -1 is out of range [0, 3600000]");
}

TEST(NodeStateTest, NamesAndReferencesAreChecked) {
  EXPECT_THAT(ParseError(WithWorkload(R"({"job_id":"../etc","instance_keys":["k0"],"argv":["a"]})")),
              HasSubstr("workloads[0].job_id: '../etc' is not a valid name"));
  EXPECT_EQ(ParseError(WithWorkload(R"({"job_id":"j","instance_keys":["k9"],"argv":["a"]})")),
            "workloads[0].instance_keys[0]: no instance has key 'k9'");
  EXPECT_EQ(
      ParseError(WithWorkload(R"({"job_id":"j","instance_keys":[],"argv":["a"]})")),
      "workloads[0].instance_keys: must name at least one instance (or give gpu_indices for whole GPUs)");
  EXPECT_EQ(ParseError(WithWorkload(R"({"job_id":"j","instance_keys":["k0"],"argv":["a"]},
                                       {"job_id":"i","instance_keys":["k0"],"argv":["a"]})")),
            "workloads[1].instance_keys[0]: instance 'k0' is already bound to job 'j'");
  EXPECT_EQ(ParseError(WithWorkload(R"({"job_id":"j","instance_keys":["k0"],"argv":["a"]},
                                       {"job_id":"j","instance_keys":["k0"],"argv":["a"]})")),
            "workloads[1].job_id: 'j' appears twice");
  EXPECT_EQ(ParseError(R"({"node":"n1","generation":1,"instances":[
      {"gpu_index":0,"profile":"p","start":0,"key":"a"},{"gpu_index":0,"profile":"q","start":0,"key":"b"}]})"),
            "instances[1]: a second instance at GPU 0 start 0");
  EXPECT_EQ(ParseError(R"({"node":"n1","generation":1,"instances":[
      {"gpu_index":0,"profile":"p","start":0,"key":"a"},{"gpu_index":1,"profile":"q","start":0,"key":"a"}]})"),
            "instances[1].key: 'a' appears twice");
  EXPECT_EQ(ParseError(R"({"node":"n1","generation":1,"instances":[
      {"gpu_index":64,"profile":"p","start":0,"key":"a"}]})"),
            "instances[0].gpu_index: 64 is out of range [0, 63]");
  EXPECT_THAT(ParseError(R"({"node":"","generation":1})"), HasSubstr("node: '' is not a valid name"));
}

TEST(NodeStateTest, ActualStateRules) {
  auto err = [](std::string_view text) {
    auto r = ParseActualNodeState(text);
    return r ? std::string() : r.error().message;
  };
  EXPECT_EQ(err(R"({"node":"n1","generation_applied":1,"workloads":[{"job_id":"j","state":"zombie"}]})"),
            "workloads[0].state: expected one of starting, running, exited, failed, stopped");
  EXPECT_EQ(err(R"({"node":"n1","generation_applied":1,"workloads":[{"job_id":"j","state":"exited",
                   "exit_code":256}]})"),
            "workloads[0].exit_code: 256 is out of range [0, 255]");
  EXPECT_EQ(err(R"({"node":"n1","generation_applied":1,"gpus":[{"index":0,"uuid":"GPU-1","health":"ok"},
                   {"index":0,"uuid":"GPU-2","health":"ok"}]})"),
            "gpus[1].index: appears twice");
  EXPECT_EQ(err(R"({"node":"n1","generation_applied":1,"instances":[{"gpu_index":0,"profile":"p","start":0,
                   "mig_uuid":"MIG-1"}]})"),
            "instances[0].busy: required field is missing");
}

// An agent older than the usage fields sends none of them; the server must still take its report.
TEST(NodeStateTest, ReportsWithoutUsageFieldsStillParse) {
  auto r = ParseActualNodeState(R"({"node":"n1","generation_applied":1,"instances":[
      {"gpu_index":0,"profile":"1g.10gb","start":0,"mig_uuid":"MIG-1","busy":true}]})");
  ASSERT_TRUE(r) << r.error().message;
  const ActualInstance& in = r->instances.at(0);
  EXPECT_FALSE(in.processes.has_value());
  EXPECT_FALSE(in.memory_used_mib.has_value());
  EXPECT_FALSE(in.memory_total_mib.has_value());
  EXPECT_FALSE(in.activity_percent.has_value());
  EXPECT_TRUE(in.usage_message.empty());
  // And the encoder adds nothing for absent usage, so such a report reads as it did before.
  EXPECT_EQ(ToJson(*r)["instances"][0].size(), 5u);
}

TEST(NodeStateTest, UsageFieldsAreEncodedByName) {
  const nlohmann::ordered_json j = ToJson(FullActual())["instances"];
  EXPECT_EQ(j[0]["processes"], 2);
  EXPECT_EQ(j[0]["memory_used_mib"], 20480);
  EXPECT_EQ(j[0]["memory_total_mib"], 40192);
  EXPECT_EQ(j[0]["activity_percent"], 73);
  EXPECT_FALSE(j[0].contains("usage_message"));
  EXPECT_FALSE(j[1].contains("activity_percent"));
  EXPECT_FALSE(j[2].contains("memory_used_mib"));
  EXPECT_THAT(j[2]["usage_message"].get<std::string>(), HasSubstr("usage not read"));
}

TEST(NodeStateTest, UsageRules) {
  auto err = [](const std::string& usage, bool busy = true) {
    const std::string text = R"({"node":"n1","generation_applied":1,"instances":[{"gpu_index":0,)"
                             R"("profile":"1g.10gb","start":0,"mig_uuid":"MIG-1","busy":)" +
                             std::string(busy ? "true" : "false") + "," + usage + "}]}";
    auto r = ParseActualNodeState(text);
    return r ? std::string() : r.error().message;
  };
  EXPECT_EQ(err(R"("processes":1,"memory_used_mib":0,"memory_total_mib":1,"activity_percent":0)"), "");
  EXPECT_EQ(err(R"("processes":0)", false), "");
  EXPECT_EQ(err(R"("processes":null,"memory_used_mib":null,"memory_total_mib":null)"), "");
  EXPECT_EQ(err(R"("processes":-1)"), "instances[0].processes: -1 is out of range [0, 4096]");
  EXPECT_EQ(err(R"("processes":4097)"), "instances[0].processes: 4097 is out of range [0, 4096]");
  EXPECT_EQ(err(R"("processes":0)"), "instances[0].processes: 0 disagrees with busy: true");
  EXPECT_EQ(err(R"("processes":3)", false), "instances[0].processes: 3 disagrees with busy: false");
  EXPECT_EQ(err(R"("processes":"2")"), "instances[0].processes: expected an integer");
  EXPECT_EQ(err(R"("processes":2.0)"), "instances[0].processes: expected an integer");
  EXPECT_EQ(err(R"("processes":4294967296)"), "instances[0].processes: 4294967296 is too large");
  EXPECT_EQ(err(R"("memory_used_mib":10)"),
            "instances[0].memory_total_mib: memory_used_mib and memory_total_mib go together");
  EXPECT_EQ(err(R"("memory_total_mib":10)"),
            "instances[0].memory_used_mib: memory_used_mib and memory_total_mib go together");
  EXPECT_EQ(err(R"("memory_used_mib":11,"memory_total_mib":10)"),
            "instances[0].memory_used_mib: 11 is out of range [0, 10]");
  EXPECT_EQ(err(R"("memory_used_mib":-1,"memory_total_mib":10)"),
            "instances[0].memory_used_mib: -1 is out of range [0, 10]");
  EXPECT_EQ(err(R"("memory_used_mib":0,"memory_total_mib":0)"),
            "instances[0].memory_total_mib: 0 is out of range [1, 16777216]");
  EXPECT_EQ(err(R"("memory_used_mib":0,"memory_total_mib":16777217)"),
            "instances[0].memory_total_mib: 16777217 is out of range [1, 16777216]");
  EXPECT_EQ(err(R"("memory_used_mib":0,"memory_total_mib":1e3)"),
            "instances[0].memory_total_mib: expected an integer");
  EXPECT_EQ(err(R"("activity_percent":101)"), "instances[0].activity_percent: 101 is out of range [0, 100]");
  EXPECT_EQ(err(R"("activity_percent":-1)"), "instances[0].activity_percent: -1 is out of range [0, 100]");
  EXPECT_EQ(err(R"("activity_percent":true)"), "instances[0].activity_percent: expected an integer");
  EXPECT_EQ(err(R"("usage_message":7)"), "instances[0].usage_message: expected a string");
  EXPECT_EQ(err(R"("usage_message":"a\u0000b")"), "instances[0].usage_message: contains a NUL character");
  EXPECT_EQ(err(R"("usage_message":")" + std::string(kMaxMessageBytes + 1, 'x') + "\""),
            "instances[0].usage_message: 4097 bytes exceed the limit of 4096");
  EXPECT_EQ(err(R"("memory_free_mib":10)"), "instances[0].memory_free_mib: unknown field");
}

TEST(NodeStateTest, GeneratedUsageFailsValidationLikeParsedUsage) {
  ActualNodeState s = FullActual();
  s.instances[1].memory_used_mib.reset();
  auto r = ValidateActualNodeState(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "instances[1].memory_used_mib: memory_used_mib and memory_total_mib go together");
  s = FullActual();
  s.instances[0].busy = false;
  r = ValidateActualNodeState(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "instances[0].processes: 2 disagrees with busy: false");
}

TEST(NodeStateTest, GeneratedDocumentsFailValidationLikeParsedOnes) {
  DesiredNodeState s = FullDesired();
  s.workloads[1].argv.clear();
  auto r = ValidateDesiredNodeState(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "workloads[1].argv: must name a program");
}

// ---- whole-GPU workloads (gpu_indices) ----

TEST(NodeStateTest, WholeGpuWorkloadsEncodeWithoutInstanceKeys) {
  const nlohmann::ordered_json j = ToJson(FullDesired())["workloads"];
  // A MIG workload encodes as it did before gpu_indices existed; a whole-GPU one names its GPUs
  // where a MIG one names its instances, in the order the document gave them.
  std::vector<std::string> mig_fields, whole_fields;
  for (const auto& item : j[1].items()) mig_fields.push_back(item.key());
  for (const auto& item : j[2].items()) whole_fields.push_back(item.key());
  EXPECT_THAT(mig_fields, ::testing::ElementsAre("job_id", "instance_keys", "argv", "env", "restart", "kind",
                                                 "grace_period_ms"));
  EXPECT_THAT(whole_fields, ::testing::ElementsAre("job_id", "gpu_indices", "argv", "env", "restart", "kind",
                                                   "grace_period_ms"));
  EXPECT_EQ(j[2]["gpu_indices"].dump(), "[3,2]");
}

TEST(NodeStateTest, WholeGpuWorkloadsParse) {
  auto s = ParseDesiredNodeState(R"({"node":"n1","generation":3,
      "instances":[{"gpu_index":0,"profile":"1g.10gb","start":0,"key":"k0"}],
      "workloads":[{"job_id":"mig","instance_keys":["k0"],"gpu_indices":null,"argv":["a"]},
                   {"job_id":"whole","gpu_indices":[1,7],"argv":["b"]},
                   {"job_id":"whole2","instance_keys":null,"gpu_indices":[63],"argv":["c"]}]})");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(s->workloads[0].gpu_indices.empty());
  EXPECT_THAT(s->workloads[1].gpu_indices, ::testing::ElementsAre(1, 7));
  EXPECT_TRUE(s->workloads[1].instance_keys.empty());
  EXPECT_THAT(s->workloads[2].gpu_indices, ::testing::ElementsAre(63));
  EXPECT_EQ(ParseDesiredNodeState(ToJson(*s).dump()).value(), *s);
}

TEST(NodeStateTest, GpuIndicesTypeErrors) {
  auto err = [](const std::string& gpus) {
    return ParseError(WithWorkload(R"({"job_id":"j","gpu_indices":)" + gpus + R"(,"argv":["a"]})"));
  };
  EXPECT_EQ(err(R"("1")"), "workloads[0].gpu_indices: expected an array of integers");
  EXPECT_EQ(err(R"({"0":1})"), "workloads[0].gpu_indices: expected an array of integers");
  EXPECT_EQ(err(R"([1,"2"])"), "workloads[0].gpu_indices: expected an array of integers");
  EXPECT_EQ(err("[1.5]"), "workloads[0].gpu_indices: expected an array of integers");
  EXPECT_EQ(err("[null]"), "workloads[0].gpu_indices: expected an array of integers");
  EXPECT_EQ(err("[4294967296]"), "workloads[0].gpu_indices[0]: 4294967296 is out of range");
  EXPECT_EQ(err("[1,-9223372036854775808]"),
            "workloads[0].gpu_indices[1]: -9223372036854775808 is out of range");
  EXPECT_EQ(err("[0,1,2,3,4,5,6,7,8]"), "workloads[0].gpu_indices: 9 entries exceed the limit of 8");
}

TEST(NodeStateTest, GpuIndicesRules) {
  auto err = [](const std::string& workloads) { return ParseError(WithWorkload(workloads)); };
  EXPECT_EQ(
      err(R"({"job_id":"j","gpu_indices":[],"argv":["a"]})"),
      "workloads[0].instance_keys: must name at least one instance (or give gpu_indices for whole GPUs)");
  EXPECT_EQ(
      err(R"({"job_id":"j","argv":["a"]})"),
      "workloads[0].instance_keys: must name at least one instance (or give gpu_indices for whole GPUs)");
  EXPECT_EQ(err(R"({"job_id":"j","instance_keys":["k0"],"gpu_indices":[1],"argv":["a"]})"),
            "workloads[0].gpu_indices: not allowed together with instance_keys: a workload runs on MIG "
            "instances or on whole GPUs, not both");
  EXPECT_EQ(err(R"({"job_id":"j","gpu_indices":[-1],"argv":["a"]})"),
            "workloads[0].gpu_indices[0]: -1 is out of range [0, 63]");
  EXPECT_EQ(err(R"({"job_id":"j","gpu_indices":[1,64],"argv":["a"]})"),
            "workloads[0].gpu_indices[1]: 64 is out of range [0, 63]");
  EXPECT_EQ(err(R"({"job_id":"j","gpu_indices":[1,2,1],"argv":["a"]})"),
            "workloads[0].gpu_indices[2]: GPU 1 appears twice");
  // WithWorkload's document has an instance on GPU 0.
  EXPECT_EQ(err(R"({"job_id":"j","gpu_indices":[1,0],"argv":["a"]})"),
            "workloads[0].gpu_indices[1]: GPU 0 also has desired MIG instances (instances[0]); a whole-GPU "
            "workload needs the GPU without them");
  EXPECT_EQ(
      err(R"({"job_id":"j","gpu_indices":[1,2],"argv":["a"]},{"job_id":"i","gpu_indices":[3,2],"argv":["a"]})"),
      "workloads[1].gpu_indices[1]: GPU 2 is already bound to job 'j'");
  // The other rules of a workload hold for whole-GPU ones too.
  EXPECT_EQ(err(R"({"job_id":"j","gpu_indices":[1],"argv":["a"],"env":{"CUDA_VISIBLE_DEVICES":"0"}})"),
            "workloads[0].env.CUDA_VISIBLE_DEVICES: is set by the agent and may not be given");
}

TEST(NodeStateTest, GeneratedWholeGpuWorkloadsFailValidationLikeParsedOnes) {
  DesiredNodeState s = FullDesired();
  s.workloads[2].instance_keys = {"n1-g0-s4-3g.40gb-17"};
  auto r = ValidateDesiredNodeState(s);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message,
              HasSubstr("workloads[2].gpu_indices: not allowed together with instance_keys"));
  s = FullDesired();
  s.workloads[2].gpu_indices = {1};  // GPU 1 holds job-18's instance
  r = ValidateDesiredNodeState(s);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message,
              HasSubstr("workloads[2].gpu_indices[0]: GPU 1 also has desired MIG instances"));
  s = FullDesired();
  s.workloads[2].gpu_indices = {2, 2};
  r = ValidateDesiredNodeState(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "workloads[2].gpu_indices[1]: GPU 2 appears twice");
  s = FullDesired();
  s.workloads[2].gpu_indices = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  r = ValidateDesiredNodeState(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "workloads[2].gpu_indices: 9 entries exceed the limit of 8");
}

// docs/agent-desired-state.md shows complete documents; they must stay valid.
TEST(NodeStateTest, DocumentedExamplesParse) {
  auto doc = ReadFile(std::string(GPUSLICE_SOURCE_DIR) + "/docs/agent-desired-state.md", 1 << 20);
  ASSERT_TRUE(doc) << doc.error().message;
  std::vector<std::string> blocks;
  for (std::size_t pos = 0; (pos = doc->find("```json\n", pos)) != std::string::npos;) {
    pos += 8;
    const std::size_t end = doc->find("```", pos);
    ASSERT_NE(end, std::string::npos);
    blocks.push_back(doc->substr(pos, end - pos));
  }
  ASSERT_EQ(blocks.size(), 2u);
  auto desired = ParseDesiredNodeState(blocks[0]);
  EXPECT_TRUE(desired) << desired.error().message;
  auto actual = ParseActualNodeState(blocks[1]);
  EXPECT_TRUE(actual) << actual.error().message;
}

}  // namespace
}  // namespace gpuslice::api
