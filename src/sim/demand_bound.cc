#include "sim/demand_bound.h"

#include <algorithm>

namespace gpuslice::sim {

void DemandBound::Add(double slices, double gpu_share) {
  if (!(slices > 0) || !(gpu_share > 0)) return;
  Bucket& b = by_density_[slices / gpu_share];
  b.slices += slices;
  b.share += gpu_share;
  slices_ += slices;
}

double DemandBound::Value(double gpus, double total_slices) const {
  double value = 0, room = gpus;
  for (const auto& [density, b] : by_density_) {
    if (room <= 0 || value >= total_slices) break;
    const double take = std::min(room, b.share);
    value += take == b.share ? b.slices : density * take;
    room -= take;
  }
  return std::min(value, total_slices);
}

}  // namespace gpuslice::sim
