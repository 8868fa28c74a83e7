// The REST API end to end on loopback: tokens and roles, submit -> schedule -> an agent's long
// poll -> report -> succeeded, precise 4xx answers that change nothing, and a restart on the same
// data dir.
#include "server/api_server.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "net/http_client.h"

namespace gpuslice::server {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/api-server-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    StartServer();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartServer() {
    ApiOptions o;
    o.data_dir = dir_;
    o.teams = {ParseTeamFlag("nlp@research=A100-80GB:2000").value(),
               ParseTeamFlag("vision@research=A100-80GB:1000").value()};
    o.schedule_interval = std::chrono::milliseconds(20);
    o.long_poll_timeout = std::chrono::milliseconds(2000);
    Result<std::unique_ptr<ApiServer>> s = ApiServer::Start(o);
    ASSERT_TRUE(s) << s.error().message;
    server_ = std::move(*s);
    std::ifstream(server_->admin_token_file()) >> admin_;
  }

  net::Response Call(const std::string& method, const std::string& target, const std::string& token,
                     const std::string& body = "") {
    auto client = net::HttpClient::Create(server_->url()).value();
    net::ClientRequest r;
    r.method = method;
    r.target = target;
    r.body = body;
    if (!token.empty()) r.headers["Authorization"] = "Bearer " + token;
    if (!body.empty()) r.headers["Content-Type"] = "application/json";
    Result<net::Response> resp = client->Do(r);
    EXPECT_TRUE(resp) << resp.error().message;
    return resp ? *resp : net::Response{};
  }

  std::string Token(const std::string& role, const std::string& name, const std::string& team = "") {
    json body{{"role", role}, {"name", name}};
    if (!team.empty()) body["team"] = team;
    const net::Response r = Call("POST", "/v1/tokens", admin_, body.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body).value("token", "");
  }

  // Waits until job `id` reaches `phase` (the scheduler loop runs every 20 ms).
  json WaitForPhase(std::uint64_t id, const std::string& phase, const std::string& token) {
    json j;
    for (int i = 0; i < 250; ++i) {
      j = json::parse(Call("GET", "/v1/jobs/" + std::to_string(id), token).body);
      if (j.value("phase", "") == phase) return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "job " << id << " never reached " << phase << ": " << j.dump();
    return j;
  }

  // Registers node `name` (one A100-80GB) with `token`.
  void Register(const std::string& token, const std::string& name = "n1") {
    ASSERT_EQ(Call("POST", "/v1/agent/register", token,
                   json{{"node", name}, {"gpu_model", "A100-80GB"}, {"gpus", 1}}.dump())
                  .status,
              200);
  }
  std::uint64_t Submit(const std::string& token, const std::string& profile = "1g.10gb") {
    const net::Response r =
        Call("POST", "/v1/jobs", token, json{{"profile", profile}, {"command", {"x"}}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body).value("id", std::uint64_t{0});
  }
  // The events of GET /v1/events`query` as `token` sees them, until `count` arrived.
  std::vector<json> Events(const std::string& token, const std::string& query, std::size_t count,
                           const net::HeaderMap& extra = {}) {
    auto client = net::HttpClient::Create(server_->url()).value();
    std::vector<json> out;
    net::HeaderMap headers = extra;
    headers["Authorization"] = "Bearer " + token;
    const Result<void> r = client->Stream(
        "/v1/events" + query,
        [&](const net::SseEvent& e) {
          json j = json::parse(e.data);
          EXPECT_EQ(j["type"], e.event);
          EXPECT_EQ(std::to_string(j["seq"].get<std::uint64_t>()), e.id);
          out.push_back(std::move(j));
          return out.size() < count;
        },
        headers);
    EXPECT_TRUE(r) << r.error().message;  // ended by the callback
    return out;
  }

  std::string dir_;
  std::unique_ptr<ApiServer> server_;
  std::string admin_;
};

TEST_F(ApiServerTest, AJobGoesFromSubmitThroughAnAgentToSucceeded) {
  const std::string nlp = Token("team", "alice", "nlp");
  const std::string node = Token("node", "node-1");
  ASSERT_EQ(
      Call("POST", "/v1/agent/register", node, R"({"node": "n1", "gpu_model": "A100-SXM4-80GB", "gpus": 1})")
          .status,
      200);
  const net::Response submitted =
      Call("POST", "/v1/jobs", nlp, R"({"profile": "3g.40gb", "command": ["sleep", "1"]})");
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const std::uint64_t id = json::parse(submitted.body)["id"];
  const json running = WaitForPhase(id, "running", nlp);
  EXPECT_EQ(running["team"], "nlp");  // filled in from the token
  EXPECT_EQ(running["slices"][0]["profile"], "3g.40gb");

  // The agent's long poll: at once when behind, parked when up to date.
  const json desired = json::parse(Call("GET", "/v1/agent/desired?node=n1&after=0", node).body);
  ASSERT_EQ(desired["workloads"].size(), 1u);
  EXPECT_EQ(desired["workloads"][0]["job_id"], std::to_string(id));
  const std::uint64_t gen = desired["generation"];
  std::thread reporter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    json report{{"node", "n1"},
                {"generation_applied", gen},
                {"gpus", json::array()},
                {"instances", json::array()},
                {"workloads",
                 json::array({{{"job_id", std::to_string(id)}, {"state", "exited"}, {"exit_code", 0}}})}};
    EXPECT_EQ(Call("POST", "/v1/agent/report", node, report.dump()).status, 200);
  });
  const json next =
      json::parse(Call("GET", "/v1/agent/desired?node=n1&after=" + std::to_string(gen), node).body);
  reporter.join();
  EXPECT_GT(next["generation"].get<std::uint64_t>(), gen);  // woken by the change, not the timeout
  EXPECT_TRUE(next["workloads"].empty());
  EXPECT_EQ(WaitForPhase(id, "succeeded", nlp)["exit_code"], 0);
}

