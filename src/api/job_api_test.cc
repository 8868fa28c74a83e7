#include "api/job_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpuslice::api {
namespace {

using ::testing::HasSubstr;

TEST(JobSubmitTest, ParsesAProfileRequestWithDefaults) {
  const Result<JobSubmit> j = ParseJobSubmit(R"({"profile": "3g.40gb", "command": ["python", "train.py"]})");
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_EQ(j->profile, "3g.40gb");
  EXPECT_EQ(j->count, 1);
  EXPECT_EQ(j->kind, WorkloadKind::kBatch);
  EXPECT_FALSE(j->preemptible);
  EXPECT_TRUE(j->team.empty());
}

TEST(JobSubmitTest, ParsesASizeRequestAndEverything) {
  const Result<JobSubmit> j = ParseJobSubmit(R"({
    "team": "nlp", "name": "serve-1", "memory": "20GiB", "compute": 2, "gpu_model": "H100-80GB",
    "count": 2, "same_node": true, "priority": 5, "preemptible": true, "kind": "service",
    "command": ["vllm", "serve"], "env": {"MODEL": "llama"}, "restart": "always",
    "expected_duration_s": 3600})");
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_EQ(j->memory, MiB(20 * 1024));
  EXPECT_EQ(j->compute, 2);
  EXPECT_EQ(j->kind, WorkloadKind::kService);
  EXPECT_EQ(j->restart, RestartPolicy::kAlways);
  EXPECT_EQ(j->env.at("MODEL"), "llama");
  EXPECT_EQ(j->expected_duration_s, 3600);
  // And back: what ToJson writes parses to the same request.
  const Result<JobSubmit> again = ParseJobSubmit(ToJson(*j).dump());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(ToJson(*again), ToJson(*j));
}

TEST(JobSubmitTest, BadBodiesGetPreciseErrors) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"command": ["x"]})", "profile: give a profile"},
      {R"({"profile": "1g.10gb", "memory": "1GiB", "command": ["x"]})", "not both"},
      {R"({"profile": "1g.10gb", "compute": 2, "command": ["x"]})", "compute: goes with memory"},
      {R"({"profile": "1g.10gb"})", "command: required field is missing"},
      {R"({"profile": "1g.10gb", "command": []})", "command: must name a program"},
      {R"({"profile": "1g.10gb", "command": ["x"], "bogus": 1})", "bogus: unknown field"},
      {R"({"profile": "1g.10gb", "command": ["x"], "count": 0})", "count: 0 is out of range"},
      {R"({"profile": "1g.10gb", "command": ["x"], "count": "2"})", "count: expected an integer"},
      {R"({"profile": "1g.10gb", "command": ["x"], "kind": "daemon"})", "kind: expected one of"},
      {R"({"memory": "lots", "command": ["x"]})", "memory"},
      {R"({"profile": "1g 10gb", "command": ["x"]})", "profile: '1g 10gb' is not a valid name"},
      {R"({"profile": "1g.10gb", "command": ["x"], "env": {"CUDA_VISIBLE_DEVICES": "0"}})",
       "set by the agent"},
      {R"({"profile": "1g.10gb", "profile": "2g.20gb", "command": ["x"]})", "duplicate key"},
      {R"([1, 2])", "expected an object"},
      {R"({"profile": )", "not valid JSON"},
      {"", "not valid JSON"},
  };
  for (const auto& [body, want] : cases) {
    const Result<JobSubmit> j = ParseJobSubmit(body);
    ASSERT_FALSE(j) << body;
    EXPECT_EQ(j.error().code, ErrorCode::kInvalidArgument) << body;
    EXPECT_THAT(j.error().message, HasSubstr(want)) << body;
  }
  EXPECT_FALSE(ParseJobSubmit(std::string(kMaxJobSubmitBytes + 1, ' ')));
}

TEST(HttpStatusTest, EveryCodeHasAStatus) {
  EXPECT_EQ(HttpStatus(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatus(ErrorCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatus(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatus(ErrorCode::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatus(ErrorCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatus(ErrorCode::kUnavailable), 503);
}

}  // namespace
}  // namespace gpuslice::api
