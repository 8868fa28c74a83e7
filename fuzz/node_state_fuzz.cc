// Fuzzes the node-state wire format (src/api/node_state): any bytes get a document or an error,
// never a crash; every accepted document is valid and survives a round trip through JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/node_state.h"

namespace {

template <typename Parse, typename Validate>
void Check(std::string_view text, Parse parse, Validate validate) {
  auto state = parse(text);
  if (!state) {
    if (state.error().message.empty()) std::abort();
    return;
  }
  if (!validate(*state)) std::abort();
  const std::string again =
      gpuslice::api::ToJson(*state).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  auto back = parse(again);
  if (!back || !(*back == *state)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Check(text, gpuslice::api::ParseDesiredNodeState, gpuslice::api::ValidateDesiredNodeState);
  Check(text, gpuslice::api::ParseActualNodeState, gpuslice::api::ValidateActualNodeState);
  return 0;
}
