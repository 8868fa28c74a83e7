#include "server/api_server.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "api/admin_api.h"
#include "api/job_api.h"
#include "api/node_state.h"
#include "api/strict_json.h"
#include "common/clock.h"
#include "mig/catalog.h"
#include "net/http_server.h"
#include "net/router.h"
#include "server/auth.h"
#include "server/control_plane.h"
#include "server/log_book.h"
#include "server/prometheus.h"
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

// One answer of GET /v1/jobs/{id}/logs can carry this much output; a client asks again from
// the next offset.
constexpr std::size_t kLogReadMax = 1 << 20;
// A cancelled job's output may still arrive this long after the cancel (the workload's stop
// grace period, 10 s by default, and a shipping round).
constexpr std::chrono::milliseconds kCancelledOutputGrace{12'000};

// Buckets of the job wait-time histogram, in seconds (a second to a day).
const std::vector<double> kWaitBuckets{1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600};

// An unsigned query parameter; `fallback` when absent.
Result<std::uint64_t> QueryNumber(const net::Request& req, std::string_view name, std::uint64_t fallback) {
  const std::optional<std::string> v = req.Query(name);
  if (!v) return fallback;
  std::uint64_t n = 0;
  const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size()) {
    return Fail(ErrorCode::kInvalidArgument, "{}: '{}' is not a non-negative number", name, v->substr(0, 32));
  }
  return n;
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

  // Job output (logs/ in the data dir), and `logs --follow` requests parked until a job's log
  // grows past their offset or the job ends (guarded by mu, like the polls).
  std::unique_ptr<LogBook> logs;
  struct ParkedLogRead {
    std::shared_ptr<net::ResponseWriter> writer;
    std::uint64_t offset = 0;
  };
  std::map<std::uint64_t, std::vector<ParkedLogRead>> log_waiting;
  std::set<std::uint64_t> log_dirty;
  std::uint64_t job_end_subscription = 0;

  std::int64_t NowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.WallNow().time_since_epoch()).count();
  }

  void LogChanged(std::uint64_t job) {
    std::lock_guard lock(mu);
    log_dirty.insert(job);
    cv.notify_all();
  }

  // The logs answer from `offset`: the bytes, and headers saying where the next read starts and
  // whether the log is complete (the job has ended and everything shipped has been read).
  // `nothing_yet`: no bytes and not complete, so a follower waits for more.
  struct LogsAnswer {
    net::Response response;
    bool nothing_yet = false;
  };
  Result<LogsAnswer> LogsResponse(std::uint64_t job, std::uint64_t offset) const {
    Result<JobView> v = cp->Get(job);
    if (!v) return Fail(v.error());
    Result<LogBook::Chunk> c = logs->Read(job, offset, kLogReadMax);
    if (!c) return Fail(c.error());
    // Complete: the job ended and its agent has shipped everything. An agent ships before it
    // reports an end, so an exit is complete at once; a cancelled job's workload is stopped
    // after the cancel and may write during its grace period (kCancelledOutputGrace).
    const bool ended =
        v->phase == JobPhase::kSucceeded || v->phase == JobPhase::kFailed ||
        (v->phase == JobPhase::kCancelled && NowMs() - v->ended_ms > kCancelledOutputGrace.count());
    const bool complete = ended && c->next >= c->size;
    const bool nothing_yet = c->data.empty() && !complete;
    net::Response r = net::Response::Text(200, std::move(c->data));
    r.headers["Content-Type"] = "application/octet-stream";
    r.headers["Gpuslice-Log-Offset"] = std::to_string(c->next);
    r.headers["Gpuslice-Log-Size"] = std::to_string(c->size);
    r.headers["Gpuslice-Job-Phase"] = std::string(JobPhaseName(v->phase));
    r.headers["Gpuslice-Log-Complete"] = complete ? "true" : "false";
    return LogsAnswer{std::move(r), nothing_yet};
  }

  void Kick() {
    std::lock_guard lock(mu);
    kicked = true;
    cv.notify_all();
  }

  Histogram pass_seconds{{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}};

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
          std::fprintf(stderr, "gpuslice server: node %s lost, its jobs %s\n", n.c_str(),
                       options.lost_node_jobs == LostNodeJobs::kFail ? "failed" : "requeued");
      }
      const auto started = std::chrono::steady_clock::now();
      if (Result<int> r = cp->Schedule(); !r) {
        std::fprintf(stderr, "gpuslice server: %s\n", r.error().message.c_str());
      }
      pass_seconds.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      lock.lock();
    }
  }

  void NotifierLoop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      cv.wait(lock, [&] { return !dirty.empty() || !log_dirty.empty() || stopping; });
      std::map<std::uint64_t, std::vector<ParkedLogRead>> log_ready;
      for (const std::uint64_t job : log_dirty) {
        if (auto it = log_waiting.find(job); it != log_waiting.end()) {
          log_ready[job] = std::move(it->second);
          log_waiting.erase(it);
        }
      }
      log_dirty.clear();
      std::map<std::string, std::vector<ParkedPoll>> ready;
      for (const std::string& n : dirty) {
        if (auto it = waiting.find(n); it != waiting.end()) {
          ready[n] = std::move(it->second);
          waiting.erase(it);
        }
      }
      dirty.clear();
      lock.unlock();
      std::map<std::uint64_t, std::vector<ParkedLogRead>> log_behind;
      for (auto& [job, reads] : log_ready) {
        for (ParkedLogRead& p : reads) {
          if (p.writer->Done()) continue;
          Result<LogsAnswer> r = LogsResponse(job, p.offset);
          if (!r) {
            p.writer->Complete(ErrorResponse(r.error()));
          } else if (r->nothing_yet) {
            log_behind[job].push_back(std::move(p));
          } else {
            p.writer->Complete(std::move(r->response));
          }
        }
      }
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
      for (auto& [job, reads] : log_behind) {
        std::vector<ParkedLogRead>& w = log_waiting[job];
        w.insert(w.end(), std::make_move_iterator(reads.begin()), std::make_move_iterator(reads.end()));
      }
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
  net::Reply ListTokens(net::Request& req);
  net::Reply RevokeToken(net::Request& req);
  net::Reply ListNodes(net::Request& req);
  net::Reply GetNode(net::Request& req);
  net::Reply NodeMode(net::Request& req, NodeAction action);
  net::Reply GpuMode(net::Request& req);
  net::Reply Layout(net::Request& req, bool assert_only);
  net::Reply ExportLayouts(net::Request& req);
  net::Reply ListTeams(net::Request& req);
  net::Reply SetTeam(net::Request& req);
  net::Reply JobLogs(net::Request& req);
  net::Reply ShipLogs(net::Request& req);
  net::Reply Events(net::Request& req);
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
      {"GET", "/v1/tokens", [this](Request& q) { return ListTokens(q); }},
      {"DELETE", "/v1/tokens/{id}", [this](Request& q) { return RevokeToken(q); }},
      {"GET", "/v1/jobs/{id}/logs", [this](Request& q) { return JobLogs(q); }},
      {"GET", "/v1/nodes", [this](Request& q) { return ListNodes(q); }},
      {"GET", "/v1/nodes/{name}", [this](Request& q) { return GetNode(q); }},
      {"POST", "/v1/nodes/{name}/cordon", [this](Request& q) { return NodeMode(q, NodeAction::kCordon); }},
      {"POST", "/v1/nodes/{name}/drain", [this](Request& q) { return NodeMode(q, NodeAction::kDrain); }},
      {"POST", "/v1/nodes/{name}/uncordon",
       [this](Request& q) { return NodeMode(q, NodeAction::kUncordon); }},
      {"PUT", "/v1/nodes/{name}/gpus/{gpu}/mode", [this](Request& q) { return GpuMode(q); }},
      {"POST", "/v1/nodes/{name}/layout", [this](Request& q) { return Layout(q, false); }},
      {"POST", "/v1/nodes/{name}/layout/assert", [this](Request& q) { return Layout(q, true); }},
      {"GET", "/v1/layouts/export", [this](Request& q) { return ExportLayouts(q); }},
      {"GET", "/v1/teams", [this](Request& q) { return ListTeams(q); }},
      {"PUT", "/v1/teams/{name}", [this](Request& q) { return SetTeam(q); }},
      {"GET", "/v1/events", [this](Request& q) { return Events(q); }},
      {"POST", "/v1/agent/logs", [this](Request& q) { return ShipLogs(q); }},
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
  Result<api::TokenRequest> t = api::ParseTokenRequest(req.body);
  if (!t) return ErrorResponse(t.error());
  Principal p;
  p.role = RoleFromName(t->role).value_or(Role::kTeam);  // ParseTokenRequest allowed only the three
  p.name = t->name;
  p.team = t->team;
  if (p.role == Role::kTeam) {
    const std::vector<TeamView> teams = cp->Teams();
    if (std::none_of(teams.begin(), teams.end(),
                     [&](const TeamView& v) { return v.team && v.name == p.team; })) {
      return ErrorResponse(Error{ErrorCode::kNotFound, fmt::format("no team '{}'", p.team)});
    }
  }
  Result<std::string> token = tokens->Create(p);
  if (!token) return ErrorResponse(token.error());
  return JsonResponse(201, ordered_json{{"token", *token}, {"role", t->role}, {"name", p.name}});
}