TEST_F(ApiServerTest, RolesSeeAndDoOnlyWhatTheyMay) {
  const std::string nlp = Token("team", "alice", "nlp");
  const std::string vision = Token("team", "victor", "vision");
  const std::string node = Token("node", "node-1");
  const std::uint64_t id =
      json::parse(Call("POST", "/v1/jobs", nlp, R"({"profile": "1g.10gb", "command": ["x"]})").body)["id"];
  const std::string job = "/v1/jobs/" + std::to_string(id);
  // No token, a bad token: 403 for everything but the health check.
  EXPECT_EQ(Call("GET", "/healthz", "").status, 200);
  EXPECT_EQ(Call("GET", "/v1/jobs", "").status, 403);
  EXPECT_EQ(Call("GET", "/v1/jobs", "gst_" + std::string(64, 'f')).status, 403);
  // Another team's job does not exist for you.
  EXPECT_EQ(Call("GET", job, vision).status, 404);
  EXPECT_EQ(Call("POST", job + "/cancel", vision).status, 404);
  EXPECT_EQ(json::parse(Call("GET", "/v1/jobs", vision).body)["jobs"].size(), 0u);
  EXPECT_EQ(
      Call("POST", "/v1/jobs", vision, R"({"team": "nlp", "profile": "1g.10gb", "command": ["x"]})").status,
      403);
  // Nodes may not submit; teams may not act as agents or make tokens.
  EXPECT_EQ(Call("POST", "/v1/jobs", node, R"({"profile": "1g.10gb", "command": ["x"]})").status, 403);
  EXPECT_EQ(Call("GET", "/v1/agent/desired?node=n1", nlp).status, 403);
  EXPECT_EQ(Call("POST", "/v1/tokens", nlp, R"({"role": "admin", "name": "me"})").status, 403);
  // The admin sees everything, and the owner may cancel.
  EXPECT_EQ(json::parse(Call("GET", "/v1/jobs", admin_).body)["jobs"].size(), 1u);
  EXPECT_EQ(Call("POST", job + "/cancel", nlp).status, 200);
  EXPECT_EQ(Call("POST", job + "/cancel", nlp).status, 409);
}

