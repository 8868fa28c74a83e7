// Fuzzes gpuslice::ParseMemory: any text gets a value or an error; an accepted size is
// non-negative and within the documented 1 EiB limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/units.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto mib = gpuslice::ParseMemory(text);
  if (mib && (mib->value() < 0 || mib->value() > (std::int64_t{1} << 40))) std::abort();
  if (mib) (void)gpuslice::FormatMemory(*mib);
  return 0;
}
