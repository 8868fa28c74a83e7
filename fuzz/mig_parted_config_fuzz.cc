// Fuzzes ParseMigPartedConfig, then PlanConfig of every config it accepts on a small mixed node.
//
// Any input must be answered with a value or an error: no crash, no sanitizer report, no hang,
// no runaway allocation (libFuzzer's -rss_limit_mb and -timeout catch the last two). A plan
// that succeeds must be a valid layout for its GPU.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "mig/catalog.h"
#include "mig/mig_parted.h"

namespace {

using gpuslice::mig::Catalog;
using gpuslice::mig::PlanGpu;

std::vector<PlanGpu> Node() {
  std::vector<PlanGpu> gpus;
  int index = 0;
  for (const char* name : {"NVIDIA A100-SXM4-40GB", "H100-80GB", "A30", "RTX-PRO-6000", "L4"}) {
    auto gpu = Catalog::BuiltIn().Resolve(name);
    if (!gpu) std::abort();  // the built-in catalog lacks a model this target relies on
    gpus.push_back({index++, *gpu});
  }
  return gpus;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<PlanGpu> gpus = Node();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = gpuslice::mig::ParseMigPartedConfig(text);
  if (!config) return 0;
  for (const auto& [name, entries] : config->configs) {
    auto plans = gpuslice::mig::PlanConfig(*config, name, gpus);
    if (!plans) continue;
    for (const auto& plan : *plans) {
      if (plan.placements.empty()) continue;
      auto geometry = gpuslice::mig::Geometry::Build(*plan.gpu.model);
      if (!geometry || !geometry->Validate(plan.placements)) std::abort();  // a plan must be valid
      if (plan.compute_instance_slices.size() != plan.placements.size()) std::abort();
    }
  }
  return 0;
}
