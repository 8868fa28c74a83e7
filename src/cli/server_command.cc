#include "cli/server_command.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/client_commands.h"
#include "gpu/nvml_backend.h"
#include "mig/catalog.h"
#include "server/api_server.h"

extern char** environ;

namespace gpuslice::cli {
namespace {

using nlohmann::json;

constexpr int kExitUnavailable = 1;
constexpr int kExitUsage = 2;

// Blocks SIGINT/SIGTERM in every thread (started after this) and waits for one, or `limit`.
void WaitForStopSignal(std::chrono::seconds limit, const std::function<void()>& every_5s = {}) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  const auto until = std::chrono::steady_clock::now() + limit;
  while (true) {
    const auto left = until - std::chrono::steady_clock::now();
    if (limit.count() > 0 && left <= std::chrono::steady_clock::duration::zero()) return;
    const auto wait = limit.count() > 0
                          ? std::min<std::chrono::steady_clock::duration>(left, std::chrono::seconds(5))
                          : std::chrono::seconds(5);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    if (sigtimedwait(&set, nullptr, &ts) > 0) return;
    if (every_5s) every_5s();
  }
}

void BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::string DefaultDataDir() {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  const char* home = std::getenv("HOME");
  if (xdg != nullptr && *xdg != '\0') return std::string(xdg) + "/gpuslice";
  return std::string(home != nullptr ? home : ".") + "/.local/share/gpuslice";
}

struct ServerFlags {
  std::string data, listen = "127.0.0.1:7070", tls_cert, tls_key;
  std::vector<std::string> teams;
  int node_grace_s = 30;
  std::string lost_node_jobs = "requeue";
};

int RunServer(const ServerFlags& f) {
  server::ApiOptions o;
  o.data_dir = f.data;
  o.listen = f.listen;
  o.tls_cert_file = f.tls_cert;
  o.tls_key_file = f.tls_key;
  o.node_grace = std::chrono::seconds(f.node_grace_s);
  o.lost_node_jobs =
      f.lost_node_jobs == "fail" ? server::LostNodeJobs::kFail : server::LostNodeJobs::kRequeue;
  for (const std::string& t : f.teams) {
    Result<sched::QuotaNodeSpec> spec = server::ParseTeamFlag(t);
    if (!spec) {
      std::cerr << "gpuslice server: " << spec.error().message << '\n';
      return kExitUsage;
    }
    o.teams.push_back(std::move(*spec));
  }
  BlockStopSignals();
  Result<std::unique_ptr<server::ApiServer>> s = server::ApiServer::Start(std::move(o));
  if (!s) {
    std::cerr << "gpuslice server: " << s.error().message << '\n';
    return s.error().code == ErrorCode::kInvalidArgument ? kExitUsage : kExitUnavailable;
  }
  std::cout << fmt::format("gpuslice server listening on {}\nadmin token: {}\n", (*s)->url(),
                           (*s)->admin_token_file())
            << std::flush;
  WaitForStopSignal(std::chrono::seconds(0));
  (*s)->Stop();
  return 0;
}

// --- gpuslice up ---------------------------------------------------------------------------------

struct UpFlags {
  std::string data, listen = "127.0.0.1:7070", sim_gpus = "A100-SXM4-80GB:2,H100-80GB:1";
  std::string gpus = "sim";  // sim | nvml
  std::string nvml_library;
  bool manage_mig = false;
  bool no_demo = false;
  int exit_after_s = 0;
  std::string config_home;  // where client.json goes (default $XDG_CONFIG_HOME or ~/.config)
};

Result<json> Api(const std::string& url, const std::string& token, const std::string& method,
                 const std::string& target, const json& body = nullptr) {
  return CallServer(ClientSettings{url, token}, method, target, body.is_null() ? "" : body.dump());
}

// Starts `gpuslice agent` for one simulated GPU model; its output goes to DATA/agent-N.log.
// Starts `gpuslice agent` for one simulated GPU model (`spec`, MODEL:N) or, with an empty spec,
// for the machine's GPUs through NVML; its output goes to DATA/agent-N.log.
Result<pid_t> SpawnAgent(const UpFlags& f, const std::string& data, int n, const std::string& spec,
                         const std::string& url, const std::string& token) {
  const std::string dir = fmt::format("{}/agent-{}", data, n);
  std::filesystem::create_directories(dir);
  std::vector<std::string> args{"/proc/self/exe", "agent", "--server", url, "--token", token};
  if (spec.empty()) {
    args.insert(args.end(), {"--backend", "nvml"});
    if (!f.nvml_library.empty()) args.insert(args.end(), {"--nvml-library", f.nvml_library});
    if (f.manage_mig) args.push_back("--manage-mig");
  } else {
    args.insert(args.end(), {"--backend", "sim", "--sim-gpus", spec, "--sim-state", dir + "/gpus.json"});
  }
  args.insert(args.end(), {"--state-dir", dir, "--node", fmt::format("local-{}", n), "--interval-ms", "500",
                           "--stop-workloads-on-exit"});
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log = fmt::format("{}/agent-{}.log", data, n);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);  // the agent handles SIGTERM itself
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Fail(ErrorCode::kUnavailable, "cannot start the agent: {}", std::strerror(rc));
  return pid;
}

