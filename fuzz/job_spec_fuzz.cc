// Fuzzes gpuslice's own workload formats and the generator spec: any bytes get jobs or an error;
// every accepted job is valid, and what is accepted survives a round trip through both formats.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sim/job_spec.h"
#include "sim/workload_gen.h"

namespace {

void CheckRoundTrip(const std::vector<gpuslice::sim::JobSpec>& jobs) {
  for (const auto& j : jobs) {
    if (!gpuslice::sim::ValidateJobSpec(j)) std::abort();
  }
  auto csv = gpuslice::sim::ParseJobsCsv(gpuslice::sim::FormatJobsCsv(jobs));
  auto jsonl = gpuslice::sim::ParseJobsJsonl(gpuslice::sim::FormatJobsJsonl(jobs));
  if (!csv || *csv != jobs || !jsonl || *jsonl != jobs) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto jobs = gpuslice::sim::ParseJobsCsv(text)) CheckRoundTrip(*jobs);
  if (auto jobs = gpuslice::sim::ParseJobsJsonl(text)) CheckRoundTrip(*jobs);
  if (size <= 256) {
    if (auto spec = gpuslice::sim::ParseGeneratorSpec(text); spec && spec->jobs <= 200) {
      gpuslice::Rng rng(1);
      CheckRoundTrip(gpuslice::sim::GenerateWorkload(*spec, rng));
    }
  }
  return 0;
}
