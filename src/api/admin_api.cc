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
  if (!IsSaneName(t.name)) {
    return Fail(ErrorCode::kInvalidArgument,
                "name: '{}' is not a valid name (letters, digits, '.', '_', '+', '-')", t.name.substr(0, 64));
  }
  if (t.role == "team" && !IsSaneName(t.team)) {
    return Fail(ErrorCode::kInvalidArgument, "team: a team token needs a valid team name");
  }
  if (t.role != "team" && !t.team.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "team: only team tokens have a team");
  }
  return t;
}

Result<TeamRequest> ParseTeamRequest(std::string_view body) {
  Result<json> j = ReadStrictJson(body, kMaxSmallBodyBytes, kMaxJsonDepth);
  if (!j) return Fail(j.error());
  JsonDecoder d;
  TeamRequest t;
  if (d.Object(*j, "", {"kind", "parent", "weight", "quotas"})) {
    d.OptString(*j, "", "kind", &t.kind);
    if (j->contains("parent")) {
      t.parent_given = true;
      d.String(*j, "", "parent", &t.parent, /*required=*/false);  // null: a root
    }
    if (d.Member(*j, "", "weight", false) != nullptr) d.Int(*j, "", "weight", &t.weight.emplace());
    if (const json* q = d.Member(*j, "", "quotas", false)) {
      if (!q->is_object()) {
        d.Fail("quotas: expected an object of GPU class -> amounts");
      } else {
        for (const auto& [cls, amounts] : q->items()) {
          const std::string path = JoinPath("quotas", cls);
          if (!d.Object(amounts, path, {"nominal_mgpu", "borrowing_limit_mgpu", "lending_limit_mgpu"})) break;
          QuotaAmounts& a = t.quotas[cls];
          d.Int(amounts, path, "nominal_mgpu", &a.nominal_mgpu);
          d.OptInt(amounts, path, "borrowing_limit_mgpu", &a.borrowing_limit_mgpu);
          d.OptInt(amounts, path, "lending_limit_mgpu", &a.lending_limit_mgpu);
          for (const auto& [what, v] : {std::pair{"nominal_mgpu", std::optional(a.nominal_mgpu)},
                                        std::pair{"borrowing_limit_mgpu", a.borrowing_limit_mgpu},
                                        std::pair{"lending_limit_mgpu", a.lending_limit_mgpu}}) {
            if (d.ok() && v && (*v < 0 || *v > kMaxTeamMilliGpu)) {
              d.Fail("{}.{}: {} is not an amount of milli-GPU (0 to {})", path, what, *v, kMaxTeamMilliGpu);
            }
          }
          if (cls.empty() || cls.size() > 128) d.Fail("{}: expected a GPU class name", path);
        }
      }
    }
  }
  if (!d.ok()) return Fail(d.TakeError());
  if (t.kind && *t.kind != "team" && *t.kind != "cohort") {
    return Fail(ErrorCode::kInvalidArgument, "kind: '{}' is not team or cohort", t.kind->substr(0, 32));
  }
  if (t.parent_given && !t.parent.empty() && !IsSaneName(t.parent)) {
    return Fail(ErrorCode::kInvalidArgument, "parent: '{}' is not a valid cohort name",
                t.parent.substr(0, 64));
  }
  if (t.weight && (*t.weight < 0 || *t.weight > kMaxTeamWeight)) {
    return Fail(ErrorCode::kInvalidArgument, "weight: {} is out of range (0 to {})", *t.weight,
                kMaxTeamWeight);
  }
  return t;
}

}  // namespace gpuslice::api
