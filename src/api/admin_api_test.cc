// The registration and token bodies: what is accepted, and a precise error for everything else.
#include "api/admin_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpuslice::api {
namespace {

using ::testing::HasSubstr;

std::string Why(const Result<NodeRegistration>& r) {
  return r ? "accepted" : r.error().message;
}
std::string Why(const Result<TokenRequest>& r) {
  return r ? "accepted" : r.error().message;
}

TEST(AdminApi, NodeRegistration) {
  const NodeRegistration r =
      ParseNodeRegistration(R"({"node": "gpu-07", "gpu_model": "A100-SXM4-80GB", "gpus": 8})").value();
  EXPECT_EQ(r.node, "gpu-07");
  EXPECT_EQ(r.gpu_model, "A100-SXM4-80GB");
  EXPECT_EQ(r.gpus, 8);
  EXPECT_THAT(Why(ParseNodeRegistration(R"({"node": "a", "gpu_model": "x", "gpus": 1, "zone": 2})")),
              HasSubstr("zone: unknown field"));
  EXPECT_THAT(Why(ParseNodeRegistration(R"({"node": "a", "gpu_model": "x"})")), HasSubstr("gpus: required"));
  EXPECT_THAT(Why(ParseNodeRegistration(R"({"node": "a", "gpu_model": "x", "gpus": 65})")),
              HasSubstr("gpus: 65 is not a GPU count"));
  EXPECT_THAT(Why(ParseNodeRegistration(R"({"node": "a", "gpu_model": "x", "gpus": 1e99})")),
              HasSubstr("gpus: expected an integer"));
  EXPECT_THAT(Why(ParseNodeRegistration(R"({"node": "../etc", "gpu_model": "x", "gpus": 1})")),
              HasSubstr("not a valid node name"));
  EXPECT_THAT(Why(ParseNodeRegistration(R"({"node": "a", "node": "b", "gpu_model": "x", "gpus": 1})")),
              HasSubstr("duplicate"));
  EXPECT_THAT(Why(ParseNodeRegistration("[1]")), HasSubstr("expected an object"));
}

TEST(AdminApi, TokenRequest) {
  const TokenRequest t = ParseTokenRequest(R"({"role": "team", "name": "alice", "team": "nlp"})").value();
  EXPECT_EQ(t.role, "team");
  EXPECT_EQ(t.team, "nlp");
  EXPECT_TRUE(ParseTokenRequest(R"({"role": "node", "name": "rack 7 agents"})"));
  EXPECT_THAT(Why(ParseTokenRequest(R"({"role": "root", "name": "x"})")), HasSubstr("role: 'root'"));
  EXPECT_THAT(Why(ParseTokenRequest(R"({"role": "team", "name": "x"})")), HasSubstr("team:"));
  EXPECT_THAT(Why(ParseTokenRequest(R"({"role": "node", "name": "x", "team": "nlp"})")),
              HasSubstr("only team tokens"));
  EXPECT_THAT(Why(ParseTokenRequest(R"({"role": "admin", "name": "a\u0007b"})")), HasSubstr("printable"));
  EXPECT_THAT(Why(ParseTokenRequest(R"({"role": "admin", "name": "x", "expires": 3})")),
              HasSubstr("expires: unknown field"));
}

}  // namespace
}  // namespace gpuslice::api
