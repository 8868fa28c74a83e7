#include "api/mig_json.h"

#include <fmt/format.h>

namespace gpuslice::api {
namespace {

using nlohmann::json;

template <typename T, typename F>
json OrNull(const std::optional<T>& v, F&& f) {
  return v ? json(f(*v)) : json(nullptr);
}

std::string_view MediaName(mig::MediaAttr m) {
  switch (m) {
    case mig::MediaAttr::kDefault: return "default";
    case mig::MediaAttr::kMe: return "me";
    case mig::MediaAttr::kMeAll: return "me.all";
    case mig::MediaAttr::kNoMe: return "no-me";
  }
  return "default";
}

std::string PciId(std::uint32_t id) {
  return fmt::format("0x{:08X}", id);
}

}  // namespace

json ProfileToJson(const mig::GpuModel& model, const mig::Profile& p) {
  json j{
      {"name", p.name},
      {"device_profile_id", OrNull(p.device_profile_id, [](int v) { return v; })},
      {"compute_slices", p.compute_slices},
      {"size_units", p.size_units},
      {"memory_mib", OrNull(p.memory, [](MiB v) { return v.value(); })},
      {"sm_count", OrNull(p.sm_count, [](int v) { return v; })},
      {"copy_engines", OrNull(p.copy_engines, [](int v) { return v; })},
      {"media_engines",
       OrNull(p.media_engines,
              [](const mig::MediaEngines& e) {
                return json{
                    {"decoders", e.decoders}, {"encoders", e.encoders}, {"jpeg", e.jpeg}, {"ofa", e.ofa}};
              })},
      {"max_count", p.max_count},
      {"starts", p.starts},
      {"media", MediaName(p.media)},
      {"gfx", p.gfx},
      {"double_memory", p.double_memory},
      {"cost_mgpu", model.Cost(p).value()},
  };
  json unknown = json::array();
  for (std::string_view f : p.UnknownFields()) unknown.push_back(f);
  j["unknown"] = std::move(unknown);
  return j;
}

json ModelToJson(const mig::GpuModel& m, bool with_profiles) {
  json skus = json::array();
  for (const mig::Sku& s : m.skus) {
    skus.push_back({{"name", s.name}, {"pci_id", s.pci_id ? json(PciId(*s.pci_id)) : json(nullptr)}});
  }
  json pci_ids = json::array();
  for (std::uint32_t id : m.pci_ids) pci_ids.push_back(PciId(id));
  json unknown = json::array();
  for (const mig::Profile& p : m.profiles) {
    for (std::string_view f : p.UnknownFields()) unknown.push_back(fmt::format("{}.{}", p.name, f));
  }
  json j{
      {"name", m.name},
      {"architecture", mig::ArchitectureName(m.architecture)},
      {"mig_capable", m.mig_capable},
      {"memory_units", m.memory_units},
      {"compute_slices", m.compute_slices},
      {"memory_mib", m.memory ? json(m.memory->value()) : json(nullptr)},
      {"skus", std::move(skus)},
      {"pci_ids", std::move(pci_ids)},
      {"aliases", m.aliases},
      {"placements", mig::ProvenanceName(m.placements)},
      {"unknown", std::move(unknown)},
      {"notes", m.notes},
  };
  if (with_profiles) {
    json profiles = json::array();
    for (const mig::Profile& p : m.profiles) profiles.push_back(ProfileToJson(m, p));
    j["profiles"] = std::move(profiles);
  }
  return j;
}

json LayoutToJson(const mig::Geometry& g, std::span<const mig::Placement> layout) {
  json out = json::array();
  for (const mig::Placement& p : layout) {
    const mig::Profile& prof = g.model().profiles[static_cast<std::size_t>(p.profile)];
    json units = json::array();
    for (int u = p.start; u < p.start + prof.size_units; ++u) units.push_back(u);
    out.push_back({{"profile", prof.name},
                   {"start", p.start},
                   {"size", prof.size_units},
                   {"compute_slices", prof.compute_slices},
                   {"units", std::move(units)}});
  }
  return out;
}

json GpuPlanToJson(const mig::GpuPlan& plan) {
  json j{{"index", plan.index},
         {"model", plan.gpu.model != nullptr ? json(plan.gpu.model->name) : json(nullptr)},
         {"sku", plan.gpu.sku != nullptr ? json(plan.gpu.sku->name) : json(nullptr)},
         {"matched", plan.matched},
         {"mig_enabled", plan.mig_enabled}};
  json placements = json::array();
  if (plan.gpu.model != nullptr && plan.mig_enabled) {
    for (std::size_t i = 0; i < plan.placements.size(); ++i) {
      const mig::Placement& p = plan.placements[i];
      const mig::Profile& prof = plan.gpu.model->profiles[static_cast<std::size_t>(p.profile)];
      json e{{"profile", prof.name},
             {"start", p.start},
             {"size", prof.size_units},
             {"compute_slices", prof.compute_slices}};
      if (i < plan.compute_instance_slices.size() && plan.compute_instance_slices[i] > 0) {
        e["compute_instance_slices"] = plan.compute_instance_slices[i];
      }
      placements.push_back(std::move(e));
    }
  }
  j["placements"] = std::move(placements);
  return j;
}

}  // namespace gpuslice::api
