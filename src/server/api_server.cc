#include "server/api_server.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <iterator>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "api/job_api.h"
#include "api/node_state.h"
#include "common/clock.h"
#include "mig/catalog.h"
#include "net/http_server.h"
#include "net/router.h"
#include "server/auth.h"
#include "server/control_plane.h"
#include "store/sqlite_store.h"

namespace gpuslice::server {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

net::Response ErrorResponse(const Error& e) {
  return net::Response::Error(api::HttpStatus(e.code), ErrorCodeName(e.code), e.message);
}

net::Response JsonResponse(int status, const ordered_json& j) {
  return net::Response::Json(status, j.dump());
}

Result<std::uint64_t> ParseId(std::string_view text) {
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v == 0) {
    return Fail(ErrorCode::kInvalidArgument, "'{}' is not a job id", text.substr(0, 32));
  }
  return v;
}

}  // namespace

Result<sched::QuotaNodeSpec> ParseTeamFlag(std::string_view text) {
  const std::size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, "--team '{}': expected NAME=MODEL:MGPU[,MODEL:MGPU…]", text);
  }
  sched::QuotaNodeSpec spec;
  std::string_view name = text.substr(0, eq);
  if (const std::size_t at = name.find('@'); at != std::string_view::npos) {
    spec.parent = std::string(name.substr(at + 1));
    name = name.substr(0, at);
  }
  spec.name = std::string(name);
  if (!api::IsSaneName(spec.name) || (!spec.parent.empty() && !api::IsSaneName(spec.parent))) {
    return Fail(ErrorCode::kInvalidArgument, "--team '{}': bad team or cohort name", text);
  }
  std::string_view rest = text.substr(eq + 1);
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const std::size_t colon = item.rfind(':');
    std::int64_t mgpu = -1;
    if (colon != std::string_view::npos) {
      const auto [p, ec] = std::from_chars(item.data() + colon + 1, item.data() + item.size(), mgpu);
      if (ec != std::errc() || p != item.data() + item.size()) mgpu = -1;
    }
    if (mgpu < 0 || mgpu > sched::kMaxQuotaMilliGpu) {
      return Fail(ErrorCode::kInvalidArgument, "--team '{}': '{}' is not MODEL:MGPU", text, item);
    }
    Result<mig::ResolvedGpu> model = mig::Catalog::BuiltIn().Resolve(item.substr(0, colon));
    if (!model) return Fail(model.error().WithContext(fmt::format("--team '{}'", text)));
    spec.quotas[model->model->name] = sched::ClassQuota{MilliGpu(mgpu), std::nullopt, std::nullopt};
  }
  return spec;
}

struct ApiServer::Impl {
  ApiOptions options;
  RealClock clock;
  std::unique_ptr<store::SqliteStore> store;
  std::unique_ptr<ControlPlane> cp;
  std::unique_ptr<TokenBook> tokens;
  std::unique_ptr<net::HttpServer> http;

  // Scheduler loop.
  std::mutex mu;
  std::condition_variable cv;
  bool kicked = false;
  bool stopping = false;
  std::thread scheduler_thread;

  // Parked long polls per node, and nodes whose desired state changed (guarded by mu). A poll
  // is answered only by a generation past its `after`: a change the agent has already seen (a
  // dirty mark the notifier had not yet drained when it parked) must not wake it.
  struct ParkedPoll {
    std::shared_ptr<net::ResponseWriter> writer;
    std::uint64_t after = 0;
  };
  std::map<std::string, std::vector<ParkedPoll>> waiting;
  std::set<std::string> dirty;
  std::thread notifier_thread;

  void Kick() {
    std::lock_guard lock(mu);
    kicked = true;
    cv.notify_all();
  }

