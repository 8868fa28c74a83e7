// mig-parted configs: the YAML walk (after yaml_guard.h's checks), the per-GPU plan and placement specs.
#include "mig/mig_parted.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <exception>
#include <new>
#include <numeric>
#include <utility>

#include "mig/yaml_guard.h"

namespace gpuslice::mig {
namespace {

// Limits on untrusted input beyond yaml_guard.h's shape check (size, nesting): they bound what
// the walk below can be made to do.
constexpr std::size_t kMaxNodeVisits = 1 << 21;  // aliases can make a small file a big tree
constexpr int kMaxCount = 64;                    // no GPU holds more than 7 GPU instances
constexpr int kMaxGpuIndex = 1023;               // far above any node's GPU count
constexpr std::size_t kMaxProfileNameLength = 64;

std::string LineSuffix(int line) {
  return line > 0 ? fmt::format(" (line {})", line) : std::string();
}

// ---- Stage 2: the schema walk over yaml-cpp nodes (stage 1 is yaml_guard.h) -------------------

int LineOf(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

// A plain (unquoted, untagged) scalar: the only form counts, indices and booleans take, as in
// mig-parted, whose JSON step rejects "7" for an int and "true" for a bool.
bool IsPlain(const YAML::Node& n) {
  return n.IsScalar() && n.Tag() == "?";
}

bool IsYamlBool(std::string_view s, bool& value) {
  // YAML 1.1 booleans, which mig-parted's YAML library (go-yaml v2) resolves.
  static constexpr std::array<std::string_view, 11> kTrue = {"y",  "Y",  "yes",  "Yes",  "YES", "on",
                                                             "On", "ON", "true", "True", "TRUE"};
  static constexpr std::array<std::string_view, 11> kFalse = {"n",   "N",   "no",    "No",    "NO",   "off",
                                                              "Off", "OFF", "false", "False", "FALSE"};
  if (std::find(kTrue.begin(), kTrue.end(), s) != kTrue.end()) return value = true, true;
  if (std::find(kFalse.begin(), kFalse.end(), s) != kFalse.end()) return value = false, true;
  return false;
}

// Decimal digits only, no sign, no leading zeros, at most `max`.
std::optional<int> ParseBoundedInt(std::string_view s, int max) {
  if (s.empty() || s.size() > 9 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  if (!std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  int v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

bool IsHex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// "0x20B010DE" -> 0x20B010DE. A mig-parted v0.15 subsystem qualifier (":0x145110DE") is refused:
// gpuslice does not know a GPU's subsystem id, so it could only ignore the qualifier, and that
// would widen the filter to GPUs mig-parted leaves alone.
Result<std::uint32_t> ParsePciId(std::string_view s) {
  if (const std::size_t colon = s.find(':'); colon != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                "device-filter '{}' carries a PCI subsystem qualifier ('{}'); gpuslice cannot match "
                "subsystem ids, write the device id alone ('{}') to match every such GPU",
                s, s.substr(colon), s.substr(0, colon));
  }
  const bool prefixed = s.size() == 10 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  if (!prefixed || !std::all_of(s.begin() + 2, s.end(), IsHex)) {
    return Fail(ErrorCode::kInvalidArgument,
                "device-filter '{}' is not a PCI device id: expected '0x' and 8 hex digits, e.g. "
                "'0x20B010DE'",
                s);
  }
  std::uint32_t v = 0;
  std::from_chars(s.data() + 2, s.data() + s.size(), v, 16);
  return v;
}

// mig-parted's profile grammar: ["<c>c."] "<g>g.<mem>gb" ["+attr[,attr]" | "-attr"], attributes
// letters, digits and dots ("me", "me.all", "gfx"). Case is not significant here (the catalog
// lookup ignores it). Returns why `name` does not match, or nothing.
std::optional<std::string> ProfileNameProblem(std::string_view name) {
  if (name.empty()) return "empty profile name";
  if (name.size() > kMaxProfileNameLength)
    return fmt::format("longer than {} characters", kMaxProfileNameLength);
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t from = i;
    while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
    return i > from && i - from <= 4;
  };
  auto lit = [&](std::string_view w) {
    if (name.size() - i < w.size()) return false;
    for (std::size_t k = 0; k < w.size(); ++k) {
      if (std::tolower(static_cast<unsigned char>(name[i + k])) != w[k]) return false;
    }
    i += w.size();
    return true;
  };
  const std::size_t save = i;
  if (!(digits() && lit("c."))) i = save;  // optional compute-instance prefix
  if (!(digits() && lit("g.") && digits() && lit("gb")))
    return "expected e.g. '1g.5gb', '1c.3g.20gb', '1g.5gb+me'";
  if (i == name.size()) return std::nullopt;
  if (name[i] != '+' && name[i] != '-') return "unexpected text after the memory size";
  ++i;
  bool attr_start = true;
  for (; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (c == ',') {
      if (attr_start) return "empty attribute";
      attr_start = true;
    } else if (std::isalpha(c) || (!attr_start && (std::isdigit(c) || c == '.'))) {
      attr_start = false;
    } else {
      return fmt::format("bad character '{}' in the attributes", name[i]);
    }
  }
  if (attr_start) return "empty attribute";
  return std::nullopt;
}

class ConfigWalker {
 public:
  Result<MigPartedConfig> Document(const YAML::Node& root);

 private:
  // Counts every node looked at; aliases let a small file describe a huge tree.
  Result<void> Visit(const YAML::Node& n) {
    if (++visits_ > kMaxNodeVisits) {
      return Fail(ErrorCode::kInvalidArgument,
                  "line {}: the config expands to more than {} YAML nodes (aliases repeated too often?)",
                  LineOf(n), kMaxNodeVisits);
    }
    return {};
  }
  Result<std::vector<MigConfigEntry>> Config(const YAML::Node& list, const std::string& name);
  Result<MigConfigEntry> Entry(const YAML::Node& map);
  Result<std::vector<std::uint32_t>> DeviceFilter(const YAML::Node& n);
  Result<std::optional<std::vector<int>>> Devices(const YAML::Node& n);
  Result<std::vector<MigDeviceCount>> MigDevices(const YAML::Node& n);
  Result<void> EntryDevices(const std::optional<YAML::Node>& mig_devices, MigConfigEntry& entry);

  std::size_t visits_ = 0;
};

// Keys of a mapping must be distinct plain strings; yaml-cpp keeps duplicates, mig-parted's
// YAML library silently keeps the last, so a duplicate is refused rather than guessed at.
Result<void> CheckKey(const YAML::Node& key, std::map<std::string, int, std::less<>>& seen) {
  if (!key.IsScalar())
    return Fail(ErrorCode::kInvalidArgument, "line {}: a key must be a string", LineOf(key));
  const auto [it, fresh] = seen.emplace(key.Scalar(), LineOf(key));
  if (!fresh) {
    return Fail(ErrorCode::kInvalidArgument, "line {}: duplicate key '{}' (first on line {})", LineOf(key),
                key.Scalar(), it->second);
  }
  return {};
}

Result<MigPartedConfig> ConfigWalker::Document(const YAML::Node& root) {
  if (root.IsNull()) return Fail(ErrorCode::kInvalidArgument, "empty mig-parted config");
  if (!root.IsMap()) {
    return Fail(ErrorCode::kInvalidArgument,
                "line {}: a mig-parted config is a mapping with 'version' and 'mig-configs'", LineOf(root));
  }
  std::map<std::string, int, std::less<>> keys;
  // std::optional, not empty YAML::Node: a default Node counts as a defined null, and assigning
  // to a Node that refers to one rewrites the referred node.
  std::optional<YAML::Node> version, configs;
  for (auto it = root.begin(); it != root.end(); ++it) {
    // Copies: it-> yields a temporary pair, so references into it would dangle.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (auto r = Visit(value); !r) return Fail(r.error());
    if (auto r = CheckKey(key, keys); !r) return Fail(r.error());
    const std::string k = key.Scalar();
    if (k == "version") {
      version.emplace(value);
    } else if (k == "mig-configs") {
      configs.emplace(value);
    } else {
      return Fail(ErrorCode::kInvalidArgument,
                  "line {}: unknown field '{}' (expected 'version' and 'mig-configs')", LineOf(key), k);
    }
  }
  if (!version) return Fail(ErrorCode::kInvalidArgument, "missing field 'version' (must be v1)");
  if (!version->IsScalar() || version->Scalar() != "v1") {
    return Fail(ErrorCode::kInvalidArgument, "line {}: unsupported version '{}' (only v1 is known)",
                LineOf(*version), version->IsScalar() ? version->Scalar() : std::string("<not a string>"));
  }
  if (!configs || !configs->IsMap() || configs->size() == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "{}'mig-configs' must map at least one config name to its entries",
                configs ? fmt::format("line {}: ", LineOf(*configs)) : "");
  }
  MigPartedConfig out;
  std::map<std::string, int, std::less<>> names;
  for (auto it = configs->begin(); it != configs->end(); ++it) {
    const YAML::Node key = it->first;  // copies, as above
    const YAML::Node value = it->second;
    if (auto r = Visit(value); !r) return Fail(r.error());
    if (auto r = CheckKey(key, names); !r) return Fail(r.error());
    const std::string name = key.Scalar();
    if (name.empty()) return Fail(ErrorCode::kInvalidArgument, "line {}: empty config name", LineOf(key));
    Result<std::vector<MigConfigEntry>> entries = Config(value, name);
    if (!entries) return Fail(entries.error());
    out.configs.emplace(name, std::move(*entries));
  }
  return out;
}

Result<std::vector<MigConfigEntry>> ConfigWalker::Config(const YAML::Node& list, const std::string& name) {
  if (!list.IsSequence() || list.size() == 0) {
    return Fail(ErrorCode::kInvalidArgument, "config '{}'{}: must be a list of at least one entry", name,
                LineSuffix(LineOf(list)));
  }
  std::vector<MigConfigEntry> entries;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node node = list[i];
    if (auto r = Visit(node); !r) return Fail(r.error());
    Result<MigConfigEntry> entry = Entry(node);
    if (!entry) {
      return Fail(entry.error().WithContext(
          fmt::format("config '{}', entry {}{}", name, i + 1, LineSuffix(LineOf(node)))));
    }
    entries.push_back(std::move(*entry));
  }
  return entries;
}

Result<MigConfigEntry> ConfigWalker::Entry(const YAML::Node& map) {
  if (!map.IsMap()) {
    return Fail(ErrorCode::kInvalidArgument,
                "an entry is a mapping with 'devices', 'mig-enabled' and optionally 'device-filter', "
                "'mig-devices'");
  }
  MigConfigEntry entry;
  entry.line = LineOf(map);
  std::map<std::string, int, std::less<>> keys;
  std::optional<YAML::Node> filter, devices, enabled, mig_devices;
  for (auto it = map.begin(); it != map.end(); ++it) {
    // Copies: it-> yields a temporary pair, so references into it would dangle.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (auto r = Visit(value); !r) return Fail(r.error());
    if (auto r = CheckKey(key, keys); !r) return Fail(r.error());
    const std::string k = key.Scalar();
    std::optional<YAML::Node>* slot = k == "device-filter" ? &filter
                                      : k == "devices"     ? &devices
                                      : k == "mig-enabled" ? &enabled
                                      : k == "mig-devices" ? &mig_devices
                                                           : nullptr;
    if (slot == nullptr) {
      return Fail(ErrorCode::kInvalidArgument,
                  "line {}: unknown field '{}' (expected device-filter, devices, mig-enabled, mig-devices)",
                  LineOf(key), k);
    }
    slot->emplace(value);
  }
  if (!devices)
    return Fail(ErrorCode::kInvalidArgument,
                "missing required field 'devices' (all or a list of GPU indices)");
  if (!enabled)
    return Fail(ErrorCode::kInvalidArgument, "missing required field 'mig-enabled' (true or false)");
  if (!IsPlain(*enabled) || !IsYamlBool(enabled->Scalar(), entry.mig_enabled)) {
    return Fail(ErrorCode::kInvalidArgument, "line {}: mig-enabled must be true or false", LineOf(*enabled));
  }
  if (filter) {
    Result<std::vector<std::uint32_t>> ids = DeviceFilter(*filter);
    if (!ids) return Fail(ids.error());
    entry.device_filter = std::move(*ids);
  }
  Result<std::optional<std::vector<int>>> indices = Devices(*devices);
  if (!indices) return Fail(indices.error());
  entry.devices = std::move(*indices);
  if (auto r = EntryDevices(mig_devices, entry); !r) return Fail(r.error());
  return entry;
}

// mig-devices by mig-enabled, as mig-parted requires: absent, null or {} when disabled; present
// (possibly {}, MIG mode with no instances, as GPU Operator's `all-enabled`) when enabled.
Result<void> ConfigWalker::EntryDevices(const std::optional<YAML::Node>& mig_devices, MigConfigEntry& entry) {
  const bool given = mig_devices && !mig_devices->IsNull();
  if (!entry.mig_enabled) {
    if (given && !(mig_devices->IsMap() && mig_devices->size() == 0)) {
      return Fail(ErrorCode::kInvalidArgument, "line {}: mig-devices must be empty when mig-enabled is false",
                  LineOf(*mig_devices));
    }
    return {};
  }
  if (!given) {
    return Fail(ErrorCode::kInvalidArgument,
                "mig-enabled is true but mig-devices is missing (write 'mig-devices: {{}}' for MIG mode "
                "with no instances)");
  }
  Result<std::vector<MigDeviceCount>> counts = MigDevices(*mig_devices);
  if (!counts) return Fail(counts.error());
  entry.mig_devices = std::move(*counts);
  return {};
}

Result<std::vector<std::uint32_t>> ConfigWalker::DeviceFilter(const YAML::Node& n) {
  std::vector<std::uint32_t> ids;
  auto add = [&](const YAML::Node& s) -> Result<void> {
    if (!s.IsScalar()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "line {}: device-filter must be a PCI id string or a list of them", LineOf(s));
    }
    Result<std::uint32_t> id = ParsePciId(s.Scalar());
    if (!id) return Fail(id.error().WithContext(fmt::format("line {}", LineOf(s))));
    ids.push_back(*id);
    return {};
  };
  if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i) {
      if (auto r = Visit(n[i]); !r) return Fail(r.error());
      if (auto r = add(n[i]); !r) return Fail(r.error());
    }
    if (ids.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "line {}: empty device-filter list (leave the field out to match every GPU)", LineOf(n));
    }
    return ids;
  }
  if (auto r = add(n); !r) return Fail(r.error());
  return ids;
}

