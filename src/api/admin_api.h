// Small request bodies of the REST API besides the job submission (DESIGN.md §6), parsed as
// strictly as it is: bounded, unknown fields and duplicate keys rejected, every error naming the
// field.
//
//   POST /v1/agent/register  {"node": "gpu-07", "gpu_model": "A100-SXM4-80GB", "gpus": 8}
//   POST /v1/tokens          {"role": "team", "name": "alice", "team": "nlp"}
//                            (role: admin, team or node; "team" only, and always, for team tokens)
//   PUT /v1/teams/{name}     {"kind": "team", "parent": "research", "weight": 1,
//                             "quotas": {"A100-80GB": {"nominal_mgpu": 4000,
//                                                      "borrowing_limit_mgpu": 2000,
//                                                      "lending_limit_mgpu": null}}}
//                            (every field optional: kind defaults to team for a new node,
//                            a missing parent/weight keeps the current one, "parent": null makes
//                            it a root; classes not in "quotas" keep their quotas)
//
// Thread-safety: plain values and functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
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
  std::string name;  // who or what it is for: a name (IsSaneName: letters, digits, . _ + -)
  std::string team;  // team tokens only
};
Result<TokenRequest> ParseTokenRequest(std::string_view body);

struct QuotaAmounts {
  std::int64_t nominal_mgpu = 0;
  std::optional<std::int64_t> borrowing_limit_mgpu, lending_limit_mgpu;  // unset: no limit
};
struct TeamRequest {
  std::optional<std::string> kind;  // "team" or "cohort"
  bool parent_given = false;
  std::string parent;  // with parent_given: "" makes it a root
  std::optional<std::int64_t> weight;
  std::map<std::string, QuotaAmounts> quotas;  // by GPU class (a catalog model name or alias)
};
inline constexpr std::int64_t kMaxTeamMilliGpu = 1'000'000'000'000;  // as sched::kMaxQuotaMilliGpu
inline constexpr std::int64_t kMaxTeamWeight = 1'000'000;
Result<TeamRequest> ParseTeamRequest(std::string_view body);

}  // namespace gpuslice::api