TEST_F(ApiServerTest, TokensAreListedWithoutSecretsAndRevokedAtOnce) {
  const std::string nlp = Token("team", "alice", "nlp");
  EXPECT_EQ(Call("GET", "/v1/jobs", nlp).status, 200);
  const json list = json::parse(Call("GET", "/v1/tokens", admin_).body)["tokens"];
  ASSERT_EQ(list.size(), 2u);  // the admin's and alice's
  std::string alice_id;
  for (const json& t : list) {
    EXPECT_EQ(t["id"].get<std::string>().size(), 12u);
    EXPECT_EQ(nlp.find(t["id"].get<std::string>()), std::string::npos);  // not a piece of the token
    if (t["name"] == "alice") alice_id = t["id"];
  }
  ASSERT_FALSE(alice_id.empty());
  EXPECT_EQ(list[0].contains("token"), false);
  EXPECT_EQ(Call("DELETE", "/v1/tokens/" + alice_id, admin_).status, 200);
  EXPECT_EQ(Call("GET", "/v1/jobs", nlp).status, 403);  // at once
  EXPECT_EQ(Call("DELETE", "/v1/tokens/" + alice_id, admin_).status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/tokens/xyz", admin_).status, 400);
  const std::string admin_id = json::parse(Call("GET", "/v1/tokens", admin_).body)["tokens"][0]["id"];
  EXPECT_EQ(Call("DELETE", "/v1/tokens/" + admin_id, admin_).status, 409);  // the last admin token
}

TEST_F(ApiServerTest, BadInputGetsAPreciseAnswerAndChangesNothing) {
  const std::string nlp = Token("team", "alice", "nlp");
  const net::Response unknown =
      Call("POST", "/v1/jobs", nlp, R"({"profile": "1g.10gb", "command": ["x"], "gpus": 2})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_THAT(unknown.body, HasSubstr("gpus: unknown field"));
  EXPECT_EQ(Call("POST", "/v1/jobs", nlp, "{not json").status, 400);
  EXPECT_EQ(
      Call("POST", "/v1/jobs", nlp, R"({"team": "ghosts", "profile": "1g.10gb", "command": ["x"]})").status,
      403);
  EXPECT_EQ(Call("GET", "/v1/jobs/abc", nlp).status, 400);
  EXPECT_EQ(Call("GET", "/v1/jobs/999", nlp).status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/jobs", nlp).status, 405);
  EXPECT_EQ(json::parse(Call("GET", "/v1/jobs", admin_).body)["jobs"].size(), 0u);
  const std::string node = Token("node", "node-1");
  EXPECT_EQ(
      Call("POST", "/v1/agent/register", node, R"({"node": "n1", "gpu_model": "Z9000", "gpus": 1})").status,
      404);
  EXPECT_EQ(Call("POST", "/v1/agent/report", node, R"({"node": "n1"})").status, 400);
}

TEST_F(ApiServerTest, ARestartKeepsJobsAndTokens) {
  const std::string nlp = Token("team", "alice", "nlp");
  const std::string node = Token("node", "node-1");
  ASSERT_EQ(Call("POST", "/v1/agent/register", node, R"({"node": "n1", "gpu_model": "A100-80GB", "gpus": 1})")
                .status,
            200);
  const std::uint64_t id =
      json::parse(Call("POST", "/v1/jobs", nlp, R"({"profile": "2g.20gb", "command": ["x"]})").body)["id"];
  const json before = WaitForPhase(id, "running", nlp);
  server_.reset();
  StartServer();
  const json after = WaitForPhase(id, "running", nlp);  // the same token still works
  EXPECT_EQ(after["slices"], before["slices"]);
  EXPECT_EQ(Call("GET", "/metrics", admin_).status, 200);
  EXPECT_THAT(Call("GET", "/metrics", admin_).body, HasSubstr("gpuslice_jobs{phase=\"running\"} 1"));
}

TEST_F(ApiServerTest, ShippedOutputIsReadFromAnyOffsetAndFollowedUntilTheJobEnds) {
  const std::string nlp = Token("team", "alice", "nlp");
  const std::string vision = Token("team", "victor", "vision");
  const std::string node = Token("node", "node-1");
  Register(node, "n1");
  Register(node, "n2");
  const std::uint64_t id = Submit(nlp, "7g.80gb");
  const json running = WaitForPhase(id, "running", nlp);
  const std::string on = running["slices"][0]["node"];
  const std::string other = on == "n1" ? "n2" : "n1";
  const std::string ship = fmt::format("/v1/agent/logs?node={}&job={}&offset=", on, id);

  EXPECT_EQ(json::parse(Call("POST", ship + "0", node, "hello\n").body)["size"], 6);
  EXPECT_EQ(json::parse(Call("POST", ship + "0", node, "hello\n").body)["size"], 6);  // a retry
  const net::Response gap = Call("POST", ship + "9", node, "x");
  EXPECT_EQ(gap.status, 409);
  EXPECT_EQ(json::parse(gap.body)["size"], 6);
  const net::Response elsewhere =
      Call("POST", fmt::format("/v1/agent/logs?node={}&job={}&offset=6", other, id), node, "forged\n");
  EXPECT_EQ(elsewhere.status, 409);
  EXPECT_THAT(elsewhere.body, HasSubstr("runs on node " + on));
  EXPECT_EQ(Call("POST", "/v1/agent/logs?node=n1&job=999&offset=0", node, "x").status, 404);

  const std::string logs = fmt::format("/v1/jobs/{}/logs", id);
  net::Response r = Call("GET", logs, nlp);
  EXPECT_EQ(r.body, "hello\n");
  EXPECT_EQ(r.Header("Gpuslice-Log-Offset"), "6");
  EXPECT_EQ(r.Header("Gpuslice-Log-Complete"), "false");
  EXPECT_EQ(Call("GET", logs + "?offset=2", nlp).body, "llo\n");
  EXPECT_EQ(Call("GET", logs, vision).status, 404);  // another team's job
  EXPECT_EQ(Call("GET", logs + "?offset=-1", nlp).status, 400);
  EXPECT_EQ(Call("GET", logs + "?follow=maybe", nlp).status, 400);

  // A follower parked at the end is woken by new output, then by the job's end.
  std::thread agent([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    EXPECT_EQ(Call("POST", ship + "6", node, "world\n").status, 200);
  });
  r = Call("GET", logs + "?offset=6&follow=true", nlp);
  agent.join();
  EXPECT_EQ(r.body, "world\n");
  EXPECT_EQ(r.Header("Gpuslice-Log-Offset"), "12");
  std::thread ender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    json report{{"node", on},
                {"generation_applied", 0},
                {"gpus", json::array()},
                {"instances", json::array()},
                {"workloads",
                 json::array({{{"job_id", std::to_string(id)}, {"state", "exited"}, {"exit_code", 0}}})}};
    EXPECT_EQ(Call("POST", "/v1/agent/report", node, report.dump()).status, 200);
  });
  r = Call("GET", logs + "?offset=12&follow=true", nlp);
  ender.join();
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.Header("Gpuslice-Log-Complete"), "true");
  EXPECT_EQ(r.Header("Gpuslice-Job-Phase"), "succeeded");
}

