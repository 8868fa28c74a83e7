#include "mig/gpu_model.h"

#include <algorithm>
#include <cctype>

namespace gpuslice::mig {

std::string_view ArchitectureName(Architecture arch) {
  switch (arch) {
    case Architecture::kVolta: return "Volta";
    case Architecture::kTuring: return "Turing";
    case Architecture::kAmpere: return "Ampere";
    case Architecture::kAda: return "Ada";
    case Architecture::kHopper: return "Hopper";
    case Architecture::kBlackwell: return "Blackwell";
  }
  return "unknown";
}

std::string_view ProvenanceName(Provenance p) {
  return p == Provenance::kCaptured ? "captured" : "inferred";
}

std::vector<std::string_view> Profile::UnknownFields() const {
  std::vector<std::string_view> out;
  if (!device_profile_id) out.push_back("device_profile_id");
  if (!memory) out.push_back("memory");
  if (!sm_count) out.push_back("sm_count");
  if (!copy_engines) out.push_back("copy_engines");
  if (!media_engines) out.push_back("media_engines");
  return out;
}

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

const Profile* GpuModel::FindProfile(std::string_view profile_name) const {
  const int i = ProfileIndex(profile_name);
  return i < 0 ? nullptr : &profiles[static_cast<std::size_t>(i)];
}

int GpuModel::ProfileIndex(std::string_view profile_name) const {
  for (std::size_t i = 0; i < profiles.size(); ++i) {
    if (EqualsIgnoreCase(profiles[i].name, profile_name)) return static_cast<int>(i);
  }
  return -1;
}

const Profile* GpuModel::FullProfile() const {
  for (const Profile& p : profiles) {
    if (p.size_units == memory_units && p.media == MediaAttr::kDefault && !p.gfx) return &p;
  }
  return nullptr;
}

MilliGpu GpuModel::Cost(const Profile& profile) const {
  // cost = ceil(1000 * max(compute/C, units/U)), compared as fractions to stay in integers.
  if (compute_slices <= 0 || memory_units <= 0) return MilliGpu(1000);
  const std::int64_t by_compute = (1000LL * profile.compute_slices + compute_slices - 1) / compute_slices;
  const std::int64_t by_memory = (1000LL * profile.size_units + memory_units - 1) / memory_units;
  return MilliGpu(std::max(by_compute, by_memory));
}

std::string NormalizeGpuName(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c == ' ' || c == '-' || c == '_' || c == '\t') continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  constexpr std::string_view kPrefix = "nvidia";
  if (out.size() > kPrefix.size() && out.compare(0, kPrefix.size(), kPrefix) == 0) {
    out.erase(0, kPrefix.size());
  }
  return out;
}

}  // namespace gpuslice::mig