  void SchedulerLoop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      cv.wait_for(lock, options.schedule_interval, [&] { return kicked || stopping; });
      if (stopping) break;
      kicked = false;
      lock.unlock();
      if (Result<std::vector<std::string>> lost = cp->ExpireNodes(options.node_grace); !lost) {
        std::fprintf(stderr, "gpuslice server: %s\n", lost.error().message.c_str());
      } else {
        for (const std::string& n : *lost)
          std::fprintf(stderr, "gpuslice server: node %s lost, its jobs requeued\n", n.c_str());
      }
      if (Result<int> r = cp->Schedule(); !r) {
        std::fprintf(stderr, "gpuslice server: %s\n", r.error().message.c_str());
      }
      lock.lock();
    }
  }

  void NotifierLoop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      cv.wait(lock, [&] { return !dirty.empty() || stopping; });
      std::map<std::string, std::vector<ParkedPoll>> ready;
      for (const std::string& n : dirty) {
        if (auto it = waiting.find(n); it != waiting.end()) {
          ready[n] = std::move(it->second);
          waiting.erase(it);
        }
      }
      dirty.clear();
      lock.unlock();
      std::map<std::string, std::vector<ParkedPoll>> still_behind;
      for (auto& [node, polls] : ready) {
        const Result<api::DesiredNodeState> d = cp->Desired(node);
        const net::Response r =
            d ? net::Response::Json(200, api::ToJson(*d).dump()) : ErrorResponse(d.error());
        for (ParkedPoll& p : polls) {
          if (p.writer->Done()) continue;  // timed out meanwhile
          if (d && d->generation <= p.after) {
            still_behind[node].push_back(std::move(p));
          } else {
            p.writer->Complete(r);
          }
        }
      }
      lock.lock();
      for (auto& [node, polls] : still_behind) {
        std::vector<ParkedPoll>& w = waiting[node];
        w.insert(w.end(), std::make_move_iterator(polls.begin()), std::make_move_iterator(polls.end()));
      }
    }
  }

  // Authenticates the request and checks the permission.
  Result<Principal> Who(const net::Request& req, Permission need) const {
    const std::optional<std::string> auth = req.Header("Authorization");
    std::string_view token;
    if (auth && auth->rfind("Bearer ", 0) == 0) token = std::string_view(*auth).substr(7);
    Result<Principal> p = tokens->Authenticate(token);
    if (!p) return p;
    if (!Allows(*p, need)) {
      return Fail(ErrorCode::kPermissionDenied, "a {} token may not do this", RoleName(p->role));
    }
    return p;
  }

  // The job named by the path's {id}, when the caller may act on it; another team's job is
  // "not found" (its existence is not the caller's business).
  Result<JobView> VisibleJob(const net::Request& req) const {
    Result<Principal> who = Who(req, Permission::kSubmitJob);
    if (!who) return Fail(who.error());
    Result<std::uint64_t> id = ParseId(req.Param("id"));
    if (!id) return Fail(id.error());
    Result<JobView> v = cp->Get(*id);
    if (v && !CanActOnTeam(*who, v->team)) return Fail(ErrorCode::kNotFound, "no job {}", *id);
    return v;
  }

  Result<void> AddRoutes(net::Router& r);
  net::Reply SubmitJob(net::Request& req);
  net::Reply GetJob(net::Request& req, bool why);
  net::Reply ListJobs(net::Request& req);
  net::Reply CancelJob(net::Request& req);
  net::Reply CreateToken(net::Request& req);
  net::Reply ListNodes(net::Request& req);
  net::Reply Register(net::Request& req);
  net::Reply Desired(net::Request& req);
  net::Reply Report(net::Request& req);
  net::Reply Metrics(net::Request& req);
};

Result<void> ApiServer::Impl::AddRoutes(net::Router& r) {
  using net::Request;
  const std::vector<std::tuple<std::string, std::string, net::Handler>> routes{
      {"GET", "/healthz", [](Request&) { return net::Reply(net::Response::Text(200, "ok\n")); }},
      {"POST", "/v1/jobs", [this](Request& q) { return SubmitJob(q); }},
      {"GET", "/v1/jobs", [this](Request& q) { return ListJobs(q); }},
      {"GET", "/v1/jobs/{id}", [this](Request& q) { return GetJob(q, false); }},
      {"GET", "/v1/jobs/{id}/why", [this](Request& q) { return GetJob(q, true); }},
      {"POST", "/v1/jobs/{id}/cancel", [this](Request& q) { return CancelJob(q); }},
      {"POST", "/v1/tokens", [this](Request& q) { return CreateToken(q); }},
      {"GET", "/v1/nodes", [this](Request& q) { return ListNodes(q); }},
      {"POST", "/v1/agent/register", [this](Request& q) { return Register(q); }},
      {"GET", "/v1/agent/desired", [this](Request& q) { return Desired(q); }},
      {"POST", "/v1/agent/report", [this](Request& q) { return Report(q); }},
      {"GET", "/metrics", [this](Request& q) { return Metrics(q); }},
  };
  for (const auto& [method, pattern, handler] : routes) {
    if (Result<void> added = r.Add(method, pattern, handler); !added) return added;
  }
  return {};
}

