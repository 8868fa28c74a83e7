// Fuzzes the SimBackend state-file parser and the NVML reply validation: any bytes get a state or
// an error, never a crash, hang or sanitizer report.
//
// An accepted state must hold what ParseSimState promises: it serialises and parses back to the
// same text, and the simulated driver can answer every view of every GPU and try a create and a
// destroy on it without breaking. The same bytes are also fed to the fault parser and, as raw
// reply buffers, to the NVML process decoder and profile check.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "gpu/nvml_reply.h"
#include "gpu/sim_driver.h"
#include "gpu/sim_state.h"

namespace {

using namespace gpuslice::gpu;  // NOLINT(google-build-using-namespace): a fuzz target

void Exercise(SimState& s) {
  for (int gpu = 0; gpu < static_cast<int>(s.gpus.size()); ++gpu) {
    (void)sim::Info(s, gpu);
    (void)sim::Health(s, gpu);
    (void)sim::Processes(s, gpu);
    GpuResult<GpuGeometry> geo = sim::Geometry(s, gpu);
    GpuResult<std::vector<Instance>> all = sim::Instances(s, gpu);
    if (all) {
      for (const Instance& in : *all) (void)sim::Usage(s, gpu, in.gpu_instance_id);
    }
    if (geo && !geo->profiles.empty() && !geo->profiles.back().placements.empty()) {
      const GpuProfile& p = geo->profiles.back();
      GpuResult<int> gi = sim::CreateGpuInstance(s, gpu, p.profile_id, p.placements.back().start);
      if (gi) {
        (void)sim::CreateComputeInstance(s, gpu, *gi);
        (void)sim::DestroyComputeInstance(s, gpu, *gi, 0);
        (void)sim::DestroyGpuInstance(s, gpu, *gi);
      }
    }
  }
  sim::Reboot(s);
}

void NvmlReplies(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  (void)DecodeProcesses(data + 1, size - 1, data[0]);
  nvml::GpuInstanceProfileInfoV2 info;
  if (size < sizeof info) return;
  std::memcpy(&info, data, sizeof info);
  const std::size_t rest = size - sizeof info;
  nvml::GpuInstancePlacement placements[16];
  const std::size_t n = std::min(rest / sizeof(nvml::GpuInstancePlacement), std::size_t{16});
  std::memcpy(placements, data + sizeof info, n * sizeof(nvml::GpuInstancePlacement));
  (void)ProfileFromNvml(info, std::span(placements, n), static_cast<unsigned>(info.instance_count % 20));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  gpuslice::Result<SimState> state = ParseSimState(text);
  if (state) {
    const std::string once = SerializeSimState(*state);
    gpuslice::Result<SimState> again = ParseSimState(once);
    if (!again || SerializeSimState(*again) != once) std::abort();  // a round trip must be exact
    Exercise(*state);
    if (!ParseSimState(SerializeSimState(*state))) std::abort();  // the driver keeps states valid
  }
  (void)ParseSimFaults(text);
  NvmlReplies(data, size);
  return 0;
}
