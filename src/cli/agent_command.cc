#include "cli/agent_command.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "agent/log_tail.h"
#include "agent/reconciler.h"
#include "agent/supervisor.h"
#include "api/node_state.h"
#include "cli/agent_server_link.h"
#include "cli/sim_workloads.h"
#include "common/clock.h"
#include "common/read_file.h"
#include "gpu/nvml_backend.h"
#include "gpu/sim_backend.h"

namespace gpuslice::cli {
namespace {

using namespace std::chrono_literals;

constexpr int kExitUnavailable = 1;
constexpr int kExitUsage = 2;
// How often the loop wakes to look at the desired file's mtime, at most.
constexpr std::chrono::milliseconds kWatchPeriodMs{100};
// --server: workload output is shipped this often while the loop waits (and before each report),
// in chunks of at most kShipChunkBytes, at most kShipChunksPerJob per job and round.
constexpr std::chrono::milliseconds kShipPeriod{250};
constexpr std::size_t kShipChunkBytes = 256 * 1024;
constexpr int kShipChunksPerJob = 8;

volatile std::sig_atomic_t g_stop = 0;

extern "C" void OnStopSignal(int) {
  g_stop = 1;
}

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: poll() returns EINTR at once
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

struct FileStamp {
  std::int64_t mtime_ns = -1;
  std::int64_t size = -1;
  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

FileStamp Stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec, static_cast<std::int64_t>(st.st_size)};
}

gpu::GpuResult<std::unique_ptr<gpu::GpuBackend>> OpenBackend(const AgentOptions& o) {
  if (o.backend == "nvml") {
    auto b =
        gpu::NvmlBackend::Open({.library_path = o.nvml_library, .read_only = o.read_only || !o.manage_mig});
    if (!b) return gpu::GpuFail(b.error());
    return std::unique_ptr<gpu::GpuBackend>(std::move(*b));
  }
  if (o.sim_gpus.empty() && o.sim_state.empty()) {
    return gpu::GpuFail(gpu::GpuErrorKind::kInvalidArgument,
                        "--backend sim needs --sim-gpus SPEC or --sim-state FILE");
  }
  auto b = gpu::SimBackend::Open({.gpus = o.sim_gpus, .state_file = o.sim_state, .read_only = o.read_only});
  if (!b) return gpu::GpuFail(b.error());
  return std::unique_ptr<gpu::GpuBackend>(std::move(*b));
}

// The agent loop's state: one backend, one supervisor, one reconciler.
class AgentLoop {
 public:
  AgentLoop(const AgentOptions& o, std::ostream& err) : o_(o), err_(err) {}

  int Run();

 private:
  void Log(agent::LogLevel level, std::string_view message) {
    err_ << "gpuslice agent: " << agent::LogLevelName(level) << ": " << message << '\n' << std::flush;
  }
  // On simulated GPUs: the running workloads as GPU processes (sim_workloads.h); with !always,
  // only when the supervisor's workloads changed since the last sync.
  void SyncSim(bool always = true);
  // Re-reads the desired file when its stamp changed. Errors are logged; the last good state stays.
  Result<void> RefreshDesired();
  bool Pass();  // one reconcile + report; true when converged
  void WriteActual(const api::ActualNodeState& actual);
  void Wait(Clock::MonoTime until);
  void ShipLogs();

  const AgentOptions& o_;
  std::ostream& err_;
  RealClock clock_;
  std::unique_ptr<gpu::GpuBackend> backend_;
  std::unique_ptr<agent::Supervisor> sup_;
  std::unique_ptr<agent::Reconciler> rec_;
  std::optional<api::DesiredNodeState> desired_;
  FileStamp stamp_;
  std::string actual_path_;
  std::string last_written_;
  std::string last_error_;
  std::vector<std::string> last_blocked_;  // of the desired file, logged once until it changes
  std::unique_ptr<ServerLink> link_;       // --server: desired states come from the server
  agent::UniqueFd desired_watch_;          // --desired: inotify on its directory, so a change wakes the loop
  gpu::SimBackend* sim_ = nullptr;         // simulated GPUs: workloads appear on them as processes
  std::string sim_synced_;                 // the workloads (job, pid, state) as last synced to sim_
  Result<void> Connect();