Result<std::optional<std::vector<int>>> ConfigWalker::Devices(const YAML::Node& n) {
  if (n.IsScalar() && n.Scalar() == "all") return std::optional<std::vector<int>>();
  if (!n.IsSequence()) {
    return Fail(ErrorCode::kInvalidArgument, "line {}: devices must be 'all' or a list of GPU indices",
                LineOf(n));
  }
  std::vector<int> out;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const YAML::Node d = n[i];
    if (auto r = Visit(d); !r) return Fail(r.error());
    const std::optional<int> v = IsPlain(d) ? ParseBoundedInt(d.Scalar(), kMaxGpuIndex) : std::nullopt;
    if (!v) {
      return Fail(ErrorCode::kInvalidArgument, "line {}: GPU index '{}' must be an integer from 0 to {}",
                  LineOf(d), d.IsScalar() ? d.Scalar() : std::string("<not a scalar>"), kMaxGpuIndex);
    }
    if (std::find(out.begin(), out.end(), *v) != out.end()) {
      return Fail(ErrorCode::kInvalidArgument, "line {}: GPU index {} is listed twice", LineOf(d), *v);
    }
    out.push_back(*v);
  }
  return std::optional<std::vector<int>>(std::move(out));
}

Result<std::vector<MigDeviceCount>> ConfigWalker::MigDevices(const YAML::Node& n) {
  if (!n.IsMap()) {
    return Fail(ErrorCode::kInvalidArgument, "line {}: mig-devices must map profile names to counts",
                LineOf(n));
  }
  std::vector<MigDeviceCount> out;
  std::map<std::string, int, std::less<>> keys;
  bool any = false;
  for (auto it = n.begin(); it != n.end(); ++it) {
    // Copies: it-> yields a temporary pair, so references into it would dangle.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (auto r = Visit(value); !r) return Fail(r.error());
    if (auto r = CheckKey(key, keys); !r) return Fail(r.error());
    const std::string profile = key.Scalar();
    if (const auto problem = ProfileNameProblem(profile)) {
      return Fail(ErrorCode::kInvalidArgument, "line {}: mig-devices key '{}' is not a MIG profile name: {}",
                  LineOf(key), profile, *problem);
    }
    const YAML::Node& c = value;
    const std::optional<int> count = IsPlain(c) ? ParseBoundedInt(c.Scalar(), kMaxCount) : std::nullopt;
    if (!count) {
      return Fail(ErrorCode::kInvalidArgument,
                  "line {}: count for '{}' must be an integer from 0 to {}, not '{}'", LineOf(c), profile,
                  kMaxCount, c.IsScalar() ? c.Scalar() : std::string("<not a scalar>"));
    }
    any = any || *count > 0;
    out.push_back({profile, *count});
  }
  if (!out.empty() && !any) {
    return Fail(ErrorCode::kInvalidArgument, "line {}: every count in mig-devices is 0", LineOf(n));
  }
  return out;
}

