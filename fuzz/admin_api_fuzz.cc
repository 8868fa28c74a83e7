// libFuzzer target: the node registration, token request and team bodies (POST
// /v1/agent/register, POST /v1/tokens, PUT /v1/teams/{name}). They must never crash, and what they accept
// must obey their rules.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/admin_api.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  if (const auto r = gpuslice::api::ParseNodeRegistration(body)) {
    if (r->gpus < 1 || r->gpus > gpuslice::api::kMaxGpusPerNode || r->node.empty()) std::abort();
  }
  if (const auto t = gpuslice::api::ParseTokenRequest(body)) {
    if (t->name.empty() || (t->role == "team") == t->team.empty()) std::abort();
  }
  if (const auto team = gpuslice::api::ParseTeamRequest(body)) {
    for (const auto& [cls, q] : team->quotas) {
      if (cls.empty() || q.nominal_mgpu < 0 || q.nominal_mgpu > gpuslice::api::kMaxTeamMilliGpu) std::abort();
    }
  }
  return 0;
}