// A token's id: the first 12 hex digits of its hash (the token itself is never kept).
constexpr std::size_t kTokenIdDigits = 12;

net::Reply ApiServer::Impl::ListTokens(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kAdminister);
  if (!who) return ErrorResponse(who.error());
  Result<std::vector<TokenBook::Entry>> all = tokens->List();
  if (!all) return ErrorResponse(all.error());
  ordered_json out = ordered_json::array();
  for (const TokenBook::Entry& e : *all) {
    ordered_json j{
        {"id", e.hash.substr(0, kTokenIdDigits)}, {"role", RoleName(e.who.role)}, {"name", e.who.name}};
    if (e.who.role == Role::kTeam) j["team"] = e.who.team;
    out.push_back(std::move(j));
  }
  return JsonResponse(200, ordered_json{{"tokens", std::move(out)}});
}

// DELETE /v1/tokens/{id}: the token stops working at once. The last admin token stays.
net::Reply ApiServer::Impl::RevokeToken(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kAdminister);
  if (!who) return ErrorResponse(who.error());
  const std::string_view id = req.Param("id");
  if (id.size() < 8 || id.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return ErrorResponse(
        Error{ErrorCode::kInvalidArgument,
              fmt::format("'{}' is not a token id (hex digits from gpuslice token ls)", id.substr(0, 64))});
  }
  Result<std::vector<TokenBook::Entry>> all = tokens->List();
  if (!all) return ErrorResponse(all.error());
  const TokenBook::Entry* match = nullptr;
  int admins = 0;
  for (const TokenBook::Entry& e : *all) {
    admins += e.who.role == Role::kAdmin;
    if (e.hash.rfind(id, 0) != 0) continue;
    if (match != nullptr) {
      return ErrorResponse(Error{ErrorCode::kInvalidArgument,
                                 fmt::format("token id '{}' is ambiguous: give more digits", id)});
    }
    match = &e;
  }
  if (match == nullptr) return ErrorResponse(Error{ErrorCode::kNotFound, fmt::format("no token '{}'", id)});
  if (match->who.role == Role::kAdmin && admins == 1) {
    return ErrorResponse(
        Error{ErrorCode::kFailedPrecondition, "that is the last admin token: create another first"});
  }
  if (Result<void> r = tokens->Revoke(match->hash); !r) return ErrorResponse(r.error());
  return JsonResponse(200, ordered_json{{"id", match->hash.substr(0, kTokenIdDigits)}, {"revoked", true}});
}