// ---- Stage 3: planning one config for a node's GPUs -------------------------------------------

std::string ProfileNames(const GpuModel& model) {
  std::vector<std::string_view> names;
  for (const Profile& p : model.profiles) names.push_back(p.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

// "1c.3g.20gb" -> {1, "3g.20gb"}; "3g.20gb" -> {0, "3g.20gb"}.
std::pair<int, std::string_view> SplitComputePrefix(std::string_view name) {
  std::size_t i = 0;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
  if (i == 0 || i + 2 > name.size() || (name[i] != 'c' && name[i] != 'C') || name[i + 1] != '.') {
    return {0, name};
  }
  int c = 0;
  std::from_chars(name.data(), name.data() + i, c);
  return {c, name.substr(i + 2)};
}

// Compute-instance sizes NVML defines (NVML_COMPUTE_INSTANCE_PROFILE_{1,2,3,4,6,7,8}_SLICE).
bool IsComputeInstanceSize(int c) {
  return c == 1 || c == 2 || c == 3 || c == 4 || c == 6 || c == 7 || c == 8;
}

struct EntryPlan {
  bool mig_enabled = false;
  Layout placements;
  std::vector<int> compute_instance_slices;
};

// The GPU instances one enabled entry asks for on `model`: one profile index per instance and
// its compute-instance size, after checking names, prefixes and per-profile maxima.
Result<void> Requested(const MigConfigEntry& entry, const GpuModel& model, std::vector<int>& profiles,
                       std::vector<int>& ci_slices) {
  std::vector<int> per_profile(model.profiles.size(), 0);
  std::vector<bool> with_prefix(model.profiles.size(), false);
  for (const MigDeviceCount& d : entry.mig_devices) {
    if (d.count == 0) continue;  // mig-parted skips zero counts when it creates instances
    const auto [ci, gi_name] = SplitComputePrefix(d.profile);
    const int q = model.ProfileIndex(gi_name);
    if (q < 0) {
      return Fail(ErrorCode::kNotFound, "{} has no profile '{}' (its profiles: {})", model.name, gi_name,
                  ProfileNames(model));
    }
    const Profile& prof = model.profiles[static_cast<std::size_t>(q)];
    if (ci != 0 && (!IsComputeInstanceSize(ci) || ci > prof.compute_slices)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "'{}' asks for a {}-slice compute instance in {}, which has {} compute slices", d.profile,
                  ci, prof.name, prof.compute_slices);
    }
    per_profile[static_cast<std::size_t>(q)] += d.count;
    with_prefix[static_cast<std::size_t>(q)] = with_prefix[static_cast<std::size_t>(q)] || ci != 0;
    for (int k = 0; k < d.count; ++k) {
      profiles.push_back(q);
      ci_slices.push_back(ci == prof.compute_slices ? 0 : ci);
    }
  }
  for (std::size_t q = 0; q < model.profiles.size(); ++q) {
    const Profile& prof = model.profiles[q];
    if (per_profile[q] <= prof.max_count) continue;
    const std::string note =
        prof.double_memory
            ? fmt::format(" (on this model {} is the double-memory 1-slice profile)", prof.name)
        : with_prefix[q] ? std::string(" (gpuslice plans one compute instance per GPU instance)")
                         : std::string();
    return Fail(ErrorCode::kResourceExhausted, "{} x {} exceeds the profile's maximum of {}{}",
                per_profile[q], prof.name, prof.max_count, note);
  }
  return {};
}

Result<EntryPlan> PlanEntry(const MigConfigEntry& entry, const Geometry& geometry) {
  EntryPlan plan;
  plan.mig_enabled = entry.mig_enabled;
  if (!entry.mig_enabled) return plan;
  std::vector<int> profiles, ci_slices;
  if (auto r = Requested(entry, geometry.model(), profiles, ci_slices); !r) return Fail(r.error());
  Result<std::vector<Placement>> placed = geometry.Arrange(Occupancy{}, profiles);
  if (!placed) return Fail(placed.error());
  std::vector<std::size_t> order(placed->size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const Placement& pa = (*placed)[a];
    const Placement& pb = (*placed)[b];
    return pa < pb || (pa == pb && ci_slices[a] < ci_slices[b]);
  });
  for (const std::size_t i : order) {
    plan.placements.push_back((*placed)[i]);
    plan.compute_instance_slices.push_back(ci_slices[i]);
  }
  return plan;
}

