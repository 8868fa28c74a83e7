// The agent's side of the server connection (DESIGN.md §5): register the node, long-poll its
// desired state on a background thread, and post actual-state reports.
//
// The poller asks GET /v1/agent/desired?node=N&after=G&timeout_ms=T: the server answers at once
// when its generation is past G, else when it changes or after T. Each new state is kept as the
// latest and signalled on wake_fd(), so the agent loop can wait on it beside its workloads. A
// failed poll is retried after a second (the agent keeps reconciling to the last state it has).
// When the server no longer knows the node (it was declared lost), the link registers again; the
// server then sends an empty desired state first, so the agent stops its stale workloads.
//
// Thread-safety: Latest() and Report() may be called from the agent loop while the poller runs.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "api/node_state.h"
#include "common/error.h"

namespace gpuslice::net {
class HttpClient;
}

namespace gpuslice::cli {

class ServerLink {
 public:
  // Registers `node` (gpus x gpu_model) and starts polling. Errors: the server cannot be reached,
  // the token is refused, the registration is refused (all with the server's message).
  static Result<std::unique_ptr<ServerLink>> Start(const std::string& url, const std::string& token,
                                                   const std::string& node, const std::string& gpu_model,
                                                   int gpus);
  ~ServerLink();

  std::optional<api::DesiredNodeState> Latest();
  int wake_fd() const { return wake_[0]; }
  void DrainWake();
  Result<void> Report(const api::ActualNodeState& actual);

  // Ships a chunk of the output of job `job`'s current run that starts at offset `offset` of the
  // run (POST /v1/agent/logs; server/log_book.h); an empty chunk asks how much the server has.
  // Returns the server's size of the run after it: offset + data.size() normally, less when the
  // chunk left a gap (the server lost output: go back), more when the server had more than this
  // agent knew (after a restart).
  // Errors: kNotFound (no such job), kFailedPrecondition (the job runs elsewhere), kUnavailable.
  Result<std::uint64_t> ShipLog(const std::string& job, std::uint64_t offset, std::string_view data);

 private:
  ServerLink() = default;
  void Poll();

  Result<void> Register();

  std::string url_, token_, node_, gpu_model_;
  int gpus_ = 0;
  std::unique_ptr<net::HttpClient> poll_client_, report_client_;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::thread poller_;
  std::mutex mu_;
  std::optional<api::DesiredNodeState> latest_;  // guarded by mu_
  std::mutex report_mu_;                         // one request at a time on report_client_
};

}  // namespace gpuslice::cli
