// Fuzzes ParsePlacementSpec and ResolvePlacementSpecs: the input is split on whitespace like a
// command line, each word parsed, and the accepted specs resolved on two models with different
// grids (A100-40GB: 8 units, RTX PRO 6000: 12 units). A resolved layout must be valid.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "mig/catalog.h"
#include "mig/layout.h"
#include "mig/mig_parted.h"

namespace {

using gpuslice::mig::Geometry;

std::vector<Geometry> Geometries() {
  std::vector<Geometry> out;
  for (const char* name : {"A100-40GB", "RTX-PRO-6000"}) {
    auto gpu = gpuslice::mig::Catalog::BuiltIn().Resolve(name);
    if (!gpu) std::abort();
    auto g = Geometry::Build(*gpu->model);
    if (!g) std::abort();
    out.push_back(std::move(*g));
  }
  return out;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<Geometry> geometries = Geometries();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<gpuslice::mig::PlacementSpec> specs;
  std::size_t i = 0;
  while (i < text.size() && specs.size() < 32) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    std::size_t j = i;
    while (j < text.size() && !IsSpace(text[j])) ++j;
    if (j > i) {
      auto spec = gpuslice::mig::ParsePlacementSpec(text.substr(i, j - i));
      if (spec) specs.push_back(*spec);
    }
    i = j;
  }
  for (const Geometry& g : geometries) {
    auto layout = gpuslice::mig::ResolvePlacementSpecs(g, specs);
    if (layout && (layout->size() != specs.size() || !g.Validate(*layout))) std::abort();
  }
  return 0;
}