bool EntryApplies(const MigConfigEntry& e, const PlanGpu& gpu) {
  if (e.devices && std::find(e.devices->begin(), e.devices->end(), gpu.index) == e.devices->end())
    return false;
  if (e.device_filter.empty()) return true;
  return std::any_of(e.device_filter.begin(), e.device_filter.end(),
                     [&](std::uint32_t id) { return Catalog::MatchesPciId(gpu.gpu, id); });
}

std::string EntryName(const std::vector<MigConfigEntry>& entries, std::size_t i) {
  return fmt::format("entry {}{}", i + 1, LineSuffix(entries[i].line));
}

// The entries that apply to one GPU, in file order, with mig-parted's rule for GPUs without
// MIG: an entry with `devices: all` passes over them; one naming the GPU must not enable MIG.
Result<std::vector<std::size_t>> ApplyingEntries(const std::vector<MigConfigEntry>& entries,
                                                 const PlanGpu& gpu) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const MigConfigEntry& e = entries[i];
    if (!EntryApplies(e, gpu)) continue;
    if (!gpu.gpu.model->mig_capable) {
      if (!e.devices) continue;
      if (e.mig_enabled) {
        return Fail(ErrorCode::kFailedPrecondition, "{} enables MIG on this GPU, but {} has no MIG",
                    EntryName(entries, i), gpu.gpu.model->name);
      }
    }
    out.push_back(i);
  }
  for (std::size_t k = 1; k < out.size(); ++k) {
    if (entries[out[k]].mig_enabled != entries[out[0]].mig_enabled) {
      return Fail(ErrorCode::kInvalidArgument,
                  "{} and {} both apply and disagree on mig-enabled (mig-parted would fail to apply this)",
                  EntryName(entries, out[0]), EntryName(entries, out[k]));
    }
  }
  return out;
}