net::Reply ApiServer::Impl::ListNodes(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kReadCluster);
  if (!who) return ErrorResponse(who.error());
  ordered_json nodes = ordered_json::array();
  for (const NodeView& n : cp->NodeViews()) nodes.push_back(ToJson(n));
  return JsonResponse(200, ordered_json{{"nodes", std::move(nodes)}});
}

net::Reply ApiServer::Impl::GetNode(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kReadCluster);
  if (!who) return ErrorResponse(who.error());
  Result<NodeView> n = cp->NodeViewOf(req.Param("name"));
  if (!n) return ErrorResponse(n.error());
  ordered_json j = ToJson(*n);
  // The desired state names every team's commands and environment: for admins only.
  if (who->role == Role::kAdmin) {
    if (Result<api::DesiredNodeState> d = cp->Desired(n->spec.name)) j["desired"] = api::ToJson(*d);
  }
  return JsonResponse(200, j);
}

// POST /v1/nodes/{name}/cordon|drain|uncordon[?gpu=N]
net::Reply ApiServer::Impl::NodeMode(net::Request& req, NodeAction action) {
  Result<Principal> who = Who(req, Permission::kAdminister);
  if (!who) return ErrorResponse(who.error());
  std::optional<int> gpu;
  if (req.Query("gpu")) {
    Result<std::uint64_t> g = QueryNumber(req, "gpu", 0);
    if (!g) return ErrorResponse(g.error());
    gpu = static_cast<int>(std::min<std::uint64_t>(*g, 1'000'000));
  }
  Result<NodeView> n = cp->SetNodeMode(req.Param("name"), gpu, action);
  if (!n) return ErrorResponse(n.error());
  Kick();
  return JsonResponse(200, ToJson(*n));
}

