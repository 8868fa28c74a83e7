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
  EXPECT_TRUE(ParseTokenRequest(R"({"role": "node", "name": "rack-7-agents"})"));
  EXPECT_THAT(Why(ParseTokenRequest(R"({"role": "node", "name": "rack 7"})")), HasSubstr("name: 'rack 7'"));
  EXPECT_THAT(Why(ParseTokenRequest(R"({"role": "root", "name": "x"})")), HasSubstr("role: 'root'"));
  EXPECT_THAT(Why(ParseTokenRequest(R"({"role": "team", "name": "x"})")), HasSubstr("team:"));
  EXPECT_THAT(Why(ParseTokenRequest(R"({"role": "node", "name": "x", "team": "nlp"})")),
              HasSubstr("only team tokens"));
  EXPECT_THAT(Why(ParseTokenRequest(R"({"role": "admin", "name": "a\u0007b"})")),
              HasSubstr("not a valid name"));
  EXPECT_THAT(Why(ParseTokenRequest(R"({"role": "admin", "name": "x", "expires": 3})")),
              HasSubstr("expires: unknown field"));
}

TEST(AdminApi, TeamRequest) {
  const TeamRequest t = ParseTeamRequest(R"({"parent": "research", "weight": 2,
      "quotas": {"A100-80GB": {"nominal_mgpu": 4000, "borrowing_limit_mgpu": 1000, "lending_limit_mgpu": null}}})")
                            .value();
  EXPECT_FALSE(t.kind);
  EXPECT_TRUE(t.parent_given);
  EXPECT_EQ(t.parent, "research");
  EXPECT_EQ(t.weight, 2);
  EXPECT_EQ(t.quotas.at("A100-80GB").nominal_mgpu, 4000);
  EXPECT_EQ(t.quotas.at("A100-80GB").borrowing_limit_mgpu, 1000);
  EXPECT_FALSE(t.quotas.at("A100-80GB").lending_limit_mgpu);
  const TeamRequest root = ParseTeamRequest(R"({"kind": "cohort", "parent": null})").value();
  EXPECT_TRUE(root.parent_given);
  EXPECT_EQ(root.parent, "");
  EXPECT_FALSE(ParseTeamRequest("{}").value().parent_given);
  auto why = [](const Result<TeamRequest>& r) { return r ? "accepted" : r.error().message; };
  EXPECT_THAT(why(ParseTeamRequest(R"({"kind": "group"})")), HasSubstr("kind: 'group'"));
  EXPECT_THAT(why(ParseTeamRequest(R"({"quotas": {"A100-80GB": {"nominal_mgpu": -1}}})")),
              HasSubstr("quotas.A100-80GB.nominal_mgpu: -1 is not an amount"));
  EXPECT_THAT(why(ParseTeamRequest(R"({"quotas": {"A100-80GB": {"nominal": 1}}})")),
              HasSubstr("quotas.A100-80GB.nominal: unknown field"));
  EXPECT_THAT(why(ParseTeamRequest(R"({"quotas": [1]})")), HasSubstr("quotas: expected an object"));
  EXPECT_THAT(why(ParseTeamRequest(R"({"weight": 1.5})")), HasSubstr("weight: expected an integer"));
  EXPECT_THAT(why(ParseTeamRequest(R"({"parent": "a/b"})")), HasSubstr("parent: 'a/b'"));
}

}  // namespace
}  // namespace gpuslice::api