TEST_F(ApiServerTest, EventsStreamAJobsLifeAndATeamSeesOnlyItsOwn) {
  const std::string nlp = Token("team", "alice", "nlp");
  const std::string vision = Token("team", "victor", "vision");
  const std::string node = Token("node", "node-1");
  const std::uint64_t a = Submit(vision);
  Register(node);
  const std::uint64_t b = Submit(nlp);
  WaitForPhase(a, "running", vision);
  WaitForPhase(b, "running", nlp);

  // Replayed from the start: nlp sees the node and its own job, never vision's.
  const std::vector<json> seen = Events(nlp, "?after=0", 3);
  ASSERT_EQ(seen.size(), 3u);
  std::vector<std::string> what;
  for (const json& e : seen) what.push_back(e["type"].get<std::string>() + ":" + e.value("team", "-"));
  EXPECT_THAT(what,
              ::testing::UnorderedElementsAre("node-registered:-", "job-submitted:nlp", "job-started:nlp"));
  // The admin sees everything; Last-Event-ID resumes after the event it names.
  const std::vector<json> all = Events(admin_, "?after=0", 5);
  ASSERT_EQ(all.size(), 5u);
  EXPECT_EQ(all[0]["type"], "job-submitted");
  EXPECT_EQ(all[0]["job"], a);
  const std::vector<json> resumed =
      Events(admin_, "", 1, {{"Last-Event-ID", std::to_string(all[2]["seq"].get<std::uint64_t>())}});
  ASSERT_EQ(resumed.size(), 1u);
  EXPECT_EQ(resumed[0]["seq"], all[3]["seq"]);
  // Live: a cancel arrives on an open stream.
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    EXPECT_EQ(Call("POST", fmt::format("/v1/jobs/{}/cancel", b), nlp).status, 200);
  });
  const std::vector<json> live = Events(nlp, "", 1);
  canceller.join();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0]["type"], "job-ended");
  EXPECT_EQ(live[0]["phase"], "cancelled");
}