// The demo: two teams' mix of notebooks, inference services and batch jobs, by size so that it
// works on any simulated model.
void SubmitDemo(const std::string& url, const std::map<std::string, std::string>& team_tokens) {
  struct Demo {
    const char* team;
    const char* name;
    const char* memory;
    const char* kind;
    bool preemptible;
    std::vector<std::string> command;
  };
  const std::vector<Demo> demo{
      {"nlp", "notebook-ana", "8GiB", "notebook", true, {"sh", "-c", "echo notebook ready; sleep 3600"}},
      {"nlp",
       "llm-serve",
       "20GiB",
       "service",
       false,
       {"sh", "-c", "while true; do echo serving; sleep 5; done"}},
      {"nlp", "finetune", "32GiB", "batch", true, {"sh", "-c", "echo epoch 1; sleep 40; echo done"}},
      {"vision", "notebook-bo", "8GiB", "notebook", true, {"sh", "-c", "echo notebook ready; sleep 3600"}},
      {"vision",
       "detector-serve",
       "20GiB",
       "service",
       false,
       {"sh", "-c", "while true; do echo serving; sleep 5; done"}},
      {"vision", "train-small", "8GiB", "batch", true, {"sh", "-c", "echo training; sleep 20; echo done"}},
      {"vision", "train-big", "32GiB", "batch", true, {"sh", "-c", "echo training; sleep 60; echo done"}},
      {"nlp", "eval", "8GiB", "batch", true, {"sh", "-c", "echo evaluating; sleep 15; echo done"}},
  };
  for (const Demo& d : demo) {
    json body{{"name", d.name},
              {"memory", d.memory},
              {"kind", d.kind},
              {"preemptible", d.preemptible},
              {"command", d.command}};
    if (std::string(d.kind) == "service") body["restart"] = "always";
    if (Result<json> r = Api(url, team_tokens.at(d.team), "POST", "/v1/jobs", body); !r) {
      std::cerr << "gpuslice up: demo job " << d.name << ": " << r.error().message << '\n';
    }
  }
}

void PrintStatus(const std::string& url, const std::string& admin) {
  Result<json> jobs = Api(url, admin, "GET", "/v1/jobs");
  if (!jobs) return;
  std::map<std::string, int> phase;
  for (const json& j : (*jobs)["jobs"]) ++phase[j.value("phase", "?")];
  std::cout << fmt::format("jobs: {} running, {} pending, {} succeeded, {} failed, {} cancelled\n",
                           phase["running"], phase["pending"], phase["succeeded"], phase["failed"],
                           phase["cancelled"])
            << std::flush;
}

