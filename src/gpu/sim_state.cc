#include "gpu/sim_state.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace gpuslice::gpu {
namespace {

using nlohmann::json;

constexpr std::string_view kFormat = "gpuslice-sim-state";
constexpr int kVersion = 1;
constexpr std::int64_t kMaxMemoryMib = std::int64_t{1} << 30;  // 1 PiB: more than any GPU
constexpr int kMaxGpusPerSpecEntry = kSimMaxGpus;

std::uint64_t SplitMix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

std::string UuidFrom(std::string_view prefix, std::uint64_t a, std::uint64_t b) {
  const std::uint64_t hi = SplitMix(a ^ SplitMix(b));
  const std::uint64_t lo = SplitMix(hi ^ b ^ 0x5851F42D4C957F2DULL);
  return fmt::format("{}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", prefix, hi >> 32, (hi >> 16) & 0xFFFF,
                     hi & 0xFFFF, lo >> 48, lo & 0xFFFFFFFFFFFFULL);
}

// "141" out of "7g.141gb"; 0 when the name has no "<N>gb".
std::int64_t NameGiB(std::string_view name) {
  const std::size_t dot = name.find('.');
  const std::size_t gb = name.find("gb");
  if (dot == std::string_view::npos || gb == std::string_view::npos || gb <= dot + 1) return 0;
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(name.data() + dot + 1, name.data() + gb, v);
  return ec == std::errc() && p == name.data() + gb ? v : 0;
}

// --- strict JSON field access -------------------------------------------------------------------

Result<void> CheckKeys(const json& obj, std::string_view where,
                       std::initializer_list<std::string_view> keys) {
  if (!obj.is_object()) return Fail(ErrorCode::kInvalidArgument, "{}: expected an object", where);
  for (const auto& [key, value] : obj.items()) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      return Fail(ErrorCode::kInvalidArgument, "{}: unknown field '{}' (known: {})", where, key,
                  fmt::join(keys, ", "));
    }
  }
  return {};
}

Result<std::int64_t> Int(const json& obj, std::string_view where, const char* key, std::int64_t lo,
                         std::int64_t hi, std::optional<std::int64_t> fallback = std::nullopt) {
  const auto it = obj.find(key);
  if (it == obj.end()) {
    if (fallback) return *fallback;
    return Fail(ErrorCode::kInvalidArgument, "{}: missing field '{}'", where, key);
  }
  if (!it->is_number_integer())
    return Fail(ErrorCode::kInvalidArgument, "{}.{}: expected an integer", where, key);
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) {
    return Fail(ErrorCode::kInvalidArgument, "{}.{}: {} is out of range {}..{}", where, key, it->dump(), lo,
                hi);
  }
  const std::int64_t v = it->get<std::int64_t>();
  if (v < lo || v > hi) {
    return Fail(ErrorCode::kInvalidArgument, "{}.{}: {} is out of range {}..{}", where, key, v, lo, hi);
  }
  return v;
}

Result<std::uint64_t> U64(const json& obj, std::string_view where, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end()) return Fail(ErrorCode::kInvalidArgument, "{}: missing field '{}'", where, key);
  if (!it->is_number_unsigned()) {
    return Fail(ErrorCode::kInvalidArgument, "{}.{}: expected a non-negative integer", where, key);
  }
  return it->get<std::uint64_t>();
}

Result<std::string> Str(const json& obj, std::string_view where, const char* key, bool required = true) {
  const auto it = obj.find(key);
  if (it == obj.end()) {
    if (!required) return std::string();
    return Fail(ErrorCode::kInvalidArgument, "{}: missing field '{}'", where, key);
  }
  if (!it->is_string()) return Fail(ErrorCode::kInvalidArgument, "{}.{}: expected a string", where, key);
  std::string s = it->get<std::string>();
  if (s.size() > 256) return Fail(ErrorCode::kInvalidArgument, "{}.{}: longer than 256 bytes", where, key);
  return s;
}

Result<bool> Bool(const json& obj, std::string_view where, const char* key, std::optional<bool> fallback) {
  const auto it = obj.find(key);
  if (it == obj.end()) {
    if (fallback) return *fallback;
    return Fail(ErrorCode::kInvalidArgument, "{}: missing field '{}'", where, key);
  }
  if (!it->is_boolean())
    return Fail(ErrorCode::kInvalidArgument, "{}.{}: expected true or false", where, key);
  return it->get<bool>();
}