Result<void> CheckGpus(std::span<const PlanGpu> gpus) {
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    if (gpus[i].gpu.model == nullptr)
      return Fail(ErrorCode::kInvalidArgument, "GPU {} has no model", gpus[i].index);
    if (gpus[i].index < 0)
      return Fail(ErrorCode::kInvalidArgument, "GPU index {} is negative", gpus[i].index);
    for (std::size_t j = 0; j < i; ++j) {
      if (gpus[j].index == gpus[i].index) {
        return Fail(ErrorCode::kInvalidArgument, "GPU index {} is given twice", gpus[i].index);
      }
    }
  }
  return {};
}

std::string KnownNames(const MigPartedConfig& config) {
  constexpr std::size_t kShown = 40;
  std::vector<std::string_view> names;
  for (const auto& [name, entries] : config.configs) {
    if (names.size() == kShown) break;
    names.push_back(name);
  }
  const std::size_t more = config.configs.size() - names.size();
  return fmt::format("{}{}", fmt::join(names, ", "), more > 0 ? fmt::format(" and {} more", more) : "");
}

// Plans one GPU. Every applying entry is planned, so that an entry a later one overrides still
// has to fit (mig-parted applies it first and would fail on it); the last one's layout stays.
Result<GpuPlan> PlanOneGpu(const std::vector<MigConfigEntry>& entries, const PlanGpu& gpu,
                           std::map<const GpuModel*, Geometry>& geometries) {
  GpuPlan plan{gpu.index, gpu.gpu, false, false, {}, {}};
  Result<std::vector<std::size_t>> applying = ApplyingEntries(entries, gpu);
  if (!applying) return Fail(applying.error());
  for (const std::size_t i : *applying) {
    const MigConfigEntry& e = entries[i];
    plan.matched = true;
    plan.mig_enabled = e.mig_enabled;
    if (!e.mig_enabled) continue;
    auto g = geometries.find(gpu.gpu.model);
    if (g == geometries.end()) {
      Result<Geometry> built = Geometry::Build(*gpu.gpu.model);
      if (!built) return Fail(built.error());
      g = geometries.emplace(gpu.gpu.model, std::move(*built)).first;
    }
    Result<EntryPlan> p = PlanEntry(e, g->second);
    if (!p) {
      return Fail(entries.size() > 1 ? p.error().WithContext(EntryName(entries, i)) : p.error());
    }
    plan.placements = std::move(p->placements);
    plan.compute_instance_slices = std::move(p->compute_instance_slices);
  }
  return plan;
}

