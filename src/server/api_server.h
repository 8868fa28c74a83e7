// ApiServer: `gpuslice server` — the REST API (docs/api.md) over the ControlPlane, with bearer
// tokens, a scheduler loop and agents' long polls, on a durable SqliteStore in the data dir.
//
// Threads: the HTTP server's workers run the handlers (which never block: a long poll parks a
// ResponseWriter); one scheduler thread runs a pass whenever something changed (submit, cancel,
// report, registration) and at least every `schedule_interval`; one notifier thread answers
// parked long polls when a node's desired state changes and parked `logs --follow` reads when a
// job's output grows or the job ends. Event streams (/v1/events) are fed by the control plane.
//
// Thread-safety: Start/Stop from one thread; everything else is internal.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "sched/quota.h"
#include "sched/scheduler.h"
#include "server/control_plane.h"

namespace gpuslice::server {

struct ApiOptions {
  std::string data_dir;                // the database, the admin token
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks one (see port())
  std::string tls_cert_file, tls_key_file;
  std::vector<sched::QuotaNodeSpec> teams;
  sched::SchedulerOptions scheduler;
  std::chrono::milliseconds schedule_interval{1000};
  std::chrono::milliseconds long_poll_timeout{25'000};
  // A node whose agent has neither polled nor reported for this long is lost: its jobs are
  // requeued and it must register again (and is fenced: it first gets an empty desired state).
  std::chrono::milliseconds node_grace{30'000};
  LostNodeJobs lost_node_jobs = LostNodeJobs::kRequeue;  // requeue, or fail (work that must not run twice)
  // Handlers that change state wait for the store's durable commit; with more threads, more
  // submits share one group commit (14k submits/s with 16 threads vs 4k with 2, api_benchmark).
  int http_threads = 16;
};

// Parses "--team" values: "NAME=MODEL:MGPU[,MODEL:MGPU…]" (nominal quota per GPU class, catalog
// model names) with an optional "@COHORT" after NAME ("nlp@research=A100-80GB:4000").
Result<sched::QuotaNodeSpec> ParseTeamFlag(std::string_view text);

class ApiServer {
 public:
  // Opens the store, recovers the control plane, creates the admin token on the first start
  // (DATA_DIR/admin.token, mode 0600), and listens. Errors name what failed.
  static Result<std::unique_ptr<ApiServer>> Start(ApiOptions options);
  ~ApiServer();

  int port() const;
  std::string url() const;               // "http://127.0.0.1:PORT"
  std::string admin_token_file() const;  // DATA_DIR/admin.token
  // Stops accepting, answers parked polls, joins the threads and closes the store. Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpuslice::server