  // --server: each supervised workload's output, shipped to the server as one stream.
  struct Shipping {
    agent::LogTail tail;
    std::uint64_t offset = 0;  // the stream offset of tail's position
    bool synced = false;       // the server told us how much it has
    bool refused = false;      // the server will not take it (the job is gone or elsewhere)
  };
  std::map<std::string, Shipping> shipping_;
  Clock::MonoTime last_ship_{};
};

// Ships what each workload wrote since the last round. The first contact for a job asks the
// server how much it has (after an agent restart it has what the earlier agent shipped), and the
// tail resumes there. Network errors leave the rest for the next round.
void AgentLoop::ShipLogs() {
  if (!link_) return;
  last_ship_ = clock_.MonoNow();
  std::set<std::string> live;
  for (const agent::WorkloadStatus& w : sup_->List()) {
    if (w.log_path.empty()) continue;
    live.insert(w.job_id);
    Shipping& s = shipping_.try_emplace(w.job_id, Shipping{agent::LogTail(w.log_path)}).first->second;
    if (s.refused) continue;
    if (!s.synced) {
      Result<std::uint64_t> size = link_->ShipLog(w.job_id, 0, {});
      if (!size) {
        s.refused = size.error().code != ErrorCode::kUnavailable;
        continue;
      }
      s.tail.Seek(*size);  // (if the log rotated since, the file is shorter: its end)
      s.offset = *size;
      s.synced = true;
    }
    for (int i = 0; i < kShipChunksPerJob; ++i) {
      const std::uint64_t at = s.tail.position();
      Result<std::string> data = s.tail.ReadNew(kShipChunkBytes);
      if (!data) {
        Log(agent::LogLevel::kWarning, fmt::format("job {} output: {}", w.job_id, data.error().message));
        break;
      }
      if (data->empty()) break;
      Result<std::uint64_t> size = link_->ShipLog(w.job_id, s.offset, *data);
      if (!size) {
        s.tail.Seek(at);  // not delivered: again next round
        s.refused = size.error().code != ErrorCode::kUnavailable;
        break;
      }
      if (*size < s.offset + data->size()) {
        // The server has less than we sent up to: go back to where it ends, as far as this file
        // still holds it.
        const std::uint64_t back = s.offset + data->size() - *size;
        const std::uint64_t here = at + data->size();
        s.tail.Seek(here - std::min(here, back));
      }
      s.offset = *size;
    }
  }
  std::erase_if(shipping_, [&](const auto& kv) { return !live.contains(kv.first); });
}

// Registers with the server as this node (its GPUs as the backend reports them).
Result<void> AgentLoop::Connect() {
  auto gpus = backend_->ListGpus();
  if (!gpus) return Fail(gpus.error().error);
  if (gpus->empty()) return Fail(ErrorCode::kFailedPrecondition, "the backend reports no GPUs");
  std::string node = o_.node;
  if (node.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    node = host;
  }
  Result<std::unique_ptr<ServerLink>> link =
      ServerLink::Start(o_.server, o_.token, node, gpus->front().name, static_cast<int>(gpus->size()));
  if (!link) return Fail(link.error());
  link_ = std::move(*link);
  Log(agent::LogLevel::kInfo, fmt::format("registered with {} as node {} ({} x {})", o_.server, node,
                                          gpus->size(), gpus->front().name));
  return {};
}

Result<void> AgentLoop::RefreshDesired() {
  if (link_) {
    std::optional<api::DesiredNodeState> latest = link_->Latest();
    if (latest && (!desired_ || *desired_ != *latest)) {
      Log(agent::LogLevel::kInfo,
          fmt::format("desired state: generation {}, {} instances, {} workloads", latest->generation,
                      latest->instances.size(), latest->workloads.size()));
      desired_ = std::move(*latest);
    }
    return {};
  }
  const FileStamp now = Stamp(o_.desired);
  if (desired_ && now == stamp_) return {};
  stamp_ = now;
  Result<std::string> text = ReadFile(o_.desired, api::kMaxNodeStateBytes);
  if (!text) return Fail(text.error());
  Result<api::DesiredNodeState> parsed = api::ParseDesiredNodeState(*text);
  if (!parsed) return Fail(parsed.error().WithContext(o_.desired));
  if (!o_.node.empty() && parsed->node != o_.node) {
    return Fail(ErrorCode::kInvalidArgument, "{}: the document is for node '{}', this is '{}'", o_.desired,
                parsed->node, o_.node);
  }
  if (!desired_ || *desired_ != *parsed) {
    Log(agent::LogLevel::kInfo,
        fmt::format("desired state: node {} generation {}, {} instances, {} workloads", parsed->node,
                    parsed->generation, parsed->instances.size(), parsed->workloads.size()));
  }
  desired_ = std::move(*parsed);
  return {};
}

void AgentLoop::WriteActual(const api::ActualNodeState& actual) {
  std::string text =
      api::ToJson(actual).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  if (text == last_written_) return;
  if (link_) {
    if (Result<void> r = link_->Report(actual); !r) {
      Log(agent::LogLevel::kWarning, "report not delivered: " + r.error().message);
      return;  // tried again after the next pass
    }
  }
  if (Result<void> r = agent::WriteFileAtomically(actual_path_, text); !r) {
    Log(agent::LogLevel::kError, "actual state not written: " + r.error().message);
    return;
  }
  last_written_ = std::move(text);
}

void AgentLoop::SyncSim(bool always) {
  if (sim_ == nullptr) return;
  const std::vector<agent::WorkloadStatus> workloads = sup_->List();
  std::string key;
  for (const agent::WorkloadStatus& w : workloads) {
    key += fmt::format("{}:{}:{};", w.job_id, w.pid.value_or(0), api::WorkloadStateName(w.state));
  }
  if (!always && key == sim_synced_) return;  // the wait loop: only when a workload changed
  (void)SyncSimWorkloadProcesses(*sim_, workloads);
  sim_synced_ = std::move(key);
}

bool AgentLoop::Pass() {
  if (Result<void> r = sup_->Poll(); !r) Log(agent::LogLevel::kWarning, "supervisor: " + r.error().message);
  SyncSim();
  agent::ReconcileReport report = rec_->Reconcile(*desired_);
  if (report.blocked != last_blocked_) {  // log what holds the node back, once until it changes
    for (const std::string& b : report.blocked) Log(agent::LogLevel::kInfo, "blocked: " + b);
    last_blocked_ = report.blocked;
  }
  if (Result<void> r = sup_->Poll(); !r) Log(agent::LogLevel::kWarning, "supervisor: " + r.error().message);
  // The workloads as the supervisor sees them after its poll; GPUs and instances from the pass.
  api::ActualNodeState actual = std::move(report.actual);
  if (report.started > 0 || report.stopped > 0) {
    SyncSim();
    actual = rec_->Observe(*desired_);
  }
  ShipLogs();  // before the report: a job the server sees end has its output there
  WriteActual(actual);
  return report.converged;
}

void AgentLoop::Wait(Clock::MonoTime until) {
  while (!g_stop) {
    const Clock::MonoTime now = clock_.MonoNow();
    if (now >= until) return;
    auto timeout = std::min<Clock::MonoTime::duration>(until - now, kWatchPeriodMs);
    if (auto d = sup_->NextDeadline(); d) timeout = std::min<Clock::MonoTime::duration>(timeout, *d - now);
    std::vector<pollfd> fds;
    for (int fd : sup_->WaitFds()) fds.push_back({.fd = fd, .events = POLLIN, .revents = 0});
    if (desired_watch_.valid()) fds.push_back({.fd = desired_watch_.get(), .events = POLLIN, .revents = 0});
    if (link_) fds.push_back({.fd = link_->wake_fd(), .events = POLLIN, .revents = 0});
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
    ::poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(ms, 0)));
    if (desired_watch_.valid()) {  // drain; the stamp below decides whether the file changed
      alignas(inotify_event) char buf[4096];
      while (::read(desired_watch_.get(), buf, sizeof buf) > 0) {
      }
    }
    if (Result<void> r = sup_->Poll(); !r) Log(agent::LogLevel::kWarning, "supervisor: " + r.error().message);
    SyncSim(/*always=*/false);
    if (link_ && clock_.MonoNow() - last_ship_ >= kShipPeriod) ShipLogs();
    if (link_ && !fds.empty() && (fds.back().revents & POLLIN) != 0) {
      link_->DrainWake();
      return;  // a new desired state from the server: reconcile now
    }
    if (!link_ && !(Stamp(o_.desired) == stamp_)) return;  // a new desired state: reconcile now
  }
}

