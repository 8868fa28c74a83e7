// gpuslice logs, node, team, events, top: the client commands about the cluster as a whole and
// about a job's output (docs/api.md has the endpoints they call).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/client_commands.h"
#include "cli/table.h"
#include "common/read_file.h"
#include "mig/catalog.h"
#include "net/http_client.h"

namespace gpuslice::cli {
namespace {

using nlohmann::json;

// 1500 mGPU -> "1.5"; 143 -> "0.143".
std::string Gpus(std::int64_t mgpu) {
  std::string s = fmt::format("{}.{:03}", mgpu / 1000, std::abs(mgpu % 1000));
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return mgpu < 0 && mgpu > -1000 ? "-" + s : s;
}

std::string Ago(std::int64_t then_ms) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const std::int64_t s = std::max<std::int64_t>(0, (now - then_ms) / 1000);
  return s < 120 ? fmt::format("{}s ago", s) : fmt::format("{}m ago", s / 60);
}

// One GPU as a row of its memory units: each instance a run of one letter per unit (its job's
// slices in upper case, idle warm slices in lower case), free units as '.'.
//   [AAAA.bb.] = a 4-unit instance running a job, a 2-unit idle one, two free units.
std::string Bar(const std::string& gpu_model, const json& gpu, std::map<std::uint64_t, char>& letters) {
  const Result<mig::ResolvedGpu> model = mig::Catalog::BuiltIn().Resolve(gpu_model);
  if (!model || model->model->memory_units == 0) {
    return gpu.contains("whole_job") ? fmt::format("[whole: job {}]", gpu["whole_job"].get<std::uint64_t>())
                                     : "[whole: free]";
  }
  std::string bar(static_cast<std::size_t>(model->model->memory_units), '.');
  char next_idle = 'a';
  for (const json& inst : gpu.value("instances", json::array())) {
    const mig::Profile* p = model->model->FindProfile(inst.value("profile", ""));
    if (p == nullptr) continue;
    char c = next_idle;
    if (inst.contains("job") && inst["job"].is_number_unsigned()) {
      const std::uint64_t job = inst["job"].get<std::uint64_t>();
      if (!letters.contains(job)) letters[job] = static_cast<char>('A' + letters.size() % 26);
      c = letters[job];
    } else {
      next_idle = next_idle == 'z' ? 'a' : static_cast<char>(next_idle + 1);
    }
    const int start = inst.value("start", 0);
    for (int u = start; u < start + p->size_units && u < static_cast<int>(bar.size()); ++u) {
      bar[static_cast<std::size_t>(u)] = c;
    }
  }
  return "[" + bar + "]";
}

// Where the flags point, and a client kept for several requests (a log follower, a stream).
struct Connection {
  ClientSettings to;
  std::unique_ptr<net::HttpClient> client;
};
Result<Connection> Connect(const ClientFlags& flags) {
  Result<ClientSettings> to = ResolveClientSettings(flags.server, flags.token);
  if (!to) return Fail(to.error());
  Result<std::unique_ptr<net::HttpClient>> client = net::HttpClient::Create(to->server);
  if (!client) return Fail(client.error());
  return Connection{std::move(*to), std::move(*client)};
}

// GET target as raw bytes with headers (for logs); errors carry the server's message.
Result<net::Response> Raw(Connection& c, const std::string& target) {
  net::ClientRequest req;
  req.target = target;
  req.headers["Authorization"] = "Bearer " + c.to.token;
  Result<net::Response> r = c.client->Do(req);
  if (!r) return Fail(r.error().WithContext(c.to.server));
  if (r->status != 200) return Fail(ErrorFromResponse(*r));
  return r;
}

void AddLogs(CLI::App& app, int* exit_code) {
  struct Flags {
    ClientFlags conn;
    std::uint64_t id = 0;
    bool follow = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* c =
      app.add_subcommand("logs", "Print a job's output (stdout and stderr, as the agent shipped it)");
  AddClientFlags(c, f->conn);
  c->add_option("job", f->id, "Job id")->required();
  c->add_flag("-f,--follow", f->follow, "Keep printing new output until the job ends");
  c->callback([f, exit_code] {
    Result<Connection> server = Connect(f->conn);
    if (!server) {
      *exit_code = ReportError(server.error());
      return;
    }
    std::uint64_t offset = 0;
    for (;;) {
      Result<net::Response> r = Raw(*server, fmt::format("/v1/jobs/{}/logs?offset={}{}", f->id, offset,
                                                         f->follow ? "&follow=true&timeout_ms=20000" : ""));
      if (!r) {
        *exit_code = ReportError(r.error());
        return;
      }
      std::cout.write(r->body.data(), static_cast<std::streamsize>(r->body.size()));
      std::cout.flush();
      offset = std::strtoull(r->Header("Gpuslice-Log-Offset").value_or("0").c_str(), nullptr, 10);
      const std::uint64_t size =
          std::strtoull(r->Header("Gpuslice-Log-Size").value_or("0").c_str(), nullptr, 10);
      if (r->Header("Gpuslice-Log-Complete").value_or("") == "true") return;
      if (!f->follow && offset >= size) return;
    }
  });
}

void AddNode(CLI::App& app, int* exit_code) {
  struct Flags {
    ClientFlags conn;
    std::string node;
    int gpu = -1;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* node = app.add_subcommand("node", "Nodes and their GPUs: list, show, cordon, drain, uncordon");
  node->require_subcommand(1);

  CLI::App* ls = node->add_subcommand("ls", "List nodes: GPUs, modes, slices, last sign of life");
  AddClientFlags(ls, f->conn);
  ls->add_flag("--json", f->conn.json, "Print the server's JSON");
  ls->callback([f, exit_code] {
    const std::optional<json> r = CallToShow(f->conn, exit_code, "GET", "/v1/nodes");
    if (!r) return;
    Table t({"NODE", "MODEL", "GPUS", "MODES", "SLICES BUSY/IDLE", "APPLIED", "SEEN"});
    for (const json& n : (*r)["nodes"]) {
      std::map<std::string, int> modes;
      int busy = 0, idle = 0;
      for (const json& g : n["gpus"]) {
        ++modes[g.value("mode", "?")];
        for (const json& i : g["instances"]) (i["job"].is_null() ? idle : busy) += 1;
      }
      std::string mode_text;
      for (const auto& [m, k] : modes)
        mode_text += fmt::format("{}{} {}", mode_text.empty() ? "" : ", ", k, m);
      const bool current = n.value("generation_applied", 0ULL) == n.value("generation", 0ULL);
      t.AddRow({n.value("name", ""), n.value("gpu_model", ""), std::to_string(n.value("gpu_count", 0)),
                mode_text, fmt::format("{}/{}", busy, idle), current ? "yes" : "catching up",
                Ago(n.value("last_seen_ms", std::int64_t{0}))});
    }
    std::cout << t.Render();
  });

  CLI::App* show = node->add_subcommand("show", "One node: each GPU's mode and MIG slices");
  AddClientFlags(show, f->conn);
  show->add_option("node", f->node, "Node name")->required();
  show->add_flag("--json", f->conn.json, "Print the server's JSON (with its desired state)");
  show->callback([f, exit_code] {
    const std::optional<json> r =
        CallToShow(f->conn, exit_code, "GET", "/v1/nodes/" + net::PercentEncode(f->node));
    if (!r) return;
    std::cout << fmt::format("node {}: {} x {}, seen {}\n", r->value("name", ""), r->value("gpu_count", 0),
                             r->value("gpu_model", ""), Ago(r->value("last_seen_ms", std::int64_t{0})));
    std::map<std::uint64_t, char> letters;
    Table t({"GPU", "MODE", "HEALTH", "UNITS", "SLICES"});
    for (const json& g : (*r)["gpus"]) {
      std::string slices;
      for (const json& i : g["instances"]) {
        std::string usage;
        if (i.contains("memory_used_mib") && i.contains("memory_total_mib")) {
          usage = fmt::format(" {}/{} MiB", i["memory_used_mib"].get<std::int64_t>(),
                              i["memory_total_mib"].get<std::int64_t>());
        }
        if (i.contains("activity_percent")) usage += fmt::format(" {}%", i["activity_percent"].get<int>());
        slices += fmt::format(
            "{}{}@{} {}{}", slices.empty() ? "" : ", ", i.value("profile", ""), i.value("start", 0),
            i["job"].is_null() ? "idle" : fmt::format("job {}", i["job"].get<std::uint64_t>()),
            usage.empty() ? "" : " (" + usage.substr(1) + ")");
      }
      t.AddRow({std::to_string(g.value("index", 0)), g.value("mode", ""), g.value("health", "-"),
                Bar(r->value("gpu_model", ""), g, letters), slices.empty() ? "-" : slices});
    }
    std::cout << t.Render();
  });

  for (const char* action : {"cordon", "drain", "uncordon"}) {
    const std::string verb = action;
    const std::string help =
        verb == "cordon"  ? "Let no new work onto a node (or one --gpu); running work stays"
        : verb == "drain" ? "Cordon, and destroy idle slices now; running jobs finish (admin)"
                          : "Take new work again (admin)";
    CLI::App* c = node->add_subcommand(verb, help);
    AddClientFlags(c, f->conn);
    c->add_option("node", f->node, "Node name")->required();
    c->add_option("--gpu", f->gpu, "Only this GPU (index on the node)")->check(CLI::Range(0, 63));
    c->callback([f, exit_code, verb] {
      std::string target = fmt::format("/v1/nodes/{}/{}", net::PercentEncode(f->node), verb);
      if (f->gpu >= 0) target += fmt::format("?gpu={}", f->gpu);
      Result<json> r = Call(f->conn, "POST", target);
      if (!r) {
        *exit_code = ReportError(r.error());
        return;
      }
      std::string modes;
      for (const json& g : (*r)["gpus"]) {
        modes +=
            fmt::format("{}GPU {} {}", modes.empty() ? "" : ", ", g.value("index", 0), g.value("mode", ""));
      }
      std::cout << fmt::format("node {}: {}\n", f->node, modes);
    });
  }
}

// "A100-80GB=4000[:2000[:1000]]" -> the class and its amounts (nominal, borrowing limit,
// lending limit), in milli-GPU.
Result<std::pair<std::string, json>> ParseQuotaFlag(const std::string& text) {
  const std::size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return Fail(ErrorCode::kInvalidArgument, "--quota '{}': expected MODEL=MGPU[:BORROW_LIMIT[:LEND_LIMIT]]",
                text);
  }
  json amounts = json::object();
  const char* names[] = {"nominal_mgpu", "borrowing_limit_mgpu", "lending_limit_mgpu"};
  std::size_t at = eq + 1;
  for (int i = 0; i < 3 && at <= text.size(); ++i) {
    const std::size_t colon = std::min(text.find(':', at), text.size());
    const std::string part = text.substr(at, colon - at);
    char* end = nullptr;
    const long long v = std::strtoll(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || v < 0) {
      return Fail(ErrorCode::kInvalidArgument, "--quota '{}': '{}' is not an amount of milli-GPU", text,
                  part);
    }
    amounts[names[i]] = v;
    at = colon + 1;
  }
  if (at <= text.size()) return Fail(ErrorCode::kInvalidArgument, "--quota '{}': too many ':' parts", text);
  return std::pair{text.substr(0, eq), amounts};
}

void AddTeam(CLI::App& app, int* exit_code) {
  auto f = std::make_shared<ClientFlags>();
  CLI::App* team = app.add_subcommand("team", "Teams and their quotas");
  team->require_subcommand(1);

  struct SetFlags {
    ClientFlags conn;
    std::string name, parent;
    bool cohort = false, root = false;
    int weight = -1;
    std::vector<std::string> quotas;
  };
  auto sf = std::make_shared<SetFlags>();
  CLI::App* set = team->add_subcommand(
      "set", "Add a team or cohort, or change one (admin); what you do not give stays as it is");
  AddClientFlags(set, sf->conn);
  set->add_option("name", sf->name, "Team (or cohort) name")->required();
  set->add_flag("--cohort", sf->cohort, "Create a cohort (a group that lends and borrows), not a team");
  set->add_option("--parent", sf->parent, "The cohort it belongs to");
  set->add_flag("--root", sf->root, "Belong to no cohort");
  set->add_option("--weight", sf->weight, "Fair-sharing weight (default 1)")->check(CLI::Range(0, 1'000'000));
  set->add_option(
      "--quota", sf->quotas,
      "MODEL=MGPU[:BORROW_LIMIT[:LEND_LIMIT]] in milli-GPU, e.g. A100-80GB=4000:2000 (repeatable)");
  set->add_flag("--json", sf->conn.json, "Print the server's JSON");
  set->callback([sf, exit_code] {
    json body = json::object();
    if (sf->cohort) body["kind"] = "cohort";
    if (!sf->parent.empty()) body["parent"] = sf->parent;
    if (sf->root) body["parent"] = nullptr;
    if (sf->weight >= 0) body["weight"] = sf->weight;
    for (const std::string& q : sf->quotas) {
      Result<std::pair<std::string, json>> parsed = ParseQuotaFlag(q);
      if (!parsed) {
        *exit_code = ReportError(parsed.error());
        return;
      }
      body["quotas"][parsed->first] = parsed->second;
    }
    const std::optional<json> r =
        CallToShow(sf->conn, exit_code, "PUT", "/v1/teams/" + net::PercentEncode(sf->name), body.dump());
    if (!r) return;
    std::string quotas;
    for (const json& c : (*r)["classes"]) {
      quotas += fmt::format("{}{} {} GPUs", quotas.empty() ? "" : ", ", c.value("gpu_class", ""),
                            Gpus(c.value("quota_mgpu", std::int64_t{0})));
    }
    std::cout << fmt::format("{} {}{}: {}\n", r->value("kind", ""), r->value("name", ""),
                             (*r)["parent"].is_string() ? " in " + (*r)["parent"].get<std::string>() : "",
                             quotas.empty() ? "no quota" : quotas);
  });
  CLI::App* ls = team->add_subcommand("ls", "Teams and cohorts: quota, usage and what is free, in GPUs");
  AddClientFlags(ls, *f);
  ls->add_flag("--json", f->json, "Print the server's JSON (amounts in milli-GPU)");
  ls->callback([f, exit_code] {
    const std::optional<json> r = CallToShow(*f, exit_code, "GET", "/v1/teams");
    if (!r) return;
    Table t({"TEAM", "IN", "GPU CLASS", "QUOTA", "USED", "FREE", "BORROWING", "RUNNING", "PENDING"});
    for (const json& team : (*r)["teams"]) {
      const bool is_team = team.value("kind", "") == "team";
      const std::string parent = team["parent"].is_string() ? team["parent"].get<std::string>() : "-";
      const std::string name = is_team ? team.value("name", "") : team.value("name", "") + " (cohort)";
      const json classes = team.value("classes", json::array());
      if (classes.empty()) {
        t.AddRow({name, parent, "-", "-", "-", "-", "-",
                  is_team ? std::to_string(team.value("running_jobs", 0)) : "",
                  is_team ? std::to_string(team.value("pending_jobs", 0)) : ""});
      }
      for (const json& c : classes) {
        t.AddRow({name, parent, c.value("gpu_class", ""), Gpus(c.value("quota_mgpu", std::int64_t{0})),
                  Gpus(c.value("usage_mgpu", std::int64_t{0})),
                  Gpus(c.value("available_mgpu", std::int64_t{0})),
                  c.value("borrowing", false) ? "yes" : "no",
                  is_team ? std::to_string(team.value("running_jobs", 0)) : "",
                  is_team ? std::to_string(team.value("pending_jobs", 0)) : ""});
      }
    }
    std::cout << t.Render();
  });
}

void AddEvents(CLI::App& app, int* exit_code) {
  struct Flags {
    ClientFlags conn;
    std::uint64_t after = 0;
    bool replay = false;
    int count = 0;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* c = app.add_subcommand("events", "Stream cluster events as they happen (jobs, nodes)");
  AddClientFlags(c, f->conn);
  c->add_option("--after", f->after, "First replay the kept events after this seq");
  c->add_flag("--replay", f->replay, "First replay every event the server still keeps");
  c->add_option("--count", f->count, "Stop after this many events (0: until Ctrl-C)")
      ->check(CLI::Range(0, 1 << 30));
  c->add_flag("--json", f->conn.json, "One JSON object per line");
  c->callback([f, exit_code] {
    Result<Connection> server = Connect(f->conn);
    if (!server) {
      *exit_code = ReportError(server.error());
      return;
    }
    std::string target = "/v1/events";
    if (f->after != 0 || f->replay) target += fmt::format("?after={}", f->after);
    int seen = 0;
    Result<void> r = server->client->Stream(
        target,
        [&](const net::SseEvent& e) {
          const json j = json::parse(e.data, nullptr, false);
          if (f->conn.json || j.is_discarded()) {
            std::cout << e.data << '\n';
          } else {
            std::string what;
            if (j.contains("job"))
              what +=
                  fmt::format("job {} ({}) {}", j["job"].dump(), j.value("team", ""), j.value("phase", ""));
            if (j.contains("node")) what += fmt::format("node {}", j["node"].get<std::string>());
            if (j.contains("action")) what += " " + j["action"].get<std::string>();
            if (j.contains("exit_code")) what += fmt::format(" exit {}", j["exit_code"].dump());
            std::cout << fmt::format("{:<8} {:<16} {}\n", j.value("seq", 0ULL) % 100000000, e.event, what);
          }
          std::cout.flush();
          return f->count == 0 || ++seen < f->count;
        },
        {{"Authorization", "Bearer " + server->to.token}});
    if (!r && !(f->count > 0 && seen >= f->count)) *exit_code = ReportError(r.error());
  });
}

// One frame of `gpuslice top`.
Result<std::string> TopFrame(const ClientFlags& conn) {
  Result<json> nodes = Call(conn, "GET", "/v1/nodes");
  if (!nodes) return Fail(nodes.error());
  Result<json> teams = Call(conn, "GET", "/v1/teams");
  if (!teams) return Fail(teams.error());
  Result<json> pending = Call(conn, "GET", "/v1/jobs?phase=pending");
  if (!pending) return Fail(pending.error());
  int gpus = 0, busy = 0, idle = 0, cordoned = 0;
  std::int64_t units = 0, units_busy = 0;
  std::map<std::uint64_t, char> letters;
  Table g({"NODE", "GPU", "MODE", "UNITS", "SLICES"});
  for (const json& n : (*nodes)["nodes"]) {
    const Result<mig::ResolvedGpu> model = mig::Catalog::BuiltIn().Resolve(n.value("gpu_model", ""));
    for (const json& gpu : n["gpus"]) {
      ++gpus;
      const std::string mode = gpu.value("mode", "");
      cordoned += mode == "cordoned" || mode == "draining";
      std::string slices;
      for (const json& i : gpu["instances"]) {
        const bool used = !i["job"].is_null();
        (used ? busy : idle) += 1;
        if (const mig::Profile* p = model ? model->model->FindProfile(i.value("profile", "")) : nullptr;
            p != nullptr && used) {
          units_busy += p->size_units;
        }
        slices += fmt::format("{}{}{}", slices.empty() ? "" : " ", i.value("profile", ""),
                              used ? fmt::format(":{}", i["job"].get<std::uint64_t>()) : ":idle");
      }
      if (model) units += model->model->memory_units;
      g.AddRow({n.value("name", ""), std::to_string(gpu.value("index", 0)), mode,
                Bar(n.value("gpu_model", ""), gpu, letters), slices.empty() ? "-" : slices});
    }
  }
  std::string out = fmt::format(
      "gpuslice top — {} nodes, {} GPUs ({} cordoned/draining), {} slices busy, {} idle (warm), "
      "{:.0f}% of MIG memory units running jobs, {} jobs pending\n\n",
      (*nodes)["nodes"].size(), gpus, cordoned, busy, idle,
      units == 0 ? 0.0 : 100.0 * static_cast<double>(units_busy) / static_cast<double>(units),
      (*pending)["jobs"].size());
  out += g.Render();
  out += "\n";
  Table t({"TEAM", "GPU CLASS", "QUOTA", "USED", "RUNNING", "PENDING"});
  for (const json& team : (*teams)["teams"]) {
    if (team.value("kind", "") != "team") continue;
    for (const json& c : team.value("classes", json::array())) {
      t.AddRow({team.value("name", ""), c.value("gpu_class", ""),
                Gpus(c.value("quota_mgpu", std::int64_t{0})), Gpus(c.value("usage_mgpu", std::int64_t{0})),
                std::to_string(team.value("running_jobs", 0)),
                std::to_string(team.value("pending_jobs", 0))});
    }
  }
  out += t.Render();
  if (!(*pending)["jobs"].empty()) {
    out += "\n";
    Table q({"PENDING", "TEAM", "WHY"});
    int shown = 0;
    for (const json& j : (*pending)["jobs"]) {
      if (++shown > 10) break;
      q.AddRow({std::to_string(j.value("id", 0)), j.value("team", ""),
                j.contains("reason") ? j["reason"].value("message", "").substr(0, 90) : ""});
    }
    out += q.Render();
  }
  return out;
}

void AddTop(CLI::App& app, int* exit_code) {
  struct Flags {
    ClientFlags conn;
    bool once = false;
    double interval_s = 2;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* c = app.add_subcommand(
      "top", "Live view of the cluster: every GPU's MIG slices (letters = jobs), team usage, the queue");
  AddClientFlags(c, f->conn);
  c->add_flag("--once", f->once, "Print one frame and exit (no screen clearing)");
  c->add_option("--interval", f->interval_s, "Seconds between frames (default 2)")
      ->check(CLI::Range(0.2, 3600.0));
  c->callback([f, exit_code] {
    const bool tty = ::isatty(STDOUT_FILENO) != 0 && !f->once;
    for (;;) {
      Result<std::string> frame = TopFrame(f->conn);
      if (!frame) {
        *exit_code = ReportError(frame.error());
        return;
      }
      if (tty) std::cout << "\x1b[H\x1b[2J";  // home, clear
      std::cout << *frame << std::flush;
      if (f->once) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(f->interval_s * 1000)));
    }
  });
}

void AddLayout(CLI::App& app, int* exit_code) {
  struct Flags {
    ClientFlags conn;
    std::string node, file, config;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* layout = app.add_subcommand(
      "layout",
      "Fixed MIG layouts from mig-parted configs: plan, apply, assert on a node; export the cluster's");
  layout->require_subcommand(1);
  for (const char* verb : {"plan", "apply", "assert"}) {
    const std::string v = verb;
    const std::string help =
        v == "plan" ? "What a mig-parted config would make of a node's GPUs (changes nothing)"
        : v == "apply"
            ? "Give a node's GPUs the config's layouts: jobs then bind to exactly those instances (admin)"
            : "Does the node have the config's instances? (exit 1 when not)";
    CLI::App* c = layout->add_subcommand(v, help);
    AddClientFlags(c, f->conn);
    c->add_option("node", f->node, "Node name")->required();
    c->add_option("-f,--file", f->file, "mig-parted config file (YAML, version v1)")->required();
    c->add_option("-c,--config", f->config, "The config in it to use (e.g. all-balanced)")->required();
    c->add_flag("--json", f->conn.json, "Print the server's JSON");
    c->callback([f, exit_code, v] {
      Result<std::string> yaml = ReadFile(f->file, 1 << 20);
      if (!yaml) {
        *exit_code = ReportError(Error{ErrorCode::kInvalidArgument, yaml.error().message});
        return;
      }
      const std::string target = fmt::format("/v1/nodes/{}/layout{}?config={}{}", net::PercentEncode(f->node),
                                             v == "assert" ? "/assert" : "", net::PercentEncode(f->config),
                                             v == "plan" ? "&dry_run=true" : "");
      Result<json> r = Call(f->conn, "POST", target, *yaml);
      if (!r) {
        *exit_code = ReportError(r.error());
        return;
      }
      if (v == "assert" && !r->value("matches", false)) *exit_code = 1;
      if (f->conn.json) {
        std::cout << r->dump(2) << '\n';
        return;
      }
      Table t(v == "assert" ? std::vector<std::string>{"GPU", "CONFIG WANTS", "NODE HAS"}
                            : std::vector<std::string>{"GPU", "BECOMES", "INSTANCES"});
      for (const json& g : (*r)["gpus"]) {
        const std::string wants =
            !g.value("matched", false) ? "(no entry: left as it is)"
            : g.value("change", "") == "whole"
                ? "MIG off, whole GPU"
                : fmt::format("{}", fmt::join(g.value("layout", std::vector<std::string>{}), " "));
        if (v == "assert") {
          t.AddRow({std::to_string(g.value("index", 0)), wants, g.value("actual", "")});
        } else {
          t.AddRow({std::to_string(g.value("index", 0)), g.value("change", ""), wants});
        }
      }
      std::cout << t.Render();
      if (v == "apply") std::cout << fmt::format("node {}: config '{}' applied\n", f->node, f->config);
      if (v == "assert") {
        std::cout << (r->value("matches", false) ? "the node matches the config\n"
                                                 : "the node does not match the config\n");
      }
    });
  }
  auto ef = std::make_shared<ClientFlags>();
  CLI::App* e = layout->add_subcommand(
      "export", "Every node's current MIG layout as a mig-parted config (one config per node) on stdout");
  AddClientFlags(e, *ef);
  e->callback([ef, exit_code] {
    Result<Connection> server = Connect(*ef);
    if (!server) {
      *exit_code = ReportError(server.error());
      return;
    }
    Result<net::Response> r = Raw(*server, "/v1/layouts/export");
    if (!r) {
      *exit_code = ReportError(r.error());
      return;
    }
    std::cout << r->body;
  });
}

}  // namespace

void AddGpuSetMode(CLI::App* gpu, int* exit_code) {
  struct Flags {
    ClientFlags conn;
    std::string node, mode;
    int index = 0;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* c = gpu->add_subcommand(
      "set-mode",
      "Use a cluster GPU as MIG slices cut on demand (dynamic) or whole (admin; the GPU must run no job). "
      "gpuslice does not switch the hardware's MIG mode: do that yourself (nvidia-smi -i N -mig 0|1)");
  AddClientFlags(c, f->conn);
  c->add_option("node", f->node, "Node name")->required();
  c->add_option("gpu", f->index, "GPU index on the node")->required()->check(CLI::Range(0, 63));
  c->add_option("mode", f->mode, "dynamic or whole")->required()->check(CLI::IsMember({"dynamic", "whole"}));
  c->callback([f, exit_code] {
    Result<json> r =
        Call(f->conn, "PUT", fmt::format("/v1/nodes/{}/gpus/{}/mode", net::PercentEncode(f->node), f->index),
             json{{"mode", f->mode}}.dump());
    if (!r) {
      *exit_code = ReportError(r.error());
      return;
    }
    std::cout << fmt::format("node {} GPU {}: {}\n", f->node, f->index, f->mode);
    if (f->mode == "whole") {
      std::cout
          << "whole-GPU jobs start on it once its MIG mode is off (its agent reports them blocked until "
             "then)\n";
    }
  });
}

void AddClusterCommands(CLI::App& app, int* exit_code) {
  AddLogs(app, exit_code);
  AddNode(app, exit_code);
  AddTeam(app, exit_code);
  AddEvents(app, exit_code);
  AddTop(app, exit_code);
  AddLayout(app, exit_code);
}

}  // namespace gpuslice::cli
