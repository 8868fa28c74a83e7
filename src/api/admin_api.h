// Small request bodies of the REST API besides the job submission (DESIGN.md §6), parsed as
// strictly as it is: bounded, unknown fields and duplicate keys rejected, every error naming the
// field.
//
//   POST /v1/agent/register  {"node": "gpu-07", "gpu_model": "A100-SXM4-80GB", "gpus": 8}
//   POST /v1/tokens          {"role": "team", "name": "alice", "team": "nlp"}
//                            (role: admin, team or node; "team" only, and always, for team tokens)
//
// Thread-safety: plain values and functions.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"

namespace gpuslice::api {

inline constexpr std::size_t kMaxSmallBodyBytes = 64 * 1024;
inline constexpr int kMaxGpusPerNode = 64;

struct NodeRegistration {
  std::string node;
  std::string gpu_model;  // a catalog model, SKU or alias (the server resolves it)
  int gpus = 0;           // 1..kMaxGpusPerNode
};
Result<NodeRegistration> ParseNodeRegistration(std::string_view body);

struct TokenRequest {
  std::string role;  // "admin", "team" or "node"
  std::string name;  // who or what it is for: 1..128 printable characters
  std::string team;  // team tokens only
};
Result<TokenRequest> ParseTokenRequest(std::string_view body);

}  // namespace gpuslice::api