Result<const json*> Array(const json& obj, std::string_view where, const char* key, std::size_t max) {
  static const json kEmpty = json::array();
  const auto it = obj.find(key);
  if (it == obj.end()) return &kEmpty;
  if (!it->is_array()) return Fail(ErrorCode::kInvalidArgument, "{}.{}: expected an array", where, key);
  if (it->size() > max)
    return Fail(ErrorCode::kInvalidArgument, "{}.{}: more than {} entries", where, key, max);
  return &*it;
}

// `lhs = *expr`, or return expr's error.
#define GPUSLICE_CONCAT_INNER(a, b) a##b
#define GPUSLICE_CONCAT(a, b) GPUSLICE_CONCAT_INNER(a, b)
#define GPUSLICE_TRY_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp) return Fail(tmp.error());            \
  lhs = std::move(*tmp)
#define GPUSLICE_TRY_ASSIGN(lhs, expr) \
  GPUSLICE_TRY_ASSIGN_IMPL(GPUSLICE_CONCAT(try_result_, __LINE__), lhs, expr)

// --- parsing ------------------------------------------------------------------------------------

Result<SimFaults> ParseFaultsObject(const json& j, std::string_view where, bool allow_lose) {
  if (allow_lose) {
    if (auto ok = CheckKeys(j, where, {"fail_creates", "fail_create_error", "busy_destroys", "lose_gpus"});
        !ok)
      return Fail(ok.error());
  } else if (auto ok = CheckKeys(j, where, {"fail_creates", "fail_create_error", "busy_destroys"}); !ok) {
    return Fail(ok.error());
  }
  SimFaults f;
  std::int64_t v = 0;
  GPUSLICE_TRY_ASSIGN(v, Int(j, where, "fail_creates", 0, 1000000, 0));
  f.fail_creates = static_cast<int>(v);
  GPUSLICE_TRY_ASSIGN(v, Int(j, where, "busy_destroys", 0, 1000000, 0));
  f.busy_destroys = static_cast<int>(v);
  std::string kind;
  GPUSLICE_TRY_ASSIGN(kind, Str(j, where, "fail_create_error", /*required=*/false));
  if (!kind.empty() && !ParseGpuErrorKind(kind, &f.fail_create_error)) {
    return Fail(ErrorCode::kInvalidArgument, "{}.fail_create_error: unknown error kind '{}'", where, kind);
  }
  const json* lose = nullptr;
  GPUSLICE_TRY_ASSIGN(lose, Array(j, where, "lose_gpus", kSimMaxGpus));
  for (const json& g : *lose) {
    if (!g.is_number_integer() || g.get<std::int64_t>() < 0 || g.get<std::int64_t>() >= kSimMaxGpus) {
      return Fail(ErrorCode::kInvalidArgument, "{}.lose_gpus: {} is not a GPU index", where, g.dump());
    }
    f.lose_gpus.push_back(g.get<int>());
  }
  return f;
}

Result<SimInstance> ParseInstance(const json& j, const std::string& where, const mig::GpuModel& model) {
  if (auto ok =
          CheckKeys(j, where, {"gpu_instance_id", "profile_id", "start", "compute_instance_id", "mig_uuid"});
      !ok)
    return Fail(ok.error());
  SimInstance in;
  std::int64_t v = 0;
  GPUSLICE_TRY_ASSIGN(v, Int(j, where, "gpu_instance_id", 0, 1023));
  in.gpu_instance_id = static_cast<int>(v);
  GPUSLICE_TRY_ASSIGN(v, Int(j, where, "profile_id", 0, 1023));
  in.profile_id = static_cast<int>(v);
  GPUSLICE_TRY_ASSIGN(v, Int(j, where, "start", 0, mig::kMaxMemoryUnits));
  in.start = static_cast<int>(v);
  GPUSLICE_TRY_ASSIGN(v, Int(j, where, "compute_instance_id", -1, 63, -1));
  in.compute_instance_id = static_cast<int>(v);
  GPUSLICE_TRY_ASSIGN(in.mig_uuid, Str(j, where, "mig_uuid", /*required=*/false));
  if ((in.compute_instance_id >= 0) != !in.mig_uuid.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "{}: a compute instance needs a mig_uuid and only it has one",
                where);
  }
  const int index = SimProfileIndex(model, in.profile_id);
  if (index < 0) {
    return Fail(ErrorCode::kInvalidArgument, "{}: {} has no profile with id {}", where, model.name,
                in.profile_id);
  }
  const mig::Profile& p = model.profiles[static_cast<std::size_t>(index)];
  if (std::find(p.starts.begin(), p.starts.end(), in.start) == p.starts.end()) {
    return Fail(ErrorCode::kInvalidArgument, "{}: start {} is not an allowed start of {} (allowed: {})",
                where, in.start, p.name, fmt::join(p.starts, ", "));
  }
  return in;
}