// ---- Placement specs ------------------------------------------------------------------------

bool IsProfileChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '+' || c == '-' || c == ',';
}

}  // namespace

Result<MigPartedConfig> ParseMigPartedConfig(std::string_view yaml) {
  if (auto shape = CheckYamlShape(yaml, "mig-parted config"); !shape) return Fail(shape.error());
  try {
    const std::string text(yaml);
    if (auto one = CheckOneYamlDocument(text); !one) return Fail(one.error());
    ConfigWalker walker;
    return walker.Document(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    // e.what() repeats the mark as "yaml-cpp: error at line L, column C: msg"; use the parts.
    return Fail(ErrorCode::kInvalidArgument, "line {}, column {}: invalid YAML: {}", e.mark.line + 1,
                e.mark.column + 1, e.msg);
  } catch (const std::bad_alloc&) {
    return Fail(ErrorCode::kInvalidArgument, "mig-parted config too large to load");
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, "invalid mig-parted config: {}", e.what());
  }
}

Result<std::vector<GpuPlan>> PlanConfig(const MigPartedConfig& config, std::string_view name,
                                        std::span<const PlanGpu> gpus) {
  const auto found = config.configs.find(name);
  if (found == config.configs.end()) {
    return Fail(ErrorCode::kNotFound, "no config '{}' in the mig-parted file (known: {})", name,
                KnownNames(config));
  }
  if (auto r = CheckGpus(gpus); !r) return Fail(r.error());
  std::map<const GpuModel*, Geometry> geometries;
  std::vector<GpuPlan> plans;
  for (const PlanGpu& gpu : gpus) {
    Result<GpuPlan> plan = PlanOneGpu(found->second, gpu, geometries);
    if (!plan) {
      return Fail(plan.error().WithContext(
          fmt::format("config '{}', GPU {} ({})", found->first, gpu.index, gpu.gpu.model->name)));
    }
    plans.push_back(std::move(*plan));
  }
  return plans;
}

