#include "mig/catalog_data.h"

namespace gpuslice::mig {

std::vector<GpuModel> BuiltInModels() { return {}; }  // filled in next

}  // namespace gpuslice::mig