// --gpus nvml: the scheduler uses each GPU as the hardware is set up, and changes MIG only where
// the admin said so. MIG off (or no MIG): whole GPUs. MIG on: dynamic slices with --manage-mig;
// without it gpuslice must not create or destroy instances there, so the GPU is cordoned.
void SetRealGpuModes(const UpFlags& f, const std::string& url, const std::string& admin,
                     const std::vector<gpu::GpuInfo>& gpus) {
  for (int i = 0; i < 100; ++i) {  // the agent registers the node within a few seconds
    Result<json> n = Api(url, admin, "GET", "/v1/nodes/local-1");
    if (n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const gpu::GpuInfo& g : gpus) {
    Result<json> r = Fail(ErrorCode::kNotFound, "");
    std::string what;
    if (!g.mig_capable || !g.mig.current) {
      r = Api(url, admin, "PUT", fmt::format("/v1/nodes/local-1/gpus/{}/mode", g.index),
              json{{"mode", "whole"}});
      what = "MIG off: whole-GPU jobs";
    } else if (f.manage_mig) {
      r = json::object();
      what = "MIG on: slices cut on demand (--manage-mig)";
    } else {
      r = Api(url, admin, "POST", fmt::format("/v1/nodes/local-1/cordon?gpu={}", g.index));
      what = "MIG on: cordoned, as instances may only be changed with --manage-mig";
    }
    std::cout << fmt::format("  GPU {} ({}): {}{}\n", g.index, g.name, what,
                             r ? "" : " — not applied: " + r.error().message)
              << std::flush;
  }
}

int RunUp(const UpFlags& f) {
  const std::string data = f.data.empty() ? DefaultDataDir() : f.data;
  std::filesystem::create_directories(data);
  // GPUs per model, and teams that share them: nlp and vision get half each, and may borrow.
  std::vector<std::pair<std::string, int>> gpus;
  server::ApiOptions o;
  o.data_dir = data;
  o.listen = f.listen;
  o.schedule_interval = std::chrono::milliseconds(200);
  sched::QuotaNodeSpec nlp{"nlp", true, "research", 1, {}}, vision{"vision", true, "research", 1, {}};
  std::vector<gpu::GpuInfo> real;  // --gpus nvml: the machine's GPUs, read once, read-only
  if (f.gpus == "nvml") {
    auto backend = gpu::NvmlBackend::Open({.library_path = f.nvml_library, .read_only = true});
    if (!backend) {
      std::cerr << "gpuslice up: --gpus nvml: " << backend.error().error.message << '\n';
      return kExitUnavailable;
    }
    auto list = (*backend)->ListGpus();
    if (!list || list->empty()) {
      std::cerr << "gpuslice up: --gpus nvml: "
                << (list ? "NVML reports no GPUs" : list.error().error.message) << '\n';
      return kExitUnavailable;
    }
    real = std::move(*list);
  }
  const std::string gpu_specs =
      real.empty() ? f.sim_gpus : fmt::format("{}:{}", real.front().name, real.size());
  for (std::string_view rest = gpu_specs; !rest.empty();) {
    const std::size_t comma = rest.find(',');
    const std::string item(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const std::size_t colon = item.rfind(':');
    const int n = colon == std::string::npos ? 0 : std::atoi(item.c_str() + colon + 1);
    Result<mig::ResolvedGpu> model = mig::Catalog::BuiltIn().Resolve(item.substr(0, colon));
    if (!model || n < 1 || n > 64) {
      std::cerr << "gpuslice up: " << (real.empty() ? "--sim-gpus" : "NVML GPU") << " '" << item
                << "': expected MODEL:N (N 1..64)" << (model ? "" : ": " + model.error().message) << '\n';
      return kExitUsage;
    }
    gpus.push_back({item.substr(0, colon), n});
    const std::int64_t half = 1000LL * n / 2;
    nlp.quotas[model->model->name].nominal = MilliGpu(nlp.quotas[model->model->name].nominal.value() + half);
    vision.quotas[model->model->name].nominal =
        MilliGpu(vision.quotas[model->model->name].nominal.value() + half);
  }
  o.teams = {nlp, vision};
  BlockStopSignals();
  Result<std::unique_ptr<server::ApiServer>> s = server::ApiServer::Start(o);
  if (!s) {
    std::cerr << "gpuslice up: " << s.error().message << '\n';
    return kExitUnavailable;
  }
  const std::string url = (*s)->url();
  std::string admin;
  std::ifstream((*s)->admin_token_file()) >> admin;
  if (!f.config_home.empty()) ::setenv("XDG_CONFIG_HOME", f.config_home.c_str(), 1);
  if (Result<void> w = WriteClientConfig(url, (*s)->admin_token_file()); !w) {
    std::cerr << "gpuslice up: " << w.error().message << '\n';
  }
  Result<json> node_token =
      Api(url, admin, "POST", "/v1/tokens", json{{"role", "node"}, {"name", "local-agents"}});
  if (!node_token) {
    std::cerr << "gpuslice up: " << node_token.error().message << '\n';
    return kExitUnavailable;
  }
  std::vector<pid_t> agents;
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    Result<pid_t> pid = SpawnAgent(f, data, static_cast<int>(i + 1),
                                   real.empty() ? fmt::format("{}:{}", gpus[i].first, gpus[i].second) : "",
                                   url, (*node_token)["token"]);
    if (!pid) {
      std::cerr << "gpuslice up: " << pid.error().message << '\n';
      return kExitUnavailable;
    }
    agents.push_back(*pid);
  }
  std::cout << fmt::format(
                   "gpuslice is up: {}\n  admin token: {}\n  data: {}\n  GPUs ({}): {}\n  agents: {} "
                   "(logs in {}/agent-N.log)\n",
                   url, (*s)->admin_token_file(), data, real.empty() ? "simulated" : "NVML", gpu_specs,
                   agents.size(), data)
            << std::flush;
  if (!real.empty()) SetRealGpuModes(f, url, admin, real);
  if (!f.no_demo) {
    std::map<std::string, std::string> team_tokens;
    for (const char* team : {"nlp", "vision"}) {
      Result<json> t = Api(url, admin, "POST", "/v1/tokens",
                           json{{"role", "team"}, {"name", std::string(team) + "-demo"}, {"team", team}});
      if (t) team_tokens[team] = (*t)["token"];
    }
    if (team_tokens.size() == 2) SubmitDemo(url, team_tokens);
    std::cout << "  demo: 8 jobs of teams nlp and vision (notebooks, inference services, batch)\n";
  }
  std::cout << "try: gpuslice ls    gpuslice why JOB    gpuslice run --memory 10GiB -- sleep 60\n"
               "Ctrl-C stops everything.\n"
            << std::flush;
  WaitForStopSignal(std::chrono::seconds(f.exit_after_s), [&] { PrintStatus(url, admin); });
  std::cout << "stopping: agents (and their workloads), then the server\n" << std::flush;
  for (pid_t p : agents) ::kill(p, SIGTERM);
  for (pid_t p : agents) ::waitpid(p, nullptr, 0);
  (*s)->Stop();
  return 0;
}

}  // namespace