// PUT /v1/nodes/{name}/gpus/{gpu}/mode with {"mode": "dynamic" | "whole"}.
net::Reply ApiServer::Impl::GpuMode(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kAdminister);
  if (!who) return ErrorResponse(who.error());
  const std::string_view gpu_text = req.Param("gpu");
  int gpu = -1;
  if (const auto [p, ec] = std::from_chars(gpu_text.data(), gpu_text.data() + gpu_text.size(), gpu);
      ec != std::errc() || p != gpu_text.data() + gpu_text.size() || gpu < 0) {
    return ErrorResponse(
        Error{ErrorCode::kInvalidArgument, fmt::format("'{}' is not a GPU index", gpu_text.substr(0, 16))});
  }
  Result<json> body = api::ReadStrictJson(req.body, api::kMaxSmallBodyBytes, api::kMaxJsonDepth);
  if (!body) return ErrorResponse(body.error());
  if (!body->is_object() || body->size() != 1 || !body->contains("mode") || !(*body)["mode"].is_string()) {
    return ErrorResponse(Error{ErrorCode::kInvalidArgument, "expected {\"mode\": \"dynamic\" | \"whole\"}"});
  }
  Result<NodeView> n = cp->SetGpuMode(req.Param("name"), gpu, (*body)["mode"].get<std::string>());
  if (!n) return ErrorResponse(n.error());
  Kick();
  return JsonResponse(200, ToJson(*n));
}

// POST /v1/nodes/{name}/layout?config=C[&dry_run=true] and …/layout/assert?config=C, with a
// mig-parted config (YAML) as the body: plan, apply or check config C on the node's GPUs.
net::Reply ApiServer::Impl::Layout(net::Request& req, bool assert_only) {
  const std::string dry = req.Query("dry_run").value_or("false");
  if (dry != "true" && dry != "false") {
    return ErrorResponse(Error{ErrorCode::kInvalidArgument, "dry_run: expected true or false"});
  }
  const bool apply = !assert_only && dry == "false";
  Result<Principal> who = Who(req, apply ? Permission::kAdminister : Permission::kReadCluster);
  if (!who) return ErrorResponse(who.error());
  const std::optional<std::string> config = req.Query("config");
  if (!config || config->empty()) {
    return ErrorResponse(Error{ErrorCode::kInvalidArgument, "config: name the mig-parted config to use"});
  }
  const std::string node(req.Param("name"));
  Result<std::vector<ControlPlane::GpuLayoutPlan>> plan = assert_only
                                                              ? cp->AssertLayout(node, req.body, *config)
                                                          : apply ? cp->ApplyLayout(node, req.body, *config)
                                                                  : cp->PlanLayout(node, req.body, *config);
  if (!plan) return ErrorResponse(plan.error());
  if (apply) Kick();
  ordered_json gpus = ordered_json::array();
  bool all_ok = true;
  for (const ControlPlane::GpuLayoutPlan& g : *plan) {
    ordered_json j{{"index", g.gpu}, {"matched", g.matched}, {"change", g.change}};
    if (g.matched) {
      j["mig_enabled"] = g.mig_enabled;
      j["layout"] = g.layout;
    }
    if (assert_only) {
      j["actual"] = g.actual;
      all_ok = all_ok && g.actual == "ok";
    }
    gpus.push_back(std::move(j));
  }
  ordered_json out{{"node", node}, {"config", *config}};
  if (assert_only) {
    out["matches"] = all_ok;
  } else {
    out["applied"] = apply;
  }
  out["gpus"] = std::move(gpus);
  return JsonResponse(200, out);
}

