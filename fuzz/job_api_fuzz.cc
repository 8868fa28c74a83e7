// libFuzzer target: the REST job submission body (POST /v1/jobs). It must never crash, and what
// it accepts must survive a round trip through ToJson.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/job_api.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const gpuslice::Result<gpuslice::api::JobSubmit> job = gpuslice::api::ParseJobSubmit(body);
  if (job) {
    const auto again = gpuslice::api::ParseJobSubmit(gpuslice::api::ToJson(*job).dump());
    if (!again || gpuslice::api::ToJson(*again) != gpuslice::api::ToJson(*job)) std::abort();
  }
  return 0;
}