Result<SimProcess> ParseProcess(const json& j, const std::string& where) {
  if (auto ok = CheckKeys(
          j, where, {"pid", "gpu_instance_id", "compute_instance_id", "memory_mib", "activity_percent"});
      !ok)
    return Fail(ok.error());
  SimProcess p;
  std::int64_t v = 0;
  GPUSLICE_TRY_ASSIGN(v, Int(j, where, "pid", 1, 0xFFFFFFFE));
  p.pid = static_cast<std::uint32_t>(v);
  GPUSLICE_TRY_ASSIGN(v, Int(j, where, "gpu_instance_id", -1, 1023, -1));
  p.gpu_instance_id = static_cast<int>(v);
  GPUSLICE_TRY_ASSIGN(v, Int(j, where, "compute_instance_id", -1, 63, -1));
  p.compute_instance_id = static_cast<int>(v);
  GPUSLICE_TRY_ASSIGN(v, Int(j, where, "memory_mib", 0, kMaxMemoryMib, 0));
  p.memory_used = MiB(v);
  GPUSLICE_TRY_ASSIGN(v, Int(j, where, "activity_percent", 0, 100, 0));
  p.activity_percent = static_cast<int>(v);
  return p;
}

// Cross-field rules of one GPU: instances only in MIG mode, a legal layout, unique ids, and every
// process on an instance that has a compute instance.
Result<void> CheckGpu(SimGpu& gpu, const std::string& where) {
  const mig::GpuModel& m = *gpu.model;
  if (!m.mig_capable && (gpu.mig.current || gpu.mig.pending)) {
    return Fail(ErrorCode::kInvalidArgument, "{}: {} has no MIG, so MIG mode cannot be on", where, m.name);
  }
  if (!gpu.mig.current && !gpu.instances.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "{}: instances exist while MIG mode is off", where);
  }
  std::set<int> ids;
  mig::Layout layout;
  for (const SimInstance& in : gpu.instances) {
    if (!ids.insert(in.gpu_instance_id).second) {
      return Fail(ErrorCode::kInvalidArgument, "{}: GPU instance id {} appears twice", where,
                  in.gpu_instance_id);
    }
    layout.push_back({SimProfileIndex(m, in.profile_id), in.start});
  }
  if (!layout.empty()) {
    if (auto ok = SimGeometryFor(m).Validate(layout); !ok) return Fail(ok.error().WithContext(where));
  }
  std::sort(gpu.instances.begin(), gpu.instances.end(),
            [](const SimInstance& a, const SimInstance& b) { return a.start < b.start; });
  std::set<std::uint32_t> pids;
  for (const SimProcess& p : gpu.processes) {
    if (!pids.insert(p.pid).second)
      return Fail(ErrorCode::kInvalidArgument, "{}: pid {} appears twice", where, p.pid);
    if (!gpu.mig.current) {
      if (p.gpu_instance_id != -1) {
        return Fail(ErrorCode::kInvalidArgument, "{}: pid {} is on a MIG instance while MIG mode is off",
                    where, p.pid);
      }
      continue;
    }
    const auto it = std::find_if(gpu.instances.begin(), gpu.instances.end(), [&](const SimInstance& in) {
      return in.gpu_instance_id == p.gpu_instance_id && in.compute_instance_id >= 0 &&
             in.compute_instance_id == p.compute_instance_id;
    });
    if (it == gpu.instances.end()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "{}: pid {} runs on GPU instance {} / compute instance {}, which "
                  "does not exist",
                  where, p.pid, p.gpu_instance_id, p.compute_instance_id);
    }
  }
  return {};
}

