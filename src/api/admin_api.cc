#include "api/admin_api.h"

#include <algorithm>

#include "api/node_state.h"
#include "api/strict_json.h"

namespace gpuslice::api {

using nlohmann::json;

Result<NodeRegistration> ParseNodeRegistration(std::string_view body) {
  Result<json> j = ReadStrictJson(body, kMaxSmallBodyBytes, kMaxJsonDepth);
  if (!j) return Fail(j.error());
  JsonDecoder d;
  NodeRegistration r;
  if (d.Object(*j, "", {"node", "gpu_model", "gpus"})) {
    d.String(*j, "", "node", &r.node);
    d.String(*j, "", "gpu_model", &r.gpu_model);
    d.Int(*j, "", "gpus", &r.gpus);
  }
  if (!d.ok()) return Fail(d.TakeError());
  if (!IsSaneName(r.node)) {
    return Fail(ErrorCode::kInvalidArgument, "node: '{}' is not a valid node name", r.node.substr(0, 64));
  }
  if (r.gpu_model.empty() || r.gpu_model.size() > 128) {
    return Fail(ErrorCode::kInvalidArgument, "gpu_model: expected a GPU model name");
  }
  if (r.gpus < 1 || r.gpus > kMaxGpusPerNode) {
    return Fail(ErrorCode::kInvalidArgument, "gpus: {} is not a GPU count (1 to {})", r.gpus,
                kMaxGpusPerNode);
  }
  return r;
}

Result<TokenRequest> ParseTokenRequest(std::string_view body) {
  Result<json> j = ReadStrictJson(body, kMaxSmallBodyBytes, kMaxJsonDepth);
  if (!j) return Fail(j.error());
  JsonDecoder d;
  TokenRequest t;
  if (d.Object(*j, "", {"role", "name", "team"})) {
    d.String(*j, "", "role", &t.role);
    d.String(*j, "", "name", &t.name);
    d.String(*j, "", "team", &t.team, false);
  }
  if (!d.ok()) return Fail(d.TakeError());
  if (t.role != "admin" && t.role != "team" && t.role != "node") {
    return Fail(ErrorCode::kInvalidArgument, "role: '{}' is not admin, team or node", t.role.substr(0, 32));
  }
  const bool printable = std::all_of(t.name.begin(), t.name.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
  });
  if (t.name.empty() || t.name.size() > 128 || !printable) {
    return Fail(ErrorCode::kInvalidArgument, "name: expected 1 to 128 printable characters");
  }
  if (t.role == "team" && !IsSaneName(t.team)) {
    return Fail(ErrorCode::kInvalidArgument, "team: a team token needs a valid team name");
  }
  if (t.role != "team" && !t.team.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "team: only team tokens have a team");
  }
  return t;
}

}  // namespace gpuslice::api