net::Reply ApiServer::Impl::ExportLayouts(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kReadCluster);
  if (!who) return ErrorResponse(who.error());
  net::Response r = net::Response::Text(200, cp->ExportLayouts());
  r.headers["Content-Type"] = "application/yaml";
  return r;
}

net::Reply ApiServer::Impl::ListTeams(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kReadCluster);
  if (!who) return ErrorResponse(who.error());
  ordered_json teams = ordered_json::array();
  for (const TeamView& t : cp->Teams()) teams.push_back(ToJson(t));
  return JsonResponse(200, ordered_json{{"teams", std::move(teams)}});
}

// PUT /v1/teams/{name}: add or change a team or cohort (api::TeamRequest).
net::Reply ApiServer::Impl::SetTeam(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kAdminister);
  if (!who) return ErrorResponse(who.error());
  Result<api::TeamRequest> r = api::ParseTeamRequest(req.body);
  if (!r) return ErrorResponse(r.error());
  Result<TeamView> t = cp->SetTeam(req.Param("name"), *r);
  if (!t) return ErrorResponse(t.error());
  Kick();
  return JsonResponse(200, ToJson(*t));
}

// GET /v1/jobs/{id}/logs?offset=N[&follow=true&timeout_ms=T]: the job's output from byte N. With
// follow, an answer with nothing new parks until output arrives, the job ends, or T passes.
net::Reply ApiServer::Impl::JobLogs(net::Request& req) {
  Result<JobView> v = VisibleJob(req);
  if (!v) return ErrorResponse(v.error());
  Result<std::uint64_t> offset = QueryNumber(req, "offset", 0);
  if (!offset) return ErrorResponse(offset.error());
  Result<std::uint64_t> timeout_ms = QueryNumber(req, "timeout_ms", 25'000);
  if (!timeout_ms) return ErrorResponse(timeout_ms.error());
  const std::string follow = req.Query("follow").value_or("false");
  if (follow != "true" && follow != "false") {
    return ErrorResponse(Error{ErrorCode::kInvalidArgument, "follow: expected true or false"});
  }
  Result<LogsAnswer> r = LogsResponse(v->id, *offset);
  if (!r) return ErrorResponse(r.error());
  if (follow == "false" || !r->nothing_yet) return std::move(r->response);
  const auto timeout =
      std::min<std::chrono::milliseconds>(std::chrono::milliseconds(*timeout_ms), options.long_poll_timeout);
  auto writer = net::ResponseWriter::Create(timeout, std::move(r->response));
  {
    std::lock_guard lock(mu);
    std::vector<ParkedLogRead>& reads = log_waiting[v->id];
    std::erase_if(reads, [](const ParkedLogRead& p) { return p.writer->Done(); });
    reads.push_back({writer, *offset});
  }
  LogChanged(v->id);  // output or the end may have come between the read and parking
  return net::Reply::Deferred(writer);
}

// POST /v1/agent/logs?node=N&job=J&offset=O with the raw bytes as the body (LogBook's protocol).
net::Reply ApiServer::Impl::ShipLogs(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kAgent);
  if (!who) return ErrorResponse(who.error());
  const std::string node = req.Query("node").value_or("");
  Result<std::uint64_t> job = ParseId(req.Query("job").value_or(""));
  if (!job) return ErrorResponse(job.error());
  Result<std::uint64_t> offset = QueryNumber(req, "offset", 0);
  if (!offset) return ErrorResponse(offset.error());
  Result<JobView> v = cp->Get(*job);
  if (!v) return ErrorResponse(v.error());
  // Only the node the job runs on (or ran on last, once it ended) may add to its output: a
  // lost node's agent that still runs an old copy must not write into the new run.
  if (v->slices.empty()) {
    return ErrorResponse(Error{ErrorCode::kFailedPrecondition,
                               fmt::format("job {} is {} on no node", *job, JobPhaseName(v->phase))});
  }
  if (std::none_of(v->slices.begin(), v->slices.end(), [&](const SliceAt& s) { return s.node == node; })) {
    return ErrorResponse(Error{ErrorCode::kFailedPrecondition, fmt::format("job {} runs on node {}, not '{}'",
                                                                           *job, v->slices[0].node, node)});
  }
  Result<std::uint64_t> size = logs->Append(*job, *offset, req.body);
  if (!size) {
    if (size.error().code != ErrorCode::kFailedPrecondition) return ErrorResponse(size.error());
    // A gap: tell the agent where the log ends, so it can go back.
    return JsonResponse(409, ordered_json{{"error",
                                           {{"code", ErrorCodeName(ErrorCode::kFailedPrecondition)},
                                            {"message", size.error().message}}},
                                          {"size", logs->RunSize(*job)}});
  }
  if (!req.body.empty()) LogChanged(*job);
  return JsonResponse(200, ordered_json{{"job", *job}, {"size", *size}});
}