net::Reply ApiServer::Impl::SubmitJob(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kSubmitJob);
  if (!who) return ErrorResponse(who.error());
  Result<api::JobSubmit> job = api::ParseJobSubmit(req.body);
  if (!job) return ErrorResponse(job.error());
  if (job->team.empty()) job->team = who->team;
  if (!CanActOnTeam(*who, job->team)) {
    return ErrorResponse(
        Error{ErrorCode::kPermissionDenied,
              fmt::format("a token of team '{}' may not submit for team '{}'", who->team, job->team)});
  }
  Result<std::uint64_t> id = cp->Submit(std::move(*job));
  if (!id) return ErrorResponse(id.error());
  Kick();
  return JsonResponse(201, ordered_json{{"id", *id}});
}

net::Reply ApiServer::Impl::GetJob(net::Request& req, bool why) {
  Result<JobView> v = VisibleJob(req);
  if (!v) return ErrorResponse(v.error());
  if (!why) return JsonResponse(200, ToJson(*v));
  ordered_json j{{"id", v->id}, {"phase", JobPhaseName(v->phase)}};
  if (v->phase == JobPhase::kPending) j["reason"] = {{"kind", v->reason_kind}, {"message", v->reason}};
  return JsonResponse(200, j);
}

net::Reply ApiServer::Impl::ListJobs(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kSubmitJob);
  if (!who) return ErrorResponse(who.error());
  std::optional<std::string> team = req.Query("team");
  if (who->role == Role::kTeam) team = who->team;  // a team sees its own jobs only
  const std::optional<std::string> phase = req.Query("phase");
  ordered_json jobs = ordered_json::array();
  for (const JobView& v : cp->List(team)) {
    if (phase && JobPhaseName(v.phase) != *phase) continue;
    jobs.push_back(ToJson(v));
  }
  return JsonResponse(200, ordered_json{{"jobs", std::move(jobs)}});
}

net::Reply ApiServer::Impl::CancelJob(net::Request& req) {
  Result<JobView> v = VisibleJob(req);
  if (!v) return ErrorResponse(v.error());
  if (Result<void> r = cp->Cancel(v->id); !r) return ErrorResponse(r.error());
  Kick();
  return JsonResponse(200, ordered_json{{"id", v->id}, {"phase", "cancelled"}});
}

net::Reply ApiServer::Impl::CreateToken(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kAdminister);
  if (!who) return ErrorResponse(who.error());
  const json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("role") || !j["role"].is_string() ||
      !j.contains("name") || !j["name"].is_string()) {
    return ErrorResponse(Error{ErrorCode::kInvalidArgument,
                               "expected {\"role\": \"team\"|\"node\"|\"admin\", \"name\": …, \"team\": …}"});
  }
  Principal p;
  const std::string role = j["role"].get<std::string>();
  if (role == "team") {
    p.role = Role::kTeam;
  } else if (role == "node") {
    p.role = Role::kNode;
  } else if (role == "admin") {
    p.role = Role::kAdmin;
  } else {
    return ErrorResponse(Error{ErrorCode::kInvalidArgument,
                               fmt::format("role '{}' is not team, node or admin", role.substr(0, 32))});
  }
  p.name = j["name"].get<std::string>();
  if (j.contains("team") && j["team"].is_string()) p.team = j["team"].get<std::string>();
  Result<std::string> token = tokens->Create(p);
  if (!token) return ErrorResponse(token.error());
  return JsonResponse(201, ordered_json{{"token", *token}, {"role", role}, {"name", p.name}});
}

net::Reply ApiServer::Impl::ListNodes(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kReadCluster);
  if (!who) return ErrorResponse(who.error());
  ordered_json nodes = ordered_json::array();
  for (const NodeSpec& n : cp->Nodes()) {
    Result<api::DesiredNodeState> d = cp->Desired(n.name);
    ordered_json j{{"name", n.name}, {"gpu_model", n.gpu_model}, {"gpus", n.gpus}};
    if (d) j["desired"] = api::ToJson(*d);
    nodes.push_back(std::move(j));
  }
  return JsonResponse(200, ordered_json{{"nodes", std::move(nodes)}});
}