TEST_F(ApiServerTest, AdminsCordonAndDrainNodesEveryoneSeesNodesTeamsAndMetrics) {
  const std::string nlp = Token("team", "alice", "nlp");
  const std::string node = Token("node", "node-1");
  Register(node);
  const json cordoned = json::parse(Call("POST", "/v1/nodes/n1/cordon", admin_).body);
  EXPECT_EQ(cordoned["gpus"][0]["mode"], "cordoned");
  const std::uint64_t id = Submit(nlp);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // several scheduling passes
  EXPECT_EQ(json::parse(Call("GET", fmt::format("/v1/jobs/{}", id), nlp).body)["phase"], "pending");
  EXPECT_EQ(Call("POST", "/v1/nodes/n1/uncordon", nlp).status, 403);
  EXPECT_EQ(Call("POST", "/v1/nodes/n9/drain", admin_).status, 404);
  EXPECT_EQ(Call("POST", "/v1/nodes/n1/drain?gpu=3", admin_).status, 404);
  EXPECT_EQ(Call("POST", "/v1/nodes/n1/drain?gpu=x", admin_).status, 400);
  EXPECT_EQ(Call("PUT", "/v1/nodes/n1/gpus/0/mode", admin_, R"({"mode": "whole"})").status, 200);
  EXPECT_EQ(Call("PUT", "/v1/nodes/n1/gpus/0/mode", admin_, R"({"mode": "whole", "x": 1})").status, 400);
  EXPECT_EQ(Call("PUT", "/v1/nodes/n1/gpus/x/mode", admin_, R"({"mode": "whole"})").status, 400);
  EXPECT_EQ(Call("PUT", "/v1/nodes/n1/gpus/4/mode", admin_, R"({"mode": "whole"})").status, 404);
  EXPECT_EQ(
      json::parse(
          Call("PUT", "/v1/nodes/n1/gpus/0/mode", admin_, R"({"mode": "dynamic"})").body)["gpus"][0]["mode"],
      "cordoned");  // still cordoned: the mode changes what an uncordon returns to
  EXPECT_EQ(json::parse(Call("POST", "/v1/nodes/n1/uncordon", admin_).body)["gpus"][0]["mode"], "dynamic");
  const json running = WaitForPhase(id, "running", nlp);

  const json n1 = json::parse(Call("GET", "/v1/nodes/n1", nlp).body);
  ASSERT_EQ(n1["gpus"][0]["instances"].size(), 1u);
  EXPECT_EQ(n1["gpus"][0]["instances"][0]["job"], id);
  EXPECT_FALSE(n1.contains("desired"));  // other teams' commands and environment: admins only
  EXPECT_EQ(json::parse(Call("GET", "/v1/nodes/n1", admin_).body)["desired"]["workloads"].size(), 1u);
  EXPECT_EQ(json::parse(Call("GET", "/v1/nodes", nlp).body)["nodes"].size(), 1u);
  const json teams = json::parse(Call("GET", "/v1/teams", nlp).body)["teams"];
  ASSERT_EQ(teams.size(), 3u);  // nlp, research (the cohort), vision
  EXPECT_EQ(teams[0]["name"], "nlp");
  EXPECT_EQ(teams[0]["classes"][0]["usage_mgpu"], 143);
  EXPECT_EQ(teams[1]["kind"], "cohort");
  EXPECT_EQ(teams[1]["classes"][0]["quota_mgpu"], 3000);

  // An admin adds a team and its quota; jobs of it are accepted at once.
  const net::Response added =
      Call("PUT", "/v1/teams/audio", admin_,
           R"({"parent": "research", "quotas": {"A100-80GB": {"nominal_mgpu": 250}}})");
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(json::parse(added.body)["classes"][0]["quota_mgpu"], 250);
  EXPECT_EQ(json::parse(Call("GET", "/v1/teams", nlp).body)["teams"].size(), 4u);
  EXPECT_EQ(Call("PUT", "/v1/teams/audio", admin_, R"({"kind": "cohort"})").status, 400);
  EXPECT_EQ(Call("PUT", "/v1/teams/audio", admin_, R"({"parent": "nowhere"})").status, 404);
  EXPECT_EQ(Call("PUT", "/v1/teams/audio", admin_, R"({"colour": "red"})").status, 400);
  EXPECT_EQ(Call("PUT", "/v1/teams/audio", nlp, R"({"weight": 3})").status, 403);

  // The agent's usage sample of the job's slice reaches the node view and /metrics.
  const json slice = n1["gpus"][0]["instances"][0];
  const json report{{"node", "n1"},
                    {"generation_applied", 0},
                    {"gpus", json::array()},
                    {"instances", json::array({{{"gpu_index", 0},
                                                {"profile", slice["profile"]},
                                                {"start", slice["start"]},
                                                {"key", "k1"},
                                                {"mig_uuid", "MIG-0000"},
                                                {"busy", true},
                                                {"processes", 1},
                                                {"memory_used_mib", 512},
                                                {"memory_total_mib", 9856},
                                                {"activity_percent", 40}}})},
                    {"workloads", json::array()}};
  const net::Response reported = Call("POST", "/v1/agent/report", node, report.dump());
  ASSERT_EQ(reported.status, 200) << reported.body;
  EXPECT_EQ(json::parse(Call("GET", "/v1/nodes/n1", nlp).body)["gpus"][0]["instances"][0]["memory_used_mib"],
            512);

  const std::string metrics = Call("GET", "/metrics", nlp).body;
  const std::string labels = fmt::format(R"(node="n1",gpu="0",slice="{}@{}",job="{}",team="nlp")",
                                         slice["profile"].get<std::string>(), slice["start"].get<int>(), id);
  EXPECT_THAT(metrics, HasSubstr("gpuslice_slice_memory_used_bytes{" + labels + "} 536870912\n"));
  EXPECT_THAT(metrics, HasSubstr("gpuslice_slice_activity_ratio{" + labels + "} 0.4\n"));
  EXPECT_THAT(metrics, HasSubstr("gpuslice_slice_processes{" + labels + "} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("gpuslice_gpus{mode=\"cordoned\"} 0\n"));
  EXPECT_THAT(metrics, HasSubstr("gpuslice_queue_length 0\n"));
  EXPECT_THAT(metrics, HasSubstr("gpuslice_slices{state=\"busy\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("gpuslice_allocation_ratio 0.125\n"));  // 1 of 8 memory units
  EXPECT_THAT(metrics, HasSubstr("gpuslice_team_usage_mgpu{team=\"nlp\",gpu_class=\"A100-80GB\"} 143\n"));
  EXPECT_THAT(metrics, HasSubstr("gpuslice_job_wait_seconds_count 1\n"));
  EXPECT_THAT(metrics, HasSubstr("# TYPE gpuslice_scheduling_pass_seconds histogram"));
  // The text format: every sample of a family comes right after its TYPE line, in one group.
  {
    std::istringstream lines(metrics);
    std::string family;
    std::set<std::string> seen;
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("# TYPE ", 0) == 0) {
        family = line.substr(7, line.find(' ', 7) - 7);
        EXPECT_TRUE(seen.insert(family).second) << "family declared twice: " << family;
      } else if (!line.empty() && line[0] != '#') {
        const std::string name = line.substr(0, line.find_first_of("{ "));
        EXPECT_EQ(name.rfind(family, 0), 0u) << "sample " << name << " inside family " << family;
      }
    }
  }
  EXPECT_EQ(Call("GET", "/metrics", node).status, 403);
}

constexpr const char* kOneConfig =
    "version: v1\nmig-configs:\n  one:\n    - devices: all\n      mig-enabled: true\n      mig-devices:\n"
    "        \"3g.40gb\": 2\n";

// Every endpoint, every kind of caller: who may (any answer but 403) and who may not (403).
TEST_F(ApiServerTest, EveryEndpointChecksEveryRole) {
  const std::string nlp = Token("team", "alice", "nlp");
  const std::string node = Token("node", "node-1");
  Register(node);
  const std::uint64_t id = Submit(nlp);
  WaitForPhase(id, "running", nlp);
  const std::string job = fmt::format("/v1/jobs/{}", id);
  const std::string report = json{
      {"node", "n1"},
      {"generation_applied", 0},
      {"gpus", json::array()},
      {"instances", json::array()},
      {"workloads",
       json::array()}}.dump();
  struct Case {
    std::string method, target, body;
    std::set<std::string> allowed;  // of: none, forged, team, node, admin
  };
  const std::set<std::string> all{"none", "forged", "team", "node", "admin"};
  const std::vector<Case> cases{
      {"GET", "/healthz", "", all},
      {"POST", "/v1/jobs", R"({"profile": "1g.10gb", "command": ["x"], "team": "nlp"})", {"team", "admin"}},
      {"GET", "/v1/jobs", "", {"team", "admin"}},
      {"GET", job, "", {"team", "admin"}},
      {"GET", job + "/why", "", {"team", "admin"}},
      {"GET", job + "/logs", "", {"team", "admin"}},
      {"POST", "/v1/jobs/999/cancel", "", {"team", "admin"}},
      {"POST", "/v1/tokens", R"({"role": "team", "name": "t", "team": "nlp"})", {"admin"}},
      {"GET", "/v1/tokens", "", {"admin"}},
      {"DELETE", "/v1/tokens/ffffffffffff", "", {"admin"}},
      {"GET", "/v1/nodes", "", {"team", "admin"}},
      {"GET", "/v1/nodes/n1", "", {"team", "admin"}},
      {"POST", "/v1/nodes/n1/cordon", "", {"admin"}},
      {"POST", "/v1/nodes/n1/drain", "", {"admin"}},
      {"POST", "/v1/nodes/n1/uncordon", "", {"admin"}},
      {"GET", "/v1/teams", "", {"team", "admin"}},
      {"PUT", "/v1/teams/nlp", R"({"weight": 1})", {"admin"}},
      {"PUT", "/v1/nodes/n1/gpus/0/mode", R"({"mode": "dynamic"})", {"admin"}},
      {"POST", "/v1/nodes/n1/layout?config=one&dry_run=true", kOneConfig, {"team", "admin"}},
      {"POST", "/v1/nodes/n1/layout/assert?config=one", kOneConfig, {"team", "admin"}},
      {"POST", "/v1/nodes/n1/layout?config=one", kOneConfig, {"admin"}},
      {"GET", "/v1/layouts/export", "", {"team", "admin"}},
      {"GET", "/metrics", "", {"team", "admin"}},
      {"POST",
       "/v1/agent/register",
       R"({"node": "n1", "gpu_model": "A100-80GB", "gpus": 1})",
       {"node", "admin"}},
      {"GET", "/v1/agent/desired?node=n1&after=0", "", {"node", "admin"}},
      {"POST", "/v1/agent/report", report, {"node", "admin"}},
      {"POST", fmt::format("/v1/agent/logs?node=n1&job={}&offset=0", id), "", {"node", "admin"}},
  };
  const std::map<std::string, std::string> tokens{{"none", ""},
                                                  {"forged", "gst_" + std::string(64, '0')},
                                                  {"team", nlp},
                                                  {"node", node},
                                                  {"admin", admin_}};
  for (const Case& c : cases) {
    for (const auto& [role, token] : tokens) {
      const int status = Call(c.method, c.target, token, c.body).status;
      if (c.allowed.contains(role)) {
        EXPECT_NE(status, 403) << role << " " << c.method << " " << c.target;
        EXPECT_LT(status, 500) << role << " " << c.method << " " << c.target;
      } else {
        EXPECT_EQ(status, 403) << role << " " << c.method << " " << c.target;
      }
    }
  }
  // The event stream: allowed callers get a stream, the others a 403 before it starts.
  for (const auto& [role, token] : tokens) {
    auto client = net::HttpClient::Create(server_->url()).value();
    net::HeaderMap h;
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    const Result<void> r = client->Stream(
        "/v1/events?after=0", [](const net::SseEvent&) { return false; }, h);
    const bool may = role == "team" || role == "admin";
    EXPECT_EQ(static_cast<bool>(r), may) << role;
    if (!r) {
      EXPECT_THAT(r.error().message, HasSubstr("403")) << role;
    }
  }
}

}  // namespace
}  // namespace gpuslice::server