Result<PlacementSpec> ParsePlacementSpec(std::string_view text) {
  const std::size_t at = text.find('@');
  const std::string_view profile = text.substr(0, at);
  if (profile.empty()) return Fail(ErrorCode::kInvalidArgument, "placement '{}' has no profile name", text);
  if (profile.size() > kMaxProfileNameLength) {
    return Fail(ErrorCode::kInvalidArgument, "placement '{}…' has a profile name over {} characters",
                text.substr(0, 16), kMaxProfileNameLength);
  }
  if (const auto bad = std::find_if_not(profile.begin(), profile.end(), IsProfileChar);
      bad != profile.end()) {
    return Fail(ErrorCode::kInvalidArgument,
                "placement '{}': unexpected character '{}' in the profile name (write e.g. '3g.20gb@4')",
                text, *bad);
  }
  PlacementSpec spec{std::string(profile), std::nullopt};
  if (at == std::string_view::npos) return spec;
  const std::string_view start = text.substr(at + 1);
  const std::optional<int> s = start.size() <= 2 ? ParseBoundedInt(start, kMaxMemoryUnits - 1) : std::nullopt;
  if (!s) {
    return Fail(ErrorCode::kInvalidArgument,
                "placement '{}': the start after '@' must be a placement unit from 0 to {}, not '{}'", text,
                kMaxMemoryUnits - 1, start);
  }
  spec.start = *s;
  return spec;
}

Result<Layout> ResolvePlacementSpecs(const Geometry& geometry, std::span<const PlacementSpec> specs) {
  const GpuModel& model = geometry.model();
  Layout fixed;
  std::vector<int> open;
  for (const PlacementSpec& spec : specs) {
    const int q = model.ProfileIndex(spec.profile);
    if (q < 0) {
      return Fail(ErrorCode::kNotFound, "{} has no profile '{}' (its profiles: {})", model.name, spec.profile,
                  ProfileNames(model));
    }
    if (spec.start) {
      fixed.push_back({q, *spec.start});
    } else {
      open.push_back(q);
    }
  }
  Result<Occupancy> occ = geometry.Occupy(fixed);
  if (!occ) return Fail(occ.error());
  Result<std::vector<Placement>> chosen = geometry.Arrange(*occ, open);
  if (!chosen) return Fail(chosen.error());
  fixed.insert(fixed.end(), chosen->begin(), chosen->end());
  std::sort(fixed.begin(), fixed.end());
  return fixed;
}

}  // namespace gpuslice::mig
