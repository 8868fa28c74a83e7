#include "mig/catalog.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "mig/catalog_data.h"

namespace gpuslice::mig {
namespace {

// Levenshtein distance, for "did you mean" suggestions over a few dozen short names.
std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

Catalog::Catalog(std::vector<GpuModel> models) : models_(std::move(models)) {
  if (const Result<void> ok = Check(models_); !ok) {
    // The table is compiled in or built by a test; an inconsistency is a programming error.
    std::fprintf(stderr, "gpuslice: invalid GPU catalog: %s\n", ok.error().message.c_str());
    std::abort();
  }
}

const Catalog& Catalog::BuiltIn() {
  static const Catalog* const catalog = new Catalog(BuiltInModels());
  return *catalog;
}

Result<void> Catalog::Check(std::span<const GpuModel> models) {
  std::set<std::string> names;
  std::set<std::uint32_t> pci_ids;
  for (const GpuModel& m : models) {
    for (std::uint32_t id : m.pci_ids) {
      if (!pci_ids.insert(id).second) {
        return Fail(ErrorCode::kInternal, "model {}: PCI id 0x{:08X} belongs to another model too", m.name,
                    id);
      }
    }
    auto claim = [&](std::string_view n) -> Result<void> {
      if (!names.insert(NormalizeGpuName(n)).second) {
        return Fail(ErrorCode::kInternal, "model {}: name or alias '{}' is used twice", m.name, n);
      }
      return {};
    };
    if (auto r = claim(m.name); !r) return r;
    for (const Sku& s : m.skus) {
      if (NormalizeGpuName(s.name) == NormalizeGpuName(m.name)) continue;
      if (auto r = claim(s.name); !r) return r;
    }
    for (const std::string& a : m.aliases) {
      if (auto r = claim(a); !r) return r;
    }
    if (m.skus.empty()) return Fail(ErrorCode::kInternal, "model {} has no SKU", m.name);
    if (!m.mig_capable) {
      if (!m.profiles.empty())
        return Fail(ErrorCode::kInternal, "model {} has no MIG but has profiles", m.name);
      continue;
    }
    if (m.memory_units <= 0 || m.memory_units > kMaxMemoryUnits) {
      return Fail(ErrorCode::kInternal, "model {}: grid of {} units", m.name, m.memory_units);
    }
    if (m.compute_slices <= 0) return Fail(ErrorCode::kInternal, "model {}: no compute slices", m.name);
    if (m.profiles.empty() || m.profiles.size() > static_cast<std::size_t>(kMaxProfiles)) {
      return Fail(ErrorCode::kInternal, "model {}: {} profiles", m.name, m.profiles.size());
    }
    std::set<std::string> profile_names;
    for (const Profile& p : m.profiles) {
      if (!profile_names.insert(NormalizeGpuName(p.name)).second) {
        return Fail(ErrorCode::kInternal, "model {}: profile {} twice", m.name, p.name);
      }
      if (p.size_units <= 0 || p.size_units > m.memory_units || p.compute_slices <= 0 ||
          p.compute_slices > m.compute_slices || p.max_count <= 0 || p.starts.empty()) {
        return Fail(ErrorCode::kInternal, "model {}: profile {} has an impossible shape", m.name, p.name);
      }
      for (std::size_t i = 0; i < p.starts.size(); ++i) {
        if (p.starts[i] < 0 || p.starts[i] + p.size_units > m.memory_units ||
            (i > 0 && p.starts[i] <= p.starts[i - 1])) {
          return Fail(ErrorCode::kInternal, "model {}: profile {} start {} is outside the grid or unsorted",
                      m.name, p.name, p.starts[i]);
        }
      }
    }
  }
  return {};
}

Result<ResolvedGpu> Catalog::Resolve(std::string_view name) const {
  const std::string key = NormalizeGpuName(name);
  if (key.empty()) return Fail(ErrorCode::kInvalidArgument, "empty GPU model name");
  for (const GpuModel& m : models_) {
    for (const Sku& s : m.skus) {
      if (NormalizeGpuName(s.name) == key) return ResolvedGpu{&m, &s};
    }
  }
  for (const GpuModel& m : models_) {
    if (NormalizeGpuName(m.name) == key) return ResolvedGpu{&m, nullptr};
    for (const std::string& a : m.aliases) {
      if (NormalizeGpuName(a) == key) return ResolvedGpu{&m, nullptr};
    }
  }
  // Suggest the three closest names.
  std::vector<std::pair<std::size_t, std::string>> scored;
  for (const GpuModel& m : models_) {
    scored.emplace_back(EditDistance(key, NormalizeGpuName(m.name)), m.name);
    for (const Sku& s : m.skus) scored.emplace_back(EditDistance(key, NormalizeGpuName(s.name)), s.name);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> close;
  for (const auto& [d, n] : scored) {
    if (close.size() == 3) break;
    if (std::find(close.begin(), close.end(), n) == close.end()) close.push_back(n);
  }
  return Fail(ErrorCode::kNotFound,
              "unknown GPU model '{}' (closest: {}; `gpuslice mig gpus` lists them all)", name,
              fmt::join(close, ", "));
}

bool Catalog::MatchesPciId(const ResolvedGpu& gpu, std::uint32_t pci_id) {
  if (gpu.sku != nullptr && gpu.sku->pci_id) return *gpu.sku->pci_id == pci_id;
  if (gpu.model == nullptr) return false;
  return std::find(gpu.model->pci_ids.begin(), gpu.model->pci_ids.end(), pci_id) != gpu.model->pci_ids.end();
}

Result<ResolvedGpu> Catalog::ResolvePciId(std::uint32_t pci_id) const {
  for (const GpuModel& m : models_) {
    for (const Sku& s : m.skus) {
      if (s.pci_id && *s.pci_id == pci_id) return ResolvedGpu{&m, &s};
    }
  }
  for (const GpuModel& m : models_) {
    if (std::find(m.pci_ids.begin(), m.pci_ids.end(), pci_id) != m.pci_ids.end()) {
      return ResolvedGpu{&m, nullptr};
    }
  }
  return Fail(ErrorCode::kNotFound, "no GPU model with PCI id 0x{:08X} in the catalog", pci_id);
}

}  // namespace gpuslice::mig
