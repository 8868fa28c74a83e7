// Fuzzes the simulator's cluster file: any bytes get a ClusterSpec or an error, never a crash,
// hang or partial result. Static layouts read one small mig-parted file from memory (any other
// path is "not found"). An accepted spec must hold the invariants the header promises.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "sim/cluster_spec.h"

namespace {

constexpr std::string_view kMigParted = R"(version: v1
mig-configs:
  all-3g:
    - devices: all
      mig-enabled: true
      mig-devices: {"3g.40gb": 2}
  half:
    - devices: [0, 1]
      mig-enabled: true
      mig-devices: {"1g.10gb": 7}
    - devices: [2, 3, 4, 5, 6, 7]
      mig-enabled: false
  off:
    - devices: all
      mig-enabled: false
)";

gpuslice::Result<std::string> ReadFile(const std::string& path) {
  if (path == "/f/p.yaml") return std::string(kMigParted);
  return gpuslice::Fail(gpuslice::ErrorCode::kNotFound, "no file {}", path);
}

void Check(const gpuslice::sim::ClusterSpec& spec) {
  using gpuslice::sim::GpuMode;
  const gpuslice::sim::ClusterTotals totals = gpuslice::sim::Totals(spec);
  if (spec.groups.empty() || totals.gpus > gpuslice::sim::kMaxClusterGpus) std::abort();
  for (const auto& g : spec.groups) {
    if (g.model == nullptr || g.count < 1 || g.gpus < 1 || g.gpus > gpuslice::sim::kMaxGpusPerNode)
      std::abort();
    if ((g.mode == GpuMode::kStatic) != g.layout.has_value()) std::abort();
    if (g.layout && g.layout->plans.size() != static_cast<std::size_t>(g.gpus)) std::abort();
    if (!g.model->mig_capable && (g.mode == GpuMode::kDynamic || g.mode == GpuMode::kStatic)) std::abort();
  }
  const auto classes = spec.GpuClasses();
  std::set<std::string> names;
  for (const auto& t : spec.teams) {
    if (!names.insert(t.name).second || t.quotas.empty()) std::abort();
    for (const auto& q : t.quotas) {
      if (std::find(classes.begin(), classes.end(), q.gpu_class) == classes.end()) std::abort();
      if (q.lending_limit && *q.lending_limit > q.nominal) std::abort();
    }
  }
  if (totals.nodes <= 10000) {
    const auto nodes = gpuslice::sim::ExpandNodes(spec);
    std::set<std::string> node_names;
    for (const auto& n : nodes) {
      if (!node_names.insert(n.name).second) std::abort();
    }
    if (static_cast<std::int64_t>(nodes.size()) != totals.nodes) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto spec = gpuslice::sim::ParseClusterSpec(text, "/f", ReadFile)) Check(*spec);
  return 0;
}
