// Fuzzes the Alibaba GPU trace v2023 readers: the input is parsed as a pod list and as a node
// list. Either parse gives rows or an error; accepted rows respect the documented ranges, and
// every accepted pod maps onto MIG (A100-40GB, both modes) without an error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "mig/catalog.h"
#include "mig/layout.h"
#include "sim/alibaba_trace.h"

namespace {

using gpuslice::sim::TracePod;

const gpuslice::mig::Geometry& A100() {
  static const gpuslice::mig::Geometry geometry = [] {
    auto gpu = gpuslice::mig::Catalog::BuiltIn().Resolve("A100-40GB");
    if (!gpu) std::abort();
    auto g = gpuslice::mig::Geometry::Build(*gpu->model);
    if (!g) std::abort();
    return std::move(*g);
  }();
  return geometry;
}

void CheckPod(const TracePod& p) {
  using namespace gpuslice::sim;
  if (p.name.empty() || p.num_gpu < 0 || p.num_gpu > kMaxPodGpus) std::abort();
  if (p.gpu_milli < 0 || p.gpu_milli > kMilliPerGpu || p.cpu_milli < 0 || p.memory_mib < 0) std::abort();
  if (p.creation_time && p.deletion_time && *p.deletion_time < *p.creation_time) std::abort();
  for (std::size_t i = 0; i < p.gpu_spec.size(); ++i) {
    if (p.gpu_spec[i].empty()) std::abort();
    for (std::size_t j = 0; j < i; ++j) {
      if (p.gpu_spec[i] == p.gpu_spec[j]) std::abort();
    }
  }
  for (MapMode mode : {MapMode::kByCompute, MapMode::kByMemory}) {
    auto demand = MapPod(p, A100(), mode);
    if (!demand) std::abort();
    if ((demand->kind == PodDemand::Kind::kNone) != (p.num_gpu == 0)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto pods = gpuslice::sim::ParseAlibabaPods(text);
  if (pods) {
    if (!gpuslice::sim::DetectPodLayout(text)) std::abort();
    for (const TracePod& p : *pods) CheckPod(p);
  } else if (pods.error().message.empty()) {
    std::abort();
  }
  auto nodes = gpuslice::sim::ParseAlibabaNodes(text);
  if (nodes) {
    for (const auto& n : *nodes) {
      if (n.name.empty() || n.gpus < 0 || n.gpus > gpuslice::sim::kMaxNodeGpus) std::abort();
      if ((n.gpus == 0) != n.model.empty()) std::abort();
    }
  } else if (nodes.error().message.empty()) {
    std::abort();
  }
  return 0;
}