int AgentLoop::Run() {
  if (o_.interval_ms < 1) {
    Log(agent::LogLevel::kError, "--interval-ms must be at least 1");
    return kExitUsage;
  }
  if (o_.usage_period_ms < 0 || o_.log_max_mib < 1 || o_.log_max_mib > 1 << 20 || o_.log_keep < 0 ||
      o_.log_keep > 1000) {
    Log(agent::LogLevel::kError,
        "--usage-period-ms must be >= 0, --log-max-mib 1..1048576 and --log-keep 0..1000");
    return kExitUsage;
  }
  auto backend = OpenBackend(o_);
  if (!backend) {
    Log(agent::LogLevel::kError, backend.error().error.message);
    const auto k = backend.error().kind;
    return k == gpu::GpuErrorKind::kInvalidArgument || k == gpu::GpuErrorKind::kState ||
                   k == gpu::GpuErrorKind::kNotFound
               ? kExitUsage
               : kExitUnavailable;
  }
  backend_ = std::move(*backend);
  if (!o_.read_only && backend_->kind() == "sim") sim_ = static_cast<gpu::SimBackend*>(backend_.get());
  auto sup = agent::Supervisor::Open(
      {.state_dir = o_.state_dir,
       .log_dir = o_.state_dir + "/logs",
       .log_rotation = {.max_bytes = std::int64_t{o_.log_max_mib} << 20, .keep = o_.log_keep},
       .cgroup_parent = o_.cgroup_parent,
       .lock_wait = std::chrono::seconds(10)},
      clock_);
  if (!sup) {
    Log(agent::LogLevel::kError, "state dir " + o_.state_dir + ": " + sup.error().message);
    return kExitUnavailable;
  }
  sup_ = std::move(*sup);
  actual_path_ = o_.actual.empty() ? o_.state_dir + "/actual.json" : o_.actual;
  const bool manage_mig = !o_.read_only && !backend_->read_only();
  rec_ = std::make_unique<agent::Reconciler>(
      *backend_, *sup_, clock_,
      agent::ReconcilerOptions{.manage_mig = manage_mig,
                               .read_only = o_.read_only,
                               .usage_period = std::chrono::milliseconds(o_.usage_period_ms),
                               .log = [this](agent::LogLevel l, std::string_view m) { Log(l, m); }});
  for (const agent::WorkloadStatus& s : sup_->List()) {
    if (s.adopted)
      Log(agent::LogLevel::kInfo,
          fmt::format("workload {}: re-adopted (pid {})", s.job_id, s.pid.value_or(0)));
  }
  Log(agent::LogLevel::kInfo,
      fmt::format("backend {}{}, MIG {}, state dir {}", backend_->kind(), o_.read_only ? " (read-only)" : "",
                  manage_mig ? "managed" : "not managed", o_.state_dir));
  if (o_.desired.empty() == o_.server.empty()) {
    Log(agent::LogLevel::kError, "give either --desired FILE or --server URL");
    return kExitUsage;
  }
  if (!o_.server.empty()) {
    if (Result<void> r = Connect(); !r) {
      Log(agent::LogLevel::kError, r.error().message);
      return kExitUnavailable;
    }
  }
  if (!o_.desired.empty()) {
    // Editors and tools replace the file (rename) or rewrite it: watch the directory. Without
    // inotify the loop still looks at the file's stamp every kWatchPeriodMs.
    desired_watch_.Reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    const std::filesystem::path dir = std::filesystem::absolute(o_.desired).parent_path();
    if (desired_watch_.valid() &&
        ::inotify_add_watch(desired_watch_.get(), dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0)
      desired_watch_.Reset();
  }
  InstallSignalHandlers();
  const std::chrono::milliseconds interval(o_.interval_ms);
  while (!g_stop) {
    const Clock::MonoTime next = clock_.MonoNow() + interval;
    if (Result<void> r = RefreshDesired(); !r) {
      if (r.error().message != last_error_)
        Log(agent::LogLevel::kError, "desired state not read: " + r.error().message);
      last_error_ = r.error().message;
      if (o_.once) return kExitUsage;
    } else {
      last_error_.clear();
    }
    if (desired_) {
      const bool converged = Pass();
      if (o_.once) return converged ? 0 : kExitUnavailable;
    }
    Wait(next);
  }
  if (o_.stop_workloads_on_exit) {
    Log(agent::LogLevel::kInfo, "stopping on signal, and stopping the workloads");
    for (const agent::WorkloadStatus& w : sup_->List()) (void)sup_->Stop(w.job_id);
    const Clock::MonoTime deadline = clock_.MonoNow() + std::chrono::seconds(15);
    while (clock_.MonoNow() < deadline) {
      (void)sup_->Poll();
      const std::vector<agent::WorkloadStatus> all = sup_->List();
      if (std::none_of(all.begin(), all.end(), [](const agent::WorkloadStatus& w) {
            return w.state == api::WorkloadState::kRunning || w.state == api::WorkloadState::kStarting;
          }))
        break;
      ::poll(nullptr, 0, 50);
    }
    return 0;
  }
  Log(agent::LogLevel::kInfo,
      "stopping on signal; workloads keep running and are re-adopted at the next start");
  return 0;
}

}  // namespace