void AddServerCommands(CLI::App& app, int* exit_code) {
  auto sf = std::make_shared<ServerFlags>();
  CLI::App* server = app.add_subcommand("server", "Run the control plane: REST API, scheduler, store");
  server->add_option("--data", sf->data, "Data directory: database, admin.token")->required();
  server->add_option("--listen", sf->listen, "host:port to listen on (default 127.0.0.1:7070)");
  server->add_option("--tls-cert", sf->tls_cert, "PEM certificate (TLS on when given with --tls-key)");
  server->add_option("--tls-key", sf->tls_key, "PEM private key");
  server->add_option("--team", sf->teams,
                     "A team and its nominal quota: NAME[@COHORT]=MODEL:MGPU[,MODEL:MGPU…]");
  server
      ->add_option("--node-grace-s", sf->node_grace_s,
                   "A node whose agent is silent this long is lost (default 30)")
      ->check(CLI::Range(1, 86400));
  server
      ->add_option("--lost-node-jobs", sf->lost_node_jobs,
                   "What happens to a lost node's jobs: requeue (start again elsewhere; default) or fail "
                   "(for work that must not run twice)")
      ->check(CLI::IsMember({"requeue", "fail"}));
  server->callback([sf, exit_code] { *exit_code = RunServer(*sf); });

  auto uf = std::make_shared<UpFlags>();
  CLI::App* up =
      app.add_subcommand("up", "Bring a whole cluster up on this machine (simulated GPUs), with a demo");
  up->add_option("--data", uf->data, "Data directory (default ~/.local/share/gpuslice)");
  up->add_option("--listen", uf->listen, "host:port for the server (default 127.0.0.1:7070)");
  up->add_option("--sim-gpus", uf->sim_gpus,
                 "Simulated GPUs, one agent per model (default A100-SXM4-80GB:2,H100-80GB:1)");
  up->add_option(
        "--gpus", uf->gpus,
        "sim (default): simulated GPUs (--sim-gpus); nvml: this machine's GPUs, used as they are set up "
        "(MIG off: whole GPUs; MIG on: cordoned unless --manage-mig)")
      ->check(CLI::IsMember({"sim", "nvml"}));
  up->add_flag("--manage-mig", uf->manage_mig,
               "--gpus nvml: let gpuslice create and destroy MIG instances on GPUs with MIG on");
  up->add_option("--nvml-library", uf->nvml_library, "--gpus nvml: the NVML library to load");
  up->add_flag("--no-demo", uf->no_demo, "Do not create demo jobs");
  up->add_option("--config-home", uf->config_home,
                 "Write the client config (server URL, admin token file) under this directory "
                 "instead of $XDG_CONFIG_HOME or ~/.config");
  up->add_option("--exit-after", uf->exit_after_s, "Stop by itself after this many seconds (scripts, CI)")
      ->check(CLI::Range(0, 86400 * 365));
  up->callback([uf, exit_code] { *exit_code = RunUp(*uf); });
}

}  // namespace gpuslice::cli