// GET /v1/events[?after=SEQ]: Server-Sent Events, one per cluster event (ControlPlane::Event),
// with the seq as the SSE id; a reconnecting client's Last-Event-ID (or after=) replays what it
// missed, as far as the server still keeps it. A team token sees its own team's job events and
// the cluster's node events.
net::Reply ApiServer::Impl::Events(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kReadCluster);
  if (!who) return ErrorResponse(who.error());
  // A reconnecting client's Last-Event-ID wins over the after= of the URL it reconnects to.
  Result<std::uint64_t> after = QueryNumber(req, "after", std::numeric_limits<std::uint64_t>::max());
  if (!after) return ErrorResponse(after.error());
  if (const std::optional<std::string> last = req.Header("Last-Event-ID")) {
    std::uint64_t n = 0;
    if (std::from_chars(last->data(), last->data() + last->size(), n).ec == std::errc()) after = n;
  }
  std::optional<std::string> team = req.Query("team");
  if (who->role == Role::kTeam) team = who->team;
  auto stream = net::SseStream::Create();
  const std::uint64_t sub = cp->Subscribe(*after, [stream, team](const Event& e) {
    if (team && !e.team.empty() && e.team != *team) return !stream->Closed();
    ordered_json j = ToJson(e);
    if (team && e.team.empty()) {  // a cluster event: other teams' job ids are not a team's business
      j.erase("requeued");
      j.erase("failed");
    }
    return stream->Send(e.type, j.dump(-1, ' ', false, json::error_handler_t::replace),
                        std::to_string(e.seq));
  });
  stream->OnClose([this, sub] { cp->Unsubscribe(sub); });
  return net::Reply::Stream(stream);
}