net::Reply ApiServer::Impl::Register(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kAgent);
  if (!who) return ErrorResponse(who.error());
  const json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("node") || !j["node"].is_string() ||
      !j.contains("gpu_model") || !j["gpu_model"].is_string() || !j.contains("gpus") ||
      !j["gpus"].is_number_integer()) {
    return ErrorResponse(
        Error{ErrorCode::kInvalidArgument, "expected {\"node\": NAME, \"gpu_model\": MODEL, \"gpus\": N}"});
  }
  const std::int64_t gpus = j["gpus"].get<std::int64_t>();
  NodeSpec n{j["node"].get<std::string>(), j["gpu_model"].get<std::string>(),
             static_cast<int>(std::clamp<std::int64_t>(gpus, -1, 1000))};
  if (Result<void> r = cp->RegisterNode(n); !r) return ErrorResponse(r.error());
  Kick();
  return JsonResponse(200, ordered_json{{"node", n.name}, {"registered", true}});
}

// Long poll: answers at once when the node's generation is past `after`, else parks until it
// changes or the poll times out (then it answers with the current state, unchanged).
net::Reply ApiServer::Impl::Desired(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kAgent);
  if (!who) return ErrorResponse(who.error());
  const std::string node = req.Query("node").value_or("");
  std::uint64_t after = 0;
  if (const std::optional<std::string> a = req.Query("after")) {
    if (std::from_chars(a->data(), a->data() + a->size(), after).ec != std::errc()) {
      return ErrorResponse(Error{ErrorCode::kInvalidArgument, "after: not a generation number"});
    }
  }
  cp->Seen(node);
  Result<api::DesiredNodeState> d = cp->Desired(node);
  if (!d) return ErrorResponse(d.error());
  if (d->generation > after) return net::Response::Json(200, api::ToJson(*d).dump());
  std::chrono::milliseconds timeout = options.long_poll_timeout;
  if (const std::optional<std::string> t = req.Query("timeout_ms")) {  // the agent's own, if shorter
    std::int64_t ms = 0;
    if (std::from_chars(t->data(), t->data() + t->size(), ms).ec != std::errc() || ms < 0) {
      return ErrorResponse(Error{ErrorCode::kInvalidArgument, "timeout_ms: not a number of milliseconds"});
    }
    timeout = std::min(timeout, std::chrono::milliseconds(ms));
  }
  timeout = std::min(timeout, options.node_grace / 2);  // a parked agent must be heard from within the grace
  auto writer = net::ResponseWriter::Create(timeout, net::Response::Json(200, api::ToJson(*d).dump()));
  {
    std::lock_guard lock(mu);
    std::vector<ParkedPoll>& polls = waiting[node];
    std::erase_if(polls, [](const ParkedPoll& p) { return p.writer->Done(); });  // timed out
    polls.push_back({writer, after});
  }
  // A change between the read above and parking had no poll to wake: look once more. (The
  // control plane's lock is taken after ours in its callback, so it is not read under `mu`.)
  if (Result<api::DesiredNodeState> now = cp->Desired(node); now && now->generation > after) {
    writer->Complete(net::Response::Json(200, api::ToJson(*now).dump()));
  }
  return net::Reply::Deferred(writer);
}

net::Reply ApiServer::Impl::Report(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kAgent);
  if (!who) return ErrorResponse(who.error());
  Result<api::ActualNodeState> actual = api::ParseActualNodeState(req.body);
  if (!actual) return ErrorResponse(actual.error());
  if (Result<void> r = cp->Report(*actual); !r) return ErrorResponse(r.error());
  Kick();
  return JsonResponse(200, ordered_json{{"node", actual->node}, {"accepted", true}});
}

