#include "cli/client_commands.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "api/job_api.h"
#include "cli/table.h"
#include "common/read_file.h"
#include "common/units.h"
#include "net/http_client.h"

namespace gpuslice::cli {
namespace {

using nlohmann::json;

constexpr int kExitNo = 1;
constexpr int kExitUsage = 2;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

std::string Where(const json& job) {
  std::string out;
  for (const json& s : job.value("slices", json::array())) {
    out += fmt::format("{}{}/{}{}", out.empty() ? "" : " ", s.value("node", "?"), s.value("gpu", 0),
                       s.contains("profile")
                           ? fmt::format(" {}@{}", s["profile"].get<std::string>(), s.value("start", 0))
                           : "");
  }
  return out;
}

std::string Request(const json& spec) {
  if (spec.contains("profile")) return spec["profile"];
  const Result<MiB> memory = ParseMemory(spec.value("memory", "?"));
  return fmt::format("{}{}", memory ? FormatMemory(*memory) : spec.value("memory", "?"),
                     spec.contains("compute") ? fmt::format("/{}c", spec["compute"].get<int>()) : "");
}

void AddRun(CLI::App& app, int* exit_code) {
  struct Flags {
    ClientFlags conn;
    std::string team, profile, memory, kind = "batch", restart = "never";
    int compute = 0, count = 1, priority = 0;
    bool same_node = false, preemptible = false;
    std::vector<std::string> command;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* c = app.add_subcommand("run", "Submit a job: a command that runs on a MIG slice (or several)");
  AddClientFlags(c, f->conn);
  c->add_option("--team", f->team, "Team (default: your token's team)");
  c->add_option("--profile", f->profile, "A MIG profile: 1g.10gb, 3g.40gb, … (see `gpuslice mig profiles`)");
  c->add_option("--memory", f->memory, "Or a size: at least this much GPU memory (20GiB)");
  c->add_option("--compute", f->compute, "With --memory: at least this many compute slices")
      ->check(CLI::Range(0, 64));
  c->add_option("--count", f->count, "Slices (a gang: all or none)")->check(CLI::Range(1, 64));
  c->add_flag("--same-node", f->same_node, "All slices of the gang on one node");
  c->add_option("--priority", f->priority, "Higher runs first and may preempt lower in your team");
  c->add_flag("--preemptible", f->preemptible, "May be stopped and requeued (and may borrow idle quota)");
  c->add_option("--kind", f->kind, "batch, service or notebook")
      ->check(CLI::IsMember({"batch", "service", "notebook"}));
  c->add_option("--restart", f->restart, "never, on-failure or always")
      ->check(CLI::IsMember({"never", "on-failure", "always"}));
  c->add_flag("--json", f->conn.json, "Print {\"id\": N}");
  c->add_option("command", f->command, "The command, after --")->required();
  c->callback([f, exit_code] {
    json body{{"command", f->command},        {"count", f->count}, {"same_node", f->same_node},
              {"priority", f->priority},      {"kind", f->kind},   {"restart", f->restart},
              {"preemptible", f->preemptible}};
    if (!f->team.empty()) body["team"] = f->team;
    if (!f->profile.empty()) body["profile"] = f->profile;
    if (!f->memory.empty()) body["memory"] = f->memory;
    if (f->compute != 0) body["compute"] = f->compute;
    Result<api::JobSubmit> checked =
        api::ParseJobSubmit(body.dump());  // the server's own rules, before sending
    if (!checked) {
      *exit_code = ReportError(checked.error());
      return;
    }
    Result<json> r = Call(f->conn, "POST", "/v1/jobs", body.dump());
    if (!r) {
      *exit_code = ReportError(r.error());
      return;
    }
    std::cout << (f->conn.json ? json{{"id", (*r)["id"]}}.dump()
                               : fmt::format("{}", (*r)["id"].get<std::uint64_t>()))
              << '\n';
  });
}

void AddList(CLI::App& app, int* exit_code) {
  struct Flags {
    ClientFlags conn;
    std::string team, phase;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* c = app.add_subcommand("ls", "List jobs (a team token sees its own team's)");
  AddClientFlags(c, f->conn);
  c->add_option("--team", f->team, "Only this team's jobs");
  c->add_option("--phase", f->phase, "pending, running, succeeded, failed or cancelled");
  c->add_flag("--json", f->conn.json, "Print the server's JSON");
  c->callback([f, exit_code] {
    std::string target = "/v1/jobs";
    std::string sep = "?";
    if (!f->team.empty()) target += sep + "team=" + net::PercentEncode(f->team), sep = "&";
    if (!f->phase.empty()) target += sep + "phase=" + net::PercentEncode(f->phase);
    const std::optional<json> r = CallToShow(f->conn, exit_code, "GET", target);
    if (!r) return;
    Table t({"ID", "NAME", "TEAM", "PHASE", "REQUEST", "WHERE / WHY"});
    for (const json& j : (*r)["jobs"]) {
      const std::string phase = j.value("phase", "");
      const std::string where = phase == "pending" && j.contains("reason")
                                    ? j["reason"].value("message", "").substr(0, 60)
                                    : Where(j);
      t.AddRow({std::to_string(j.value("id", 0)), j.value("name", ""), j.value("team", ""), phase,
                Request(j.value("spec", json::object())), where});
    }
    std::cout << t.Render();
  });
}

void AddJobCommand(CLI::App& app, int* exit_code, const std::string& name, const std::string& help) {
  struct Flags {
    ClientFlags conn;
    std::uint64_t id = 0;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* c = app.add_subcommand(name, help);
  AddClientFlags(c, f->conn);
  c->add_option("job", f->id, "Job id")->required();
  if (name == "show") c->add_flag("--json", f->conn.json, "Print the server's JSON");
  c->callback([f, exit_code, name] {
    const std::string base = fmt::format("/v1/jobs/{}", f->id);
    Result<json> r = name == "cancel" ? Call(f->conn, "POST", base + "/cancel")
                     : name == "why"  ? Call(f->conn, "GET", base + "/why")
                                      : Call(f->conn, "GET", base);
    if (!r) {
      *exit_code = ReportError(r.error());
      return;
    }
    if (name == "cancel") {
      std::cout << fmt::format("job {} cancelled\n", f->id);
    } else if (name == "why") {
      if (r->contains("reason")) {
        std::cout << fmt::format("job {} is pending ({}): {}\n", f->id, (*r)["reason"].value("kind", ""),
                                 (*r)["reason"].value("message", ""));
      } else {
        std::cout << fmt::format("job {} is {}\n", f->id, r->value("phase", ""));
      }
    } else if (f->conn.json) {
      std::cout << r->dump(2) << '\n';
    } else {
      std::cout << fmt::format("job {} ({}), team {}: {}\n  request: {} x {}\n  command: {}\n", f->id,
                               r->value("name", ""), r->value("team", ""), r->value("phase", ""),
                               (*r)["spec"].value("count", 1), Request((*r)["spec"]),
                               fmt::join((*r)["spec"].value("command", std::vector<std::string>{}), " "));
      if (!Where(*r).empty()) std::cout << "  on: " << Where(*r) << '\n';
      if (r->contains("reason")) std::cout << "  waiting: " << (*r)["reason"].value("message", "") << '\n';
      if (r->contains("exit_code")) std::cout << "  exit code: " << (*r)["exit_code"] << '\n';
    }
  });
}

void AddToken(CLI::App& app, int* exit_code) {
  struct Flags {
    ClientFlags conn;
    std::string role, name, team;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* token = app.add_subcommand("token", "Manage bearer tokens (admin): create, ls, revoke");
  token->require_subcommand(1);
  auto lf = std::make_shared<ClientFlags>();
  CLI::App* ls =
      token->add_subcommand("ls", "List tokens: id, role, name, team (never the tokens themselves)");
  AddClientFlags(ls, *lf);
  ls->add_flag("--json", lf->json, "Print the server's JSON");
  ls->callback([lf, exit_code] {
    const std::optional<json> r = CallToShow(*lf, exit_code, "GET", "/v1/tokens");
    if (!r) return;
    Table t({"ID", "ROLE", "NAME", "TEAM"});
    for (const json& e : (*r)["tokens"]) {
      t.AddRow({e.value("id", ""), e.value("role", ""), e.value("name", ""), e.value("team", "-")});
    }
    std::cout << t.Render();
  });
  struct RevokeFlags {
    ClientFlags conn;
    std::string id;
  };
  auto rf = std::make_shared<RevokeFlags>();
  CLI::App* revoke =
      token->add_subcommand("revoke", "Revoke a token by its id (from token ls): it stops working at once");
  AddClientFlags(revoke, rf->conn);
  revoke->add_option("id", rf->id, "Token id (at least 8 hex digits)")->required();
  revoke->callback([rf, exit_code] {
    Result<json> r = Call(rf->conn, "DELETE", "/v1/tokens/" + net::PercentEncode(rf->id));
    if (!r) {
      *exit_code = ReportError(r.error());
      return;
    }
    std::cout << fmt::format("token {} revoked\n", r->value("id", ""));
  });
  CLI::App* c = token->add_subcommand("create", "Create a token; it is shown once");
  AddClientFlags(c, f->conn);
  c->add_option("--role", f->role, "team, node or admin")
      ->required()
      ->check(CLI::IsMember({"team", "node", "admin"}));
  c->add_option("--name", f->name, "What it is for (a person, a node, a bot)")->required();
  c->add_option("--team", f->team, "The team of a team token");
  c->callback([f, exit_code] {
    json body{{"role", f->role}, {"name", f->name}};
    if (!f->team.empty()) body["team"] = f->team;
    Result<json> r = Call(f->conn, "POST", "/v1/tokens", body.dump());
    if (!r) {
      *exit_code = ReportError(r.error());
      return;
    }
    std::cout << (*r)["token"].get<std::string>() << '\n';
  });
}

}  // namespace

void AddClientFlags(CLI::App* c, ClientFlags& flags) {
  c->add_option("--server", flags.server, "Server URL (default: $GPUSLICE_SERVER, then the client config)");
  c->add_option("--token", flags.token, "Bearer token (default: $GPUSLICE_TOKEN, then the client config)");
}

int ReportError(const Error& e) {
  std::cerr << "gpuslice: " << e.message << '\n';
  return e.code == ErrorCode::kInvalidArgument ? kExitUsage : kExitNo;
}

Result<json> Call(const ClientFlags& flags, const std::string& method, const std::string& target,
                  const std::string& body) {
  Result<ClientSettings> settings = ResolveClientSettings(flags.server, flags.token);
  if (!settings) return Fail(settings.error());
  return CallServer(*settings, method, target, body);
}

std::optional<json> CallToShow(const ClientFlags& flags, int* exit_code, const std::string& method,
                               const std::string& target, const std::string& body) {
  Result<json> r = Call(flags, method, target, body);
  if (!r) {
    *exit_code = ReportError(r.error());
    return std::nullopt;
  }
  if (flags.json) {
    std::cout << r->dump(2) << '\n';
    return std::nullopt;
  }
  return std::move(*r);
}

Result<json> CallServer(const ClientSettings& to, const std::string& method, const std::string& target,
                        const std::string& body) {
  Result<std::unique_ptr<net::HttpClient>> client = net::HttpClient::Create(to.server);
  if (!client) return Fail(client.error());
  net::ClientRequest req;
  req.method = method;
  req.target = target;
  req.body = body;
  req.headers["Authorization"] = "Bearer " + to.token;
  if (!body.empty()) req.headers["Content-Type"] = "application/json";
  Result<net::Response> r = (*client)->Do(req);
  if (!r) return Fail(r.error().WithContext(to.server));
  if (r->status / 100 != 2) return Fail(ErrorFromResponse(*r));
  const json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) return Fail(ErrorCode::kUnavailable, "the server's answer is not JSON");
  return j;
}

Error ErrorFromResponse(const net::Response& r) {
  const json j = json::parse(r.body, nullptr, false);
  std::string message = r.body;
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_object() &&
      j["error"].contains("message") && j["error"]["message"].is_string()) {
    message = j["error"]["message"].get<std::string>();
  }
  return Error{r.status == 400 ? ErrorCode::kInvalidArgument : ErrorCode::kFailedPrecondition,
               fmt::format("{} ({})", message, r.status)};
}

std::string ClientConfigPath() {
  std::string base = Env("XDG_CONFIG_HOME");
  if (base.empty()) base = Env("HOME").empty() ? "." : Env("HOME") + "/.config";
  return base + "/gpuslice/client.json";
}

Result<void> WriteClientConfig(const std::string& server, const std::string& token_file) {
  const std::string path = ClientConfigPath();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(ErrorCode::kUnavailable, "cannot write {}: {}", tmp, std::strerror(errno));
  const std::string text = json{{"server", server}, {"token_file", token_file}}.dump(2) + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Fail(ErrorCode::kUnavailable, "cannot write {}", path);
  }
  return {};
}

Result<ClientSettings> ResolveClientSettings(const std::string& server_flag, const std::string& token_flag) {
  ClientSettings s{server_flag, token_flag};
  if (s.server.empty()) s.server = Env("GPUSLICE_SERVER");
  if (s.token.empty()) s.token = Env("GPUSLICE_TOKEN");
  if (s.server.empty() || s.token.empty()) {
    const std::string path = ClientConfigPath();
    if (Result<std::string> text = ReadFile(path, 64 * 1024)) {
      const json j = json::parse(*text, nullptr, false);
      if (j.is_discarded() || !j.is_object())
        return Fail(ErrorCode::kInvalidArgument, "{}: not valid JSON", path);
      if (s.server.empty()) s.server = j.value("server", "");
      if (s.token.empty() && j.contains("token_file") && j["token_file"].is_string()) {
        Result<std::string> token = ReadFile(j["token_file"].get<std::string>(), 4096);
        if (!token) return Fail(token.error().WithContext(path));
        s.token = std::string(*token);
        while (!s.token.empty() && (s.token.back() == '\n' || s.token.back() == ' ')) s.token.pop_back();
      }
    }
  }
  if (s.server.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "no server: pass --server URL, set GPUSLICE_SERVER, or start one with `gpuslice up`");
  }
  if (s.token.empty())
    return Fail(ErrorCode::kInvalidArgument, "no token: pass --token or set GPUSLICE_TOKEN");
  return s;
}

void AddClientCommands(CLI::App& app, int* exit_code) {
  AddRun(app, exit_code);
  AddList(app, exit_code);
  AddJobCommand(app, exit_code, "show", "Show one job");
  AddJobCommand(app, exit_code, "why",
                "Why a job is not running (quota, no legal slot and the nearest miss, …)");
  AddJobCommand(app, exit_code, "cancel", "Cancel a pending or running job");
  AddToken(app, exit_code);
}

}  // namespace gpuslice::cli
