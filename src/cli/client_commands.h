// The user-facing commands that talk to a gpuslice server (DESIGN.md §6, docs/api.md):
//
//   gpuslice run [--team T] (--profile P | --memory 20GiB [--compute N]) [--count N] [--same-node]
//                [--priority P] [--preemptible] [--kind batch|service|notebook] [--json] -- CMD…
//   gpuslice ls [--team T] [--phase P] [--json]
//   gpuslice show JOB [--json]      gpuslice why JOB      gpuslice cancel JOB
//   gpuslice token create --role team|node|admin --name NAME [--team T]
//   gpuslice logs JOB [-f]          gpuslice events [--after SEQ]       gpuslice top [--once]
//   gpuslice node ls|show|cordon|drain|uncordon …       gpuslice team ls|set …
//   gpuslice gpu set-mode NODE GPU dynamic|whole
//
// Where the server is and who you are: --server/--token flags, else GPUSLICE_SERVER /
// GPUSLICE_TOKEN, else the client config file that `gpuslice up` writes
// ($XDG_CONFIG_HOME/gpuslice/client.json or ~/.config/gpuslice/client.json:
// {"server": URL, "token_file": PATH}).
//
// Exit status: 0 done; 1 the server said no (not found, conflict, refused) or cannot be reached;
// 2 bad input.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/error.h"
#include "net/http_client.h"

namespace gpuslice::cli {

struct ClientSettings {
  std::string server;
  std::string token;
};

// One request with `to`'s token; a non-2xx answer becomes an Error with the server's message
// (kInvalidArgument for 400, kFailedPrecondition for the other refusals).
Result<nlohmann::json> CallServer(const ClientSettings& to, const std::string& method,
                                  const std::string& target, const std::string& body = "");

// The flags every client command has: --server, --token (and --json where it prints data).
struct ClientFlags {
  std::string server, token;
  bool json = false;
};
void AddClientFlags(CLI::App* command, ClientFlags& flags);
// CallServer with the settings the flags resolve to.
Result<nlohmann::json> Call(const ClientFlags& flags, const std::string& method, const std::string& target,
                            const std::string& body = "");
// Prints "gpuslice: <message>" to stderr; returns the exit status for it (2 bad input, else 1).
int ReportError(const Error& e);
// Call, for a command that renders the answer for people: an error is reported (its exit status
// in *exit_code) and, with --json, the answer is printed as it came; both give nullopt. Otherwise
// the answer, for the caller to render.
std::optional<nlohmann::json> CallToShow(const ClientFlags& flags, int* exit_code, const std::string& method,
                                         const std::string& target, const std::string& body = "");

// Resolves settings from flags (non-empty arguments), then the environment, then the config file.
Result<ClientSettings> ResolveClientSettings(const std::string& server_flag, const std::string& token_flag);
// The config file path ($XDG_CONFIG_HOME or ~/.config) and writing it (mode 0600).
// A non-2xx answer as an Error: the server's error.message (else the body) and the status; 400 is
// kInvalidArgument, anything else kFailedPrecondition.
Error ErrorFromResponse(const net::Response& response);

std::string ClientConfigPath();
Result<void> WriteClientConfig(const std::string& server, const std::string& token_file);

void AddClientCommands(CLI::App& app, int* exit_code);
// logs, node, team, events, top (cluster_commands.cc).
void AddClusterCommands(CLI::App& app, int* exit_code);
// `gpuslice gpu set-mode NODE GPU dynamic|whole` under the `gpu` command (cluster_commands.cc).
void AddGpuSetMode(CLI::App* gpu, int* exit_code);

}  // namespace gpuslice::cli
