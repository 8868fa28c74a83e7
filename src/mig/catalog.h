// Catalog: the built-in table of GPU models gpuslice knows (reference/mig-facts.md §2).
//
// Every MIG-capable model of the reference — A30, A100 40GB/80GB, H100 80GB, H100 94GB (NVL),
// H100 96GB / GH200 96GB / H20, H200 141GB, GH200 144GB, B200, GB200, B300, GB300, RTX PRO
// 6000 / 5000 / 4500 Blackwell — plus common GPUs without MIG (A10G, L4, L40S, T4, V100), so a
// mixed fleet can be described and `gpuslice mig` can say plainly that a model has no MIG.
//
// The catalog serves simulation, validation and offline planning. On real hardware the agent
// reports the geometry it reads from NVML and the server trusts that (DESIGN.md §3).
//
// Thread-safety: the catalog is built once, on first use, and immutable afterwards.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "common/error.h"
#include "mig/gpu_model.h"

namespace gpuslice::mig {

// A GPU as named by a person or a config: the model and, when the name or PCI id picks one,
// the SKU ("A100-PCIE-40GB" resolves to model A100-40GB with its PCIe SKU). `sku` is nullptr
// when the name names the model rather than one SKU of it.
struct ResolvedGpu {
  const GpuModel* model = nullptr;
  const Sku* sku = nullptr;
};

class Catalog {
 public:
  // The built-in catalog.
  static const Catalog& BuiltIn();

  std::span<const GpuModel> models() const { return models_; }

  // Resolves a model name, SKU name or alias, ignoring case, spaces, '-', '_' and a leading
  // "NVIDIA": "NVIDIA A100-SXM4-40GB", "A100-SXM4-40GB" and "a100-40gb" all resolve.
  // Errors: kNotFound with the closest known names when nothing matches.
  Result<ResolvedGpu> Resolve(std::string_view name) const;

  // True when a GPU of this model/SKU matches a mig-parted `device-filter` id: the SKU's own id
  // when the SKU is known, else any id of the model.
  static bool MatchesPciId(const ResolvedGpu& gpu, std::uint32_t pci_id);

  // Finds the model (and the SKU, when the id names one) with this PCI device id (0x20B010DE);
  // kNotFound when unknown.
  Result<ResolvedGpu> ResolvePciId(std::uint32_t pci_id) const;

  // For tests and for geometry read from NVML: a catalog over the given models.
  // Errors in the table itself are programming errors and abort at construction
  // (Catalog::Check is run by the unit tests over the built-in table).
  explicit Catalog(std::vector<GpuModel> models);

  // Checks the internal consistency of every model: starts within the grid, sizes, max counts,
  // unique names and aliases. Returns the first problem found.
  static Result<void> Check(std::span<const GpuModel> models);

 private:
  std::vector<GpuModel> models_;
};

}  // namespace gpuslice::mig