net::Reply ApiServer::Impl::Metrics(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kReadCluster);
  if (!who) return ErrorResponse(who.error());
  std::map<std::string, int> by_phase;
  std::map<std::string, std::int64_t> jobs_by_team;
  for (const JobView& v : cp->List()) {
    ++by_phase[std::string(JobPhaseName(v.phase))];
    if (v.phase == JobPhase::kRunning) ++jobs_by_team[v.team];
  }
  std::string out = "# HELP gpuslice_jobs Jobs by phase.\n# TYPE gpuslice_jobs gauge\n";
  for (const char* p : {"pending", "running", "succeeded", "failed", "cancelled"}) {
    out += fmt::format("gpuslice_jobs{{phase=\"{}\"}} {}\n", p, by_phase[p]);
  }
  out +=
      "# HELP gpuslice_team_running_jobs Running jobs per team.\n# TYPE gpuslice_team_running_jobs gauge\n";
  for (const auto& [team, n] : jobs_by_team)
    out += fmt::format("gpuslice_team_running_jobs{{team=\"{}\"}} {}\n", team, n);
  net::Response r = net::Response::Text(200, std::move(out));
  r.headers["Content-Type"] = "text/plain; version=0.0.4";
  return r;
}

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApiServer::~ApiServer() {
  Stop();
}

Result<std::unique_ptr<ApiServer>> ApiServer::Start(ApiOptions options) {
  auto impl = std::make_unique<Impl>();
  // Cohorts named by teams exist implicitly.
  std::set<std::string> cohorts, names;
  for (const sched::QuotaNodeSpec& t : options.teams) {
    names.insert(t.name);
    if (!t.parent.empty()) cohorts.insert(t.parent);
  }
  for (const std::string& c : cohorts) {
    if (!names.contains(c)) options.teams.push_back({c, /*team=*/false, "", 1, {}});
  }
  impl->options = std::move(options);
  Impl& s = *impl;
  Result<std::unique_ptr<store::SqliteStore>> store =
      store::SqliteStore::Open({.data_dir = s.options.data_dir});
  if (!store) return Fail(store.error().WithContext(fmt::format("store in {}", s.options.data_dir)));
  s.store = std::move(*store);
  Result<std::unique_ptr<ControlPlane>> cp =
      ControlPlane::Open(*s.store, s.clock, ControlOptions{s.options.teams, s.options.scheduler});
  if (!cp) return Fail(cp.error());
  s.cp = std::move(*cp);
  s.tokens = std::make_unique<TokenBook>(*s.store);
  if (Result<bool> admin = s.tokens->EnsureAdmin(s.options.data_dir + "/admin.token"); !admin) {
    return Fail(admin.error());
  }
  s.cp->OnDesiredChange([&s](const std::string& node, std::uint64_t) {
    std::lock_guard lock(s.mu);  // the control plane's lock is held: only enqueue
    s.dirty.insert(node);
    s.cv.notify_all();
  });
  net::Router router;
  if (Result<void> r = s.AddRoutes(router); !r) return Fail(r.error());
  net::ServerOptions http;
  http.listen = s.options.listen;
  http.threads = s.options.http_threads;
  http.tls_cert_file = s.options.tls_cert_file;
  http.tls_key_file = s.options.tls_key_file;
  Result<std::unique_ptr<net::HttpServer>> server = net::HttpServer::Start(http, std::move(router));
  if (!server) return Fail(server.error());
  s.http = std::move(*server);
  s.scheduler_thread = std::thread([&s] { s.SchedulerLoop(); });
  s.notifier_thread = std::thread([&s] { s.NotifierLoop(); });
  s.Kick();
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

int ApiServer::port() const {
  return impl_->http->port();
}
std::string ApiServer::url() const {
  return fmt::format("{}://127.0.0.1:{}", impl_->http->tls() ? "https" : "http", port());
}
std::string ApiServer::admin_token_file() const {
  return impl_->options.data_dir + "/admin.token";
}

void ApiServer::Stop() {
  if (!impl_ || !impl_->http) return;
  Impl& s = *impl_;
  s.http->Stop();  // parked polls get their answer; no handler runs after this
  {
    std::lock_guard lock(s.mu);
    s.stopping = true;
    s.cv.notify_all();
  }
  if (s.scheduler_thread.joinable()) s.scheduler_thread.join();
  if (s.notifier_thread.joinable()) s.notifier_thread.join();
  s.cp->OnDesiredChange(nullptr);
  s.store->Close();
  s.http.reset();
}

}  // namespace gpuslice::server