Result<SimGpu> ParseGpu(const json& j, const std::string& where) {
  if (auto ok = CheckKeys(j, where,
                          {"model", "sku", "uuid", "pci_bus_id", "mig", "lost", "instances", "processes"});
      !ok)
    return Fail(ok.error());
  SimGpu gpu;
  std::string name;
  GPUSLICE_TRY_ASSIGN(name, Str(j, where, "model"));
  Result<mig::ResolvedGpu> resolved = mig::Catalog::BuiltIn().Resolve(name);
  if (!resolved) return Fail(ErrorCode::kInvalidArgument, "{}.model: {}", where, resolved.error().message);
  gpu.model = resolved->model;
  gpu.sku = resolved->sku != nullptr ? resolved->sku : &gpu.model->skus.front();
  std::string sku;
  GPUSLICE_TRY_ASSIGN(sku, Str(j, where, "sku", /*required=*/false));
  if (!sku.empty()) {
    const auto it = std::find_if(gpu.model->skus.begin(), gpu.model->skus.end(),
                                 [&](const mig::Sku& s) { return s.name == sku; });
    if (it == gpu.model->skus.end()) {
      return Fail(ErrorCode::kInvalidArgument, "{}.sku: '{}' is not a SKU of {}", where, sku,
                  gpu.model->name);
    }
    gpu.sku = &*it;
  }
  GPUSLICE_TRY_ASSIGN(gpu.uuid, Str(j, where, "uuid"));
  GPUSLICE_TRY_ASSIGN(gpu.pci_bus_id, Str(j, where, "pci_bus_id"));
  GPUSLICE_TRY_ASSIGN(gpu.lost, Bool(j, where, "lost", false));
  const std::string mig_where = where + ".mig";
  const auto mig_it = j.find("mig");
  if (mig_it == j.end()) return Fail(ErrorCode::kInvalidArgument, "{}: missing field 'mig'", where);
  if (auto ok = CheckKeys(*mig_it, mig_where, {"current", "pending"}); !ok) return Fail(ok.error());
  GPUSLICE_TRY_ASSIGN(gpu.mig.current, Bool(*mig_it, mig_where, "current", std::nullopt));
  GPUSLICE_TRY_ASSIGN(gpu.mig.pending, Bool(*mig_it, mig_where, "pending", std::nullopt));
  const json* list = nullptr;
  GPUSLICE_TRY_ASSIGN(list, Array(j, where, "instances", 64));
  for (std::size_t i = 0; i < list->size(); ++i) {
    if (!gpu.model->mig_capable) return Fail(ErrorCode::kInvalidArgument, "{}: {} has no MIG", where, name);
    SimInstance in;
    GPUSLICE_TRY_ASSIGN(in, ParseInstance((*list)[i], fmt::format("{}.instances[{}]", where, i), *gpu.model));
    gpu.instances.push_back(std::move(in));
  }
  GPUSLICE_TRY_ASSIGN(list, Array(j, where, "processes", kSimMaxProcessesPerGpu));
  for (std::size_t i = 0; i < list->size(); ++i) {
    SimProcess p;
    GPUSLICE_TRY_ASSIGN(p, ParseProcess((*list)[i], fmt::format("{}.processes[{}]", where, i)));
    gpu.processes.push_back(p);
  }
  if (auto ok = CheckGpu(gpu, where); !ok) return Fail(ok.error());
  return gpu;
}

