#include "cli/agent_server_link.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "net/http_client.h"

namespace gpuslice::cli {
namespace {

constexpr int kPollTimeoutMs = 5000;

Error FromResponse(const net::Response& r) {
  std::string message = r.body;
  const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.contains("error") && j["error"].is_object())
    message = j["error"].value("message", r.body);
  const ErrorCode code = r.status == 403   ? ErrorCode::kPermissionDenied
                         : r.status == 404 ? ErrorCode::kNotFound
                         : r.status < 500  ? ErrorCode::kInvalidArgument
                                           : ErrorCode::kUnavailable;
  return Error{code, fmt::format("server answered {}: {}", r.status, message)};
}

}  // namespace

Result<std::unique_ptr<ServerLink>> ServerLink::Start(const std::string& url, const std::string& token,
                                                      const std::string& node, const std::string& gpu_model,
                                                      int gpus) {
  std::unique_ptr<ServerLink> link(new ServerLink());
  link->url_ = url;
  link->token_ = token;
  link->node_ = node;
  net::ClientOptions poll_options;
  poll_options.request_timeout = std::chrono::milliseconds(kPollTimeoutMs + 10'000);
  Result<std::unique_ptr<net::HttpClient>> a = net::HttpClient::Create(url, poll_options);
  if (!a) return Fail(a.error());
  Result<std::unique_ptr<net::HttpClient>> b = net::HttpClient::Create(url);
  if (!b) return Fail(b.error());
  link->poll_client_ = std::move(*a);
  link->report_client_ = std::move(*b);
  link->gpu_model_ = gpu_model;
  link->gpus_ = gpus;
  if (Result<void> r = link->Register(); !r) return Fail(r.error());
  if (::pipe2(link->wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    return Fail(ErrorCode::kUnavailable, "pipe: {}", std::strerror(errno));
  }
  link->poller_ = std::thread([l = link.get()] { l->Poll(); });
  return link;
}

Result<void> ServerLink::Register() {
  net::ClientRequest reg;
  reg.method = "POST";
  reg.target = "/v1/agent/register";
  reg.headers["Authorization"] = "Bearer " + token_;
  reg.headers["Content-Type"] = "application/json";
  reg.body = nlohmann::json{{"node", node_}, {"gpu_model", gpu_model_}, {"gpus", gpus_}}.dump();
  Result<net::Response> r = report_client_->Do(reg);
  if (!r) return Fail(r.error().WithContext(fmt::format("registering with {}", url_)));
  if (r->status != 200) return Fail(FromResponse(*r).WithContext("registering"));
  return {};
}

ServerLink::~ServerLink() {
  stop_ = true;
  if (poll_client_) poll_client_->Cancel();
  if (poller_.joinable()) poller_.join();
  for (int fd : wake_) {
    if (fd >= 0) ::close(fd);
  }
}

void ServerLink::Poll() {
  std::uint64_t after = 0;
  while (!stop_) {
    net::ClientRequest req;
    req.target = fmt::format("/v1/agent/desired?node={}&after={}&timeout_ms={}", net::PercentEncode(node_),
                             after, kPollTimeoutMs);
    req.headers["Authorization"] = "Bearer " + token_;
    Result<net::Response> r = poll_client_->Do(req);
    Result<api::DesiredNodeState> d = Fail(ErrorCode::kUnavailable, "no answer");
    if (r && r->status == 200) d = api::ParseDesiredNodeState(r->body);
    if (r && r->status == 404) {
      std::lock_guard lock(report_mu_);  // report_client_ is shared with Report()
      (void)Register();                  // declared lost: join again (and be fenced)
    }
    if (!d) {
      for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (d->generation <= after) continue;
    after = d->generation;
    {
      std::lock_guard lock(mu_);
      latest_ = std::move(*d);
    }
    const char one = 1;
    (void)!::write(wake_[1], &one, 1);
  }
}

std::optional<api::DesiredNodeState> ServerLink::Latest() {
  std::lock_guard lock(mu_);
  return latest_;
}

void ServerLink::DrainWake() {
  char buf[64];
  while (::read(wake_[0], buf, sizeof buf) > 0) {
  }
}

Result<void> ServerLink::Report(const api::ActualNodeState& actual) {
  net::ClientRequest req;
  req.method = "POST";
  req.target = "/v1/agent/report";
  req.headers["Authorization"] = "Bearer " + token_;
  req.headers["Content-Type"] = "application/json";
  req.body = api::ToJson(actual).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  std::lock_guard lock(report_mu_);
  Result<net::Response> r = report_client_->Do(req);
  if (!r) return Fail(r.error());
  if (r->status != 200) return Fail(FromResponse(*r));
  return {};
}

Result<std::uint64_t> ServerLink::ShipLog(const std::string& job, std::uint64_t offset,
                                          std::string_view data) {
  net::ClientRequest req;
  req.method = "POST";
  req.target = fmt::format("/v1/agent/logs?node={}&job={}&offset={}", net::PercentEncode(node_),
                           net::PercentEncode(job), offset);
  req.headers["Authorization"] = "Bearer " + token_;
  req.headers["Content-Type"] = "application/octet-stream";
  req.body = std::string(data);
  std::lock_guard lock(report_mu_);
  Result<net::Response> r = report_client_->Do(req);
  if (!r) return Fail(r.error());
  if (r->status != 200 && r->status != 409) return Fail(FromResponse(*r));
  const nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("size") || !j["size"].is_number_unsigned()) {
    // A 409 without a size: the job does not run here (any more). Nothing to retry.
    if (r->status == 409) return Fail(ErrorCode::kFailedPrecondition, "{}", FromResponse(*r).message);
    return Fail(ErrorCode::kUnavailable, "server answered {} without a log size", r->status);
  }
  return j["size"].get<std::uint64_t>();
}

}  // namespace gpuslice::cli