net::Reply ApiServer::Impl::Register(net::Request& req) {
  Result<Principal> who = Who(req, Permission::kAgent);
  if (!who) return ErrorResponse(who.error());
  Result<api::NodeRegistration> reg = api::ParseNodeRegistration(req.body);
  if (!reg) return ErrorResponse(reg.error());
  const NodeSpec n{reg->node, reg->gpu_model, reg->gpus};
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
  MetricsText m;
  const std::vector<JobView> jobs = cp->List(std::nullopt, /*reasons=*/false);
  std::map<std::string, int> by_phase;
  Histogram wait(kWaitBuckets);
  for (const JobView& v : jobs) {
    ++by_phase[std::string(JobPhaseName(v.phase))];
    if (v.started_ms != 0) wait.Observe(static_cast<double>(v.started_ms - v.submitted_ms) / 1000.0);
  }
  m.Family("gpuslice_jobs", "gauge", "Jobs by phase.");
  for (const char* p : {"pending", "running", "succeeded", "failed", "cancelled"}) {
    m.Sample("gpuslice_jobs", {{"phase", p}}, by_phase[p]);
  }
  m.Family("gpuslice_queue_length", "gauge", "Jobs waiting to be placed.");
  m.Sample("gpuslice_queue_length", {}, by_phase["pending"]);

  // Capacity, from the nodes: MIG memory units (whole GPUs count as all their units).
  std::int64_t units = 0, units_busy = 0, units_idle = 0;
  int busy = 0, idle = 0, idle_allocated = 0;
  std::map<std::string, int> gpus_by_mode;
  const std::vector<NodeView> nodes = cp->NodeViews();
  m.Family("gpuslice_node_last_seen_seconds", "gauge", "Seconds since the node's agent was last heard from.");
  const std::int64_t now_ms = NowMs();
  for (const NodeView& n : nodes) {
    m.Sample("gpuslice_node_last_seen_seconds", {{"node", n.spec.name}},
             static_cast<double>(now_ms - n.last_seen_ms) / 1000.0);
    const Result<mig::ResolvedGpu> model = mig::Catalog::BuiltIn().Resolve(n.spec.gpu_model);
    const int gpu_units = model && model->model->memory_units > 0 ? model->model->memory_units : 1;
    for (const GpuView& g : n.gpus) {
      ++gpus_by_mode[g.mode];
      units += gpu_units;
      if (g.whole_job) units_busy += gpu_units;
      for (const InstanceView& i : g.instances) {
        const mig::Profile* p = model ? model->model->FindProfile(i.profile) : nullptr;
        const int size = p != nullptr ? p->size_units : 0;
        if (i.job) {
          ++busy;
          units_busy += size;
          if (i.busy && !*i.busy) ++idle_allocated;
        } else {
          ++idle;
          units_idle += size;
        }
      }
    }
  }
  // Every slice, as its agent last sampled it (absent until an agent reports usage).
  // Per-slice usage: the rows first, then each family as one group (the text format wants every
  // sample of a family right after its TYPE line).
  std::map<std::uint64_t, std::string> team_of;
  for (const JobView& v : jobs) team_of[v.id] = v.team;
  std::vector<std::pair<Labels, const InstanceView*>> slices;
  for (const NodeView& n : nodes) {
    for (const GpuView& g : n.gpus) {
      for (const InstanceView& i : g.instances) {
        slices.push_back({Labels{{"node", n.spec.name},
                                 {"gpu", std::to_string(g.index)},
                                 {"slice", fmt::format("{}@{}", i.profile, i.start)},
                                 {"job", i.job ? std::to_string(*i.job) : ""},
                                 {"team", i.job ? team_of[*i.job] : ""}},
                          &i});
      }
    }
  }
  const auto slice_family = [&](std::string_view name, std::string_view help, auto value_of) {
    m.Family(name, "gauge", help);
    for (const auto& [labels, i] : slices) {
      if (const std::optional<double> v = value_of(*i)) m.Sample(name, labels, *v);
    }
  };
  const auto bytes = [](const std::optional<std::int64_t>& mib) {
    return mib ? std::optional<double>(static_cast<double>(*mib) * 1048576.0) : std::nullopt;
  };
  slice_family("gpuslice_slice_memory_used_bytes", "GPU memory used on a MIG slice.",
               [&](const InstanceView& i) { return bytes(i.memory_used_mib); });
  slice_family("gpuslice_slice_memory_total_bytes", "GPU memory of a MIG slice.",
               [&](const InstanceView& i) { return bytes(i.memory_total_mib); });
  slice_family("gpuslice_slice_activity_ratio",
               "Share of time a slice's SMs were busy (0..1), where the GPU can measure it.",
               [](const InstanceView& i) {
                 return i.activity_percent ? std::optional<double>(*i.activity_percent / 100.0)
                                           : std::nullopt;
               });
  slice_family("gpuslice_slice_processes", "Compute processes on a MIG slice.", [](const InstanceView& i) {
    return i.processes ? std::optional<double>(*i.processes) : std::nullopt;
  });
  m.Family("gpuslice_gpus", "gauge", "GPUs by mode (dynamic, static, whole, cordoned, draining).");
  for (const char* mode : {"dynamic", "static", "whole", "cordoned", "draining"}) {
    m.Sample("gpuslice_gpus", {{"mode", mode}}, gpus_by_mode[mode]);
  }
  m.Family("gpuslice_slices", "gauge", "MIG slices: busy (a job holds it) or idle (warm, kept for reuse).");
  m.Sample("gpuslice_slices", {{"state", "busy"}}, busy);
  m.Sample("gpuslice_slices", {{"state", "idle"}}, idle);
  m.Family("gpuslice_allocation_ratio", "gauge",
           "Share of the cluster's GPU memory units held by running jobs (0..1).");
  m.Sample("gpuslice_allocation_ratio", {},
           units == 0 ? 0.0 : static_cast<double>(units_busy) / static_cast<double>(units));
  m.Family("gpuslice_idle_slice_ratio", "gauge", "Share of the GPU memory units in idle (warm) slices.");
  m.Sample("gpuslice_idle_slice_ratio", {},
           units == 0 ? 0.0 : static_cast<double>(units_idle) / static_cast<double>(units));
  m.Family("gpuslice_idle_allocated_slices", "gauge",
           "Slices a job holds on which the agent sees no process: allocated but idle.");
  m.Sample("gpuslice_idle_allocated_slices", {}, idle_allocated);

  const std::vector<TeamView> teams = cp->Teams();
  m.Family("gpuslice_team_usage_mgpu", "gauge", "Quota a team or cohort uses, in milli-GPU per GPU class.");
  for (const TeamView& t : teams) {
    for (const TeamView::Class& c : t.classes)
      m.Sample("gpuslice_team_usage_mgpu", {{"team", t.name}, {"gpu_class", c.gpu_class}},
               static_cast<double>(c.usage));
  }
  m.Family("gpuslice_team_quota_mgpu", "gauge", "A team's or cohort's quota (its subtree's), in milli-GPU.");
  for (const TeamView& t : teams) {
    for (const TeamView::Class& c : t.classes)
      m.Sample("gpuslice_team_quota_mgpu", {{"team", t.name}, {"gpu_class", c.gpu_class}},
               static_cast<double>(c.quota));
  }
  m.Family("gpuslice_team_jobs", "gauge", "A team's running and pending jobs.");
  for (const TeamView& t : teams) {
    if (!t.team) continue;
    m.Sample("gpuslice_team_jobs", {{"team", t.name}, {"phase", "running"}}, t.running);
    m.Sample("gpuslice_team_jobs", {{"team", t.name}, {"phase", "pending"}}, t.pending);
  }
  m.Family("gpuslice_job_wait_seconds", "histogram",
           "From submit to the (latest) start, of jobs that started.");
  wait.Render(m, "gpuslice_job_wait_seconds");
  m.Family("gpuslice_scheduling_pass_seconds", "histogram",
           "Duration of one scheduling pass (with its commit).");
  pass_seconds.Render(m, "gpuslice_scheduling_pass_seconds");
  net::Response r = net::Response::Text(200, m.text());
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
  Result<std::unique_ptr<ControlPlane>> cp = ControlPlane::Open(
      *s.store, s.clock, ControlOptions{s.options.teams, s.options.scheduler, s.options.lost_node_jobs});
  if (!cp) return Fail(cp.error());
  s.cp = std::move(*cp);
  Result<std::unique_ptr<LogBook>> logs = LogBook::Open(s.options.data_dir + "/logs");
  if (!logs) return Fail(logs.error());
  s.logs = std::move(*logs);
  s.tokens = std::make_unique<TokenBook>(*s.store);
  if (Result<bool> admin = s.tokens->EnsureAdmin(s.options.data_dir + "/admin.token"); !admin) {
    return Fail(admin.error());
  }
  s.cp->OnDesiredChange([&s](const std::string& node, std::uint64_t) {
    std::lock_guard lock(s.mu);  // the control plane's lock is held: only enqueue
    s.dirty.insert(node);
    s.cv.notify_all();
  });
  s.job_end_subscription = s.cp->Subscribe(std::numeric_limits<std::uint64_t>::max(), [&s](const Event& e) {
    if (e.type == "job-started") {  // before any agent can ship the run's output
      if (Result<void> r = s.logs->BeginRun(e.data.value("job", std::uint64_t{0})); !r) {
        std::fprintf(stderr, "gpuslice server: %s\n", r.error().message.c_str());
      }
      return true;
    }
    if (e.type != "job-ended") return true;
    std::lock_guard lock(s.mu);  // the control plane's lock is held: only enqueue
    s.log_dirty.insert(e.data.value("job", std::uint64_t{0}));
    s.cv.notify_all();
    return true;
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
  s.cp->Unsubscribe(s.job_end_subscription);
  s.store->Close();
  s.http.reset();
}

}  // namespace gpuslice::server