Result<SimState> ParseRoot(const json& j) {
  if (auto ok = CheckKeys(j, "state", {"format", "version", "seed", "uuid_counter", "faults", "gpus"}); !ok)
    return Fail(ok.error());
  std::string format;
  GPUSLICE_TRY_ASSIGN(format, Str(j, "state", "format"));
  if (format != kFormat) {
    return Fail(ErrorCode::kInvalidArgument, "state.format: '{}' is not '{}'", format, kFormat);
  }
  std::int64_t version = 0;
  GPUSLICE_TRY_ASSIGN(version, Int(j, "state", "version", 0, 1000000));
  if (version != kVersion) {
    return Fail(ErrorCode::kInvalidArgument, "state.version: {} is not supported (this build reads {})",
                version, kVersion);
  }
  SimState s;
  GPUSLICE_TRY_ASSIGN(s.seed, U64(j, "state", "seed"));
  GPUSLICE_TRY_ASSIGN(s.uuid_counter, U64(j, "state", "uuid_counter"));
  if (const auto it = j.find("faults"); it != j.end()) {
    GPUSLICE_TRY_ASSIGN(s.faults, ParseFaultsObject(*it, "state.faults", /*allow_lose=*/false));
  }
  const auto gpus = j.find("gpus");
  if (gpus == j.end()) return Fail(ErrorCode::kInvalidArgument, "state: missing field 'gpus'");
  if (!gpus->is_array()) return Fail(ErrorCode::kInvalidArgument, "state.gpus: expected an array");
  if (gpus->size() > kSimMaxGpus) {
    return Fail(ErrorCode::kInvalidArgument, "state.gpus: more than {} GPUs", kSimMaxGpus);
  }
  for (std::size_t i = 0; i < gpus->size(); ++i) {
    SimGpu g;
    GPUSLICE_TRY_ASSIGN(g, ParseGpu((*gpus)[i], fmt::format("gpus[{}]", i)));
    s.gpus.push_back(std::move(g));
  }
  return s;
}

json InstanceToJson(const SimInstance& in) {
  json j = {{"gpu_instance_id", in.gpu_instance_id}, {"profile_id", in.profile_id}, {"start", in.start}};
  if (in.compute_instance_id >= 0) {
    j["compute_instance_id"] = in.compute_instance_id;
    j["mig_uuid"] = in.mig_uuid;
  }
  return j;
}

json GpuToJson(const SimGpu& g) {
  json instances = json::array();
  for (const SimInstance& in : g.instances) instances.push_back(InstanceToJson(in));
  json processes = json::array();
  for (const SimProcess& p : g.processes) {
    processes.push_back({{"pid", p.pid},
                         {"gpu_instance_id", p.gpu_instance_id},
                         {"compute_instance_id", p.compute_instance_id},
                         {"memory_mib", p.memory_used.value()},
                         {"activity_percent", p.activity_percent}});
  }
  return {{"model", g.model->name},
          {"sku", g.sku->name},
          {"uuid", g.uuid},
          {"pci_bus_id", g.pci_bus_id},
          {"mig", {{"current", g.mig.current}, {"pending", g.mig.pending}}},
          {"lost", g.lost},
          {"instances", std::move(instances)},
          {"processes", std::move(processes)}};
}

}  // namespace

Result<SimState> NewSimState(std::string_view spec, std::uint64_t seed, bool mig_enabled) {
  SimState s;
  s.seed = seed;
  if (spec.empty())
    return Fail(ErrorCode::kInvalidArgument, "no simulated GPUs given (e.g. \"A100-80GB:2\")");
  std::size_t pos = 0;
  while (pos <= spec.size()) {
    const std::size_t comma = std::min(spec.find(',', pos), spec.size());
    const std::string_view entry = spec.substr(pos, comma - pos);
    const std::size_t colon = entry.rfind(':');
    const std::string_view name = entry.substr(0, colon);
    int count = 1;
    if (colon != std::string_view::npos) {
      const std::string_view n = entry.substr(colon + 1);
      const auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), count);
      if (ec != std::errc() || p != n.data() + n.size() || count < 1 || count > kMaxGpusPerSpecEntry) {
        return Fail(ErrorCode::kInvalidArgument, "GPU spec '{}': count '{}' is not a number 1..{}", entry, n,
                    kMaxGpusPerSpecEntry);
      }
    }
    if (name.empty()) return Fail(ErrorCode::kInvalidArgument, "GPU spec '{}': empty model name", spec);
    Result<mig::ResolvedGpu> r = mig::Catalog::BuiltIn().Resolve(name);
    if (!r) return Fail(r.error());
    for (int i = 0; i < count; ++i) {
      if (s.gpus.size() >= kSimMaxGpus) {
        return Fail(ErrorCode::kInvalidArgument, "GPU spec '{}': more than {} GPUs", spec, kSimMaxGpus);
      }
      SimGpu g;
      g.model = r->model;
      g.sku = r->sku != nullptr ? r->sku : &r->model->skus.front();
      const int index = static_cast<int>(s.gpus.size());
      g.uuid = SimGpuUuid(seed, index);
      g.pci_bus_id = fmt::format("00000000:{:02X}:00.0", 0x10 + index);
      g.mig.current = g.mig.pending = mig_enabled && g.model->mig_capable;
      s.gpus.push_back(std::move(g));
    }
    pos = comma + 1;
  }
  return s;
}

