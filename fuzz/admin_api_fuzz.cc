// libFuzzer target: the node registration and token request bodies (POST /v1/agent/register,
// POST /v1/tokens). They must never crash, and what they accept must obey their rules.
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
  return 0;
}
