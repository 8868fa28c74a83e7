// JSON encodings of the MIG geometry types (catalog models, profiles, layouts, plans).
//
// These shapes are part of gpuslice's public interface: `gpuslice mig … --json` prints them and
// the server's layout endpoints will return them. They are documented in docs/cli-json.md;
// change them only compatibly (add fields, never rename or remove).
//
// Unknown catalog facts are JSON null, and each profile lists them in "unknown".
// Thread-safety: plain functions.
#pragma once

#include <nlohmann/json.hpp>
#include <span>

#include "mig/catalog.h"
#include "mig/layout.h"
#include "mig/mig_parted.h"

namespace gpuslice::api {

nlohmann::json ProfileToJson(const mig::GpuModel& model, const mig::Profile& profile);
// The model with its SKUs and, when `with_profiles`, its profiles.
nlohmann::json ModelToJson(const mig::GpuModel& model, bool with_profiles);
// [{"profile": "3g.20gb", "start": 4, "size": 4, "compute_slices": 3, "units": [4,5,6,7]}, ...]
nlohmann::json LayoutToJson(const mig::Geometry& geometry, std::span<const mig::Placement> layout);
nlohmann::json GpuPlanToJson(const mig::GpuPlan& plan);

}  // namespace gpuslice::api
