// The REST API end to end on loopback: tokens and roles, submit -> schedule -> an agent's long
// poll -> report -> succeeded, precise 4xx answers that change nothing, and a restart on the same
// data dir.
#include "server/api_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
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

}  // namespace
}  // namespace gpuslice::server
