// The built-in table behind Catalog::BuiltIn(): one GpuModel per MIG geometry in
// reference/mig-facts.md §2, plus common GPUs without MIG. Data only; see catalog.h.
#pragma once

#include <vector>

#include "mig/gpu_model.h"

namespace gpuslice::mig {

std::vector<GpuModel> BuiltInModels();

}  // namespace gpuslice::mig