Result<SimState> ParseSimState(std::string_view text) {
  if (text.size() > kSimMaxStateBytes) {
    return Fail(ErrorCode::kInvalidArgument, "state is larger than {} bytes", kSimMaxStateBytes);
  }
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, "not valid JSON: {}", e.what());
  }
  return ParseRoot(j);
}

std::string SerializeSimState(const SimState& s) {
  json gpus = json::array();
  for (const SimGpu& g : s.gpus) gpus.push_back(GpuToJson(g));
  const json j = {{"format", kFormat},
                  {"version", kVersion},
                  {"seed", s.seed},
                  {"uuid_counter", s.uuid_counter},
                  {"faults",
                   {{"fail_creates", s.faults.fail_creates},
                    {"fail_create_error", GpuErrorKindName(s.faults.fail_create_error)},
                    {"busy_destroys", s.faults.busy_destroys}}},
                  {"gpus", std::move(gpus)}};
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<SimFaults> ParseSimFaults(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(ErrorCode::kInvalidArgument, "faults: not valid JSON");
  return ParseFaultsObject(j, "faults", /*allow_lose=*/true);
}

const mig::Geometry& SimGeometryFor(const mig::GpuModel& model) {
  static std::mutex mu;
  static std::map<const mig::GpuModel*, std::unique_ptr<mig::Geometry>> cache;
  std::lock_guard<std::mutex> lock(mu);
  std::unique_ptr<mig::Geometry>& g = cache[&model];
  if (!g) {
    // Build cannot fail for a MIG-capable catalog model (the catalog's own tests check every
    // model); callers only ask for MIG-capable ones.
    Result<mig::Geometry> built = mig::Geometry::Build(model);
    if (!built) {
      std::fprintf(stderr, "gpuslice: catalog geometry of %s: %s\n", model.name.c_str(),
                   built.error().message.c_str());
      std::abort();
    }
    g = std::make_unique<mig::Geometry>(std::move(*built));
  }
  return *g;
}

int SimProfileId(const mig::GpuModel& model, int index) {
  const mig::Profile& p = model.profiles[static_cast<std::size_t>(index)];
  return p.device_profile_id ? *p.device_profile_id : 100 + index;
}

int SimProfileIndex(const mig::GpuModel& model, int profile_id) {
  for (int i = 0; i < static_cast<int>(model.profiles.size()); ++i) {
    if (SimProfileId(model, i) == profile_id) return i;
  }
  return -1;
}

MiB SimProfileMemory(const mig::GpuModel& model, const mig::Profile& profile) {
  if (profile.memory) return *profile.memory;
  if (const std::int64_t gib = NameGiB(profile.name); gib > 0) return MiB(gib * 1024);
  const MiB whole = SimGpuMemory(model);
  return model.memory_units > 0 ? MiB(whole.value() * profile.size_units / model.memory_units) : MiB(0);
}

MiB SimGpuMemory(const mig::GpuModel& model) {
  if (model.memory) return *model.memory;
  if (const mig::Profile* full = model.FullProfile(); full != nullptr) {
    if (full->memory) return *full->memory;
    if (const std::int64_t gib = NameGiB(full->name); gib > 0) return MiB(gib * 1024);
  }
  return MiB(16 * 1024);  // a GPU without MIG and without a known size: a nominal 16 GiB
}

int SimGpuInstanceId(const mig::GpuModel& model, int size_units, const std::vector<SimInstance>& instances) {
  int level = 0;
  while (size_units > 0 && (size_units << level) < model.memory_units && level < 8) ++level;
  const int first = (1 << level) - 1;
  for (int id = first;; ++id) {
    const bool used = std::any_of(instances.begin(), instances.end(),
                                  [&](const SimInstance& in) { return in.gpu_instance_id == id; });
    if (!used) return id;
  }
}

std::string SimGpuUuid(std::uint64_t seed, int index) {
  return UuidFrom("GPU", seed, 0x4750550000000000ULL + static_cast<std::uint64_t>(index));
}

std::string SimMigUuid(std::uint64_t seed, std::uint64_t counter) {
  return UuidFrom("MIG", seed ^ 0x4D49470000000000ULL, counter);
}

}  // namespace gpuslice::gpu