int RunAgent(const AgentOptions& options, std::ostream& err) {
  g_stop = 0;
  AgentLoop loop(options, err);
  return loop.Run();
}

void AddAgentCommand(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<AgentOptions>();
  CLI::App* cmd = app.add_subcommand(
      "agent", "Node agent: reconcile this node's MIG instances and workloads to a desired-state file");
  cmd->add_option("--backend", opts->backend, "nvml (default) or sim")->check(CLI::IsMember({"nvml", "sim"}));
  cmd->add_option("--sim-gpus", opts->sim_gpus, "Simulated GPUs, e.g. A100-SXM4-80GB:2");
  cmd->add_option("--sim-state", opts->sim_state, "SimBackend state file (the simulated hardware)");
  cmd->add_option("--nvml-library", opts->nvml_library, "NVML library to load");
  cmd->add_option("--desired", opts->desired, "Desired-state JSON (docs/agent-desired-state.md), or:");
  cmd->add_option("--server", opts->server,
                  "Take desired states from this gpuslice server (http://host:port)");
  cmd->add_option("--token", opts->token, "Node token for --server (default: $GPUSLICE_TOKEN)")
      ->envname("GPUSLICE_TOKEN");
  cmd->add_option("--state-dir", opts->state_dir, "Agent state: supervised workloads, logs")->required();
  cmd->add_option("--actual", opts->actual, "Where to write the actual state (default DIR/actual.json)");
  cmd->add_option(
      "--node", opts->node,
      "This node's name (--server; default: the host name); with --desired: refuse other nodes' states");
  cmd->add_option("--interval-ms", opts->interval_ms, "Reconcile interval in ms (default 1000)");
  cmd->add_option("--usage-period-ms", opts->usage_period_ms,
                  "Sample each MIG instance's memory/activity/processes at most this often (default "
                  "10000; 0: every pass)");
  cmd->add_option("--cgroup-parent", opts->cgroup_parent,
                  "cgroup v2 directory delegated to the agent; workloads' CPU/memory limits are enforced "
                  "in child cgroups there (default: limits not enforced)");
  cmd->add_option("--log-max-mib", opts->log_max_mib, "Rotate a workload's log at this size (default 16)");
  cmd->add_option("--log-keep", opts->log_keep, "Rotated log files kept per workload (default 3)");
  cmd->add_flag("--once", opts->once, "One pass, then exit (0 converged, 1 not)");
  cmd->add_flag("--read-only", opts->read_only, "Change nothing: only report");
  cmd->add_flag("--manage-mig", opts->manage_mig, "nvml: allow creating and destroying MIG instances");
  cmd->add_flag(
      "--stop-workloads-on-exit", opts->stop_workloads_on_exit,
      "On SIGTERM/SIGINT stop the workloads too (gpuslice up), instead of leaving them for re-adoption");
  cmd->callback([opts, exit_code] { *exit_code = RunAgent(*opts, std::cerr); });
}

}  // namespace gpuslice::cli
