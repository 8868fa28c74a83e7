#include "api/node_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <climits>
#include <limits>
#include <set>
#include <utility>

#include "api/strict_json.h"

namespace gpuslice::api {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

template <typename E>
using NameTable = std::array<std::pair<E, std::string_view>, 3>;

constexpr NameTable<RestartPolicy> kRestartNames{{{RestartPolicy::kNever, "never"},
                                                  {RestartPolicy::kOnFailure, "on-failure"},
                                                  {RestartPolicy::kAlways, "always"}}};
constexpr NameTable<WorkloadKind> kKindNames{{{WorkloadKind::kBatch, "batch"},
                                              {WorkloadKind::kService, "service"},
                                              {WorkloadKind::kNotebook, "notebook"}}};
constexpr NameTable<GpuHealth> kHealthNames{
    {{GpuHealth::kOk, "ok"}, {GpuHealth::kDegraded, "degraded"}, {GpuHealth::kLost, "lost"}}};
constexpr std::array<std::pair<WorkloadState, std::string_view>, 5> kStateNames{
    {{WorkloadState::kStarting, "starting"},
     {WorkloadState::kRunning, "running"},
     {WorkloadState::kExited, "exited"},
     {WorkloadState::kFailed, "failed"},
     {WorkloadState::kStopped, "stopped"}}};

template <typename Table, typename E>
std::string_view NameOf(const Table& table, E value) {
  for (const auto& [e, name] : table) {
    if (e == value) return name;
  }
  return "?";
}

bool HasNul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

void DecodeInstance(JsonDecoder& d, const json& j, const std::string& path, DesiredInstance* out) {
  if (!d.Object(j, path, {"gpu_index", "profile", "start", "key"})) return;
  d.Int(j, path, "gpu_index", &out->gpu_index);
  d.String(j, path, "profile", &out->profile);
  d.Int(j, path, "start", &out->start);
  d.String(j, path, "key", &out->key);
}

// An optional array of integers that fit an int (absent or null: left empty); narrower ranges
// are the validators' business.
void OptIntArray(JsonDecoder& d, const json& j, std::string_view path, std::string_view key, std::size_t max,
                 std::vector<int>* out) {
  const json* v = d.Member(j, path, key, /*required=*/false);
  if (v == nullptr) return;
  const std::string where = JoinPath(path, key);
  if (!v->is_array()) return d.Fail("{}: expected an array of integers", where);
  if (v->size() > max) return d.Fail("{}: {} entries exceed the limit of {}", where, v->size(), max);
  for (std::size_t i = 0; i < v->size(); ++i) {
    const json& e = (*v)[i];
    if (!e.is_number_integer()) return d.Fail("{}: expected an array of integers", where);
    const bool fits = e.is_number_unsigned()
                          ? e.get<std::uint64_t>() <= static_cast<std::uint64_t>(INT_MAX)
                          : e.get<std::int64_t>() >= INT_MIN && e.get<std::int64_t>() <= INT_MAX;
    if (!fits) {
      return d.Fail("{}: {} is out of range", AtIndex(where, i), e.dump());
    }
    out->push_back(e.get<int>());
  }
}

void DecodeWorkload(JsonDecoder& d, const json& j, const std::string& path, DesiredWorkload* out) {
  if (!d.Object(j, path,
                {"job_id", "instance_keys", "gpu_indices", "argv", "env", "working_dir", "run_as_user",
                 "cpu_millicores", "memory_mib", "restart", "kind", "grace_period_ms"})) {
    return;
  }
  d.String(j, path, "job_id", &out->job_id);
  // Both bindings are optional here; that exactly one is given is a rule of CheckBindings.
  if (d.Member(j, path, "instance_keys", /*required=*/false) != nullptr)
    d.StringArray(j, path, "instance_keys", kMaxInstanceKeysPerWorkload, &out->instance_keys);
  OptIntArray(d, j, path, "gpu_indices", kMaxGpusPerWorkload, &out->gpu_indices);
  d.StringArray(j, path, "argv", kMaxArgvEntries, &out->argv);
  d.StringMap(j, path, "env", kMaxEnvEntries, &out->env);
  d.OptString(j, path, "working_dir", &out->working_dir);
  d.OptString(j, path, "run_as_user", &out->run_as_user);
  d.OptInt(j, path, "cpu_millicores", &out->cpu_millicores);
  d.OptInt(j, path, "memory_mib", &out->memory_mib);
  d.Enum(j, path, "restart", kRestartNames, &out->restart, /*required=*/false);
  d.Enum(j, path, "kind", kKindNames, &out->kind, /*required=*/false);
  d.Int(j, path, "grace_period_ms", &out->grace_period_ms, /*required=*/false);
}

void DecodeGpu(JsonDecoder& d, const json& j, const std::string& path, ActualGpu* out) {
  if (!d.Object(j, path, {"index", "uuid", "health", "message"})) return;
  d.Int(j, path, "index", &out->index);
  d.String(j, path, "uuid", &out->uuid);
  d.Enum(j, path, "health", kHealthNames, &out->health, /*required=*/true);
  d.String(j, path, "message", &out->message, /*required=*/false);
}

void DecodeActualInstance(JsonDecoder& d, const json& j, const std::string& path, ActualInstance* out) {
  if (!d.Object(j, path,
                {"gpu_index", "profile", "start", "key", "mig_uuid", "busy", "processes", "memory_used_mib",
                 "memory_total_mib", "activity_percent", "usage_message"})) {
    return;
  }
  d.Int(j, path, "gpu_index", &out->gpu_index);
  d.String(j, path, "profile", &out->profile);
  d.Int(j, path, "start", &out->start);
  d.String(j, path, "key", &out->key, /*required=*/false);
  d.String(j, path, "mig_uuid", &out->mig_uuid);
  d.Bool(j, path, "busy", &out->busy);
  d.OptInt(j, path, "processes", &out->processes);
  d.OptInt(j, path, "memory_used_mib", &out->memory_used_mib);
  d.OptInt(j, path, "memory_total_mib", &out->memory_total_mib);
  d.OptInt(j, path, "activity_percent", &out->activity_percent);
  d.String(j, path, "usage_message", &out->usage_message, /*required=*/false);
}

void DecodeActualWorkload(JsonDecoder& d, const json& j, const std::string& path, ActualWorkload* out) {
  if (!d.Object(j, path, {"job_id", "state", "pid", "exit_code", "signal", "restarts", "message"})) return;
  d.String(j, path, "job_id", &out->job_id);
  d.Enum(j, path, "state", kStateNames, &out->state, /*required=*/true);
  d.OptInt(j, path, "pid", &out->pid);
  d.OptInt(j, path, "exit_code", &out->exit_code);
  d.OptInt(j, path, "signal", &out->signal);
  d.Int(j, path, "restarts", &out->restarts, /*required=*/false);
  d.String(j, path, "message", &out->message, /*required=*/false);
}

}  // namespace

std::string_view RestartPolicyName(RestartPolicy p) {
  return NameOf(kRestartNames, p);
}
std::string_view WorkloadKindName(WorkloadKind k) {
  return NameOf(kKindNames, k);
}
std::string_view WorkloadStateName(WorkloadState s) {
  return NameOf(kStateNames, s);
}
std::string_view GpuHealthName(GpuHealth h) {
  return NameOf(kHealthNames, h);
}

bool IsSaneName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '.' || name.front() == '-') return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '+' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsEnvName(std::string_view name) {
  if (name.empty() || name.size() > 256 || (name.front() >= '0' && name.front() <= '9')) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool IsReservedEnvName(std::string_view name) {
  return name == "CUDA_VISIBLE_DEVICES" || name == "NVIDIA_VISIBLE_DEVICES" || name.starts_with("GPUSLICE_");
}

bool IsUserName(std::string_view name) {
  if (name.empty() || name.size() > 32 || (name.front() >= '0' && name.front() <= '9') ||
      name.front() == '-' || name.front() == '.') {
    return false;
  }
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Validation

namespace {

tl::unexpected<Error> Bad(std::string_view path, std::string_view what) {
  return Fail(ErrorCode::kInvalidArgument, "{}: {}", path, what);
}

Result<void> CheckName(std::string_view path, std::string_view value) {
  if (IsSaneName(value)) return {};
  return Fail(ErrorCode::kInvalidArgument, "{}: '{}' is not a valid name (1 to 128 of A-Z a-z 0-9 . _ + -)",
              path, value.substr(0, 64));
}

Result<void> CheckRange(std::string_view path, std::int64_t value, std::int64_t lo, std::int64_t hi) {
  if (value >= lo && value <= hi) return {};
  return Fail(ErrorCode::kInvalidArgument, "{}: {} is out of range [{}, {}]", path, value, lo, hi);
}

Result<void> CheckCount(std::string_view path, std::size_t n, std::size_t max) {
  if (n <= max) return {};
  return Fail(ErrorCode::kInvalidArgument, "{}: {} entries exceed the limit of {}", path, n, max);
}

Result<void> CheckText(std::string_view path, std::string_view s, std::size_t max_bytes) {
  if (HasNul(s)) return Bad(path, "contains a NUL character");
  if (s.size() > max_bytes) {
    return Fail(ErrorCode::kInvalidArgument, "{}: {} bytes exceed the limit of {}", path, s.size(),
                max_bytes);
  }
  return {};
}

Result<void> CheckSlot(std::string_view path, int gpu_index, std::string_view profile, int start) {
  if (auto r = CheckRange(JoinPath(path, "gpu_index"), gpu_index, 0, kMaxGpuIndex); !r) return r;
  if (auto r = CheckName(JoinPath(path, "profile"), profile); !r) return r;
  return CheckRange(JoinPath(path, "start"), start, 0, kMaxStartUnit);
}

Result<void> CheckInstances(const std::vector<DesiredInstance>& instances) {
  if (auto r = CheckCount("instances", instances.size(), kMaxInstances); !r) return r;
  std::set<std::string_view> keys;
  std::set<std::pair<int, int>> slots;
  for (std::size_t i = 0; i < instances.size(); ++i) {
    const DesiredInstance& in = instances[i];
    const std::string path = AtIndex("instances", i);
    if (auto r = CheckSlot(path, in.gpu_index, in.profile, in.start); !r) return r;
    if (auto r = CheckName(JoinPath(path, "key"), in.key); !r) return r;
    if (!keys.insert(in.key).second)
      return Bad(JoinPath(path, "key"), fmt::format("'{}' appears twice", in.key));
    if (!slots.insert({in.gpu_index, in.start}).second) {
      return Bad(path, fmt::format("a second instance at GPU {} start {}", in.gpu_index, in.start));
    }
  }
  return {};
}

Result<void> CheckCommand(const std::string& path, const DesiredWorkload& w) {
  return ValidateCommand(path, "argv", w.argv, w.env);
}

}  // namespace

Result<void> ValidateCommand(const std::string& path, std::string_view argv_field,
                             const std::vector<std::string>& argv,
                             const std::map<std::string, std::string>& env) {
  const std::string argv_path = JoinPath(path, argv_field);
  if (argv.empty()) return Bad(argv_path, "must name a program");
  if (auto r = CheckCount(argv_path, argv.size(), kMaxArgvEntries); !r) return r;
  if (argv[0].empty()) return Bad(AtIndex(argv_path, 0), "the program name is empty");
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (auto r = CheckText(AtIndex(argv_path, i), argv[i], kMaxArgBytes); !r) return r;
    bytes += argv[i].size() + 1;
  }
  const std::string env_path = JoinPath(path, "env");
  if (auto r = CheckCount(env_path, env.size(), kMaxEnvEntries); !r) return r;
  for (const auto& [name, value] : env) {
    const std::string p = JoinPath(env_path, name.substr(0, 64));
    if (!IsEnvName(name)) return Bad(p, "not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
    if (IsReservedEnvName(name)) return Bad(p, "is set by the agent and may not be given");
    if (auto r = CheckText(p, value, kMaxArgBytes); !r) return r;
    bytes += name.size() + value.size() + 2;
  }
  if (bytes > kMaxCommandBytes) {
    return Fail(ErrorCode::kInvalidArgument, "{}: argv and env take {} bytes, over the limit of {}", path,
                bytes, kMaxCommandBytes);
  }
  return {};
}

namespace {

Result<void> CheckProcessOptions(const std::string& path, const DesiredWorkload& w) {
  if (w.working_dir) {
    const std::string p = JoinPath(path, "working_dir");
    if (auto r = CheckText(p, *w.working_dir, kMaxPathBytes); !r) return r;
    if (!w.working_dir->starts_with('/')) return Bad(p, "must be an absolute path");
  }
  if (w.run_as_user && !IsUserName(*w.run_as_user)) {
    return Bad(JoinPath(path, "run_as_user"), "not a valid user name");
  }
  if (w.cpu_millicores) {
    if (auto r = CheckRange(JoinPath(path, "cpu_millicores"), *w.cpu_millicores, 1, kMaxCpuMillicores); !r)
      return r;
  }
  if (w.memory_mib) {
    if (auto r = CheckRange(JoinPath(path, "memory_mib"), *w.memory_mib, 1, kMaxMemoryMib); !r) return r;
  }
  return CheckRange(JoinPath(path, "grace_period_ms"), w.grace_period_ms, 0, kMaxGracePeriodMs);
}

// Instance keys: each names an instance of the document and is bound to one workload at most.
Result<void> CheckInstanceKeys(const std::string& path, const DesiredWorkload& w,
                               const std::set<std::string_view>& instance_keys,
                               std::map<std::string_view, std::string_view>& bound) {
  const std::string keys_path = JoinPath(path, "instance_keys");
  if (auto r = CheckCount(keys_path, w.instance_keys.size(), kMaxInstanceKeysPerWorkload); !r) return r;
  for (std::size_t i = 0; i < w.instance_keys.size(); ++i) {
    const std::string& key = w.instance_keys[i];
    const std::string p = AtIndex(keys_path, i);
    if (auto r = CheckName(p, key); !r) return r;
    if (!instance_keys.contains(key)) return Bad(p, fmt::format("no instance has key '{}'", key));
    const auto [it, fresh] = bound.emplace(key, w.job_id);
    if (!fresh) return Bad(p, fmt::format("instance '{}' is already bound to job '{}'", key, it->second));
  }
  return {};
}

// Whole GPUs: each a valid index, named once in the workload, bound to one workload at most, and
// carrying no desired instance (a GPU runs MIG instances or one whole-GPU workload, not both).
Result<void> CheckGpuIndices(const std::string& path, const DesiredWorkload& w,
                             const std::map<int, std::size_t>& instance_gpus,
                             std::map<int, std::string_view>& bound) {
  const std::string gpus_path = JoinPath(path, "gpu_indices");
  if (auto r = CheckCount(gpus_path, w.gpu_indices.size(), kMaxGpusPerWorkload); !r) return r;
  for (std::size_t i = 0; i < w.gpu_indices.size(); ++i) {
    const int g = w.gpu_indices[i];
    const std::string p = AtIndex(gpus_path, i);
    if (auto r = CheckRange(p, g, 0, kMaxGpuIndex); !r) return r;
    if (std::find(w.gpu_indices.begin(), w.gpu_indices.begin() + static_cast<std::ptrdiff_t>(i), g) !=
        w.gpu_indices.begin() + static_cast<std::ptrdiff_t>(i)) {
      return Bad(p, fmt::format("GPU {} appears twice", g));
    }
    if (const auto it = instance_gpus.find(g); it != instance_gpus.end()) {
      return Bad(p, fmt::format("GPU {} also has desired MIG instances (instances[{}]); a whole-GPU "
                                "workload needs the GPU without them",
                                g, it->second));
    }
    const auto [it, fresh] = bound.emplace(g, w.job_id);
    if (!fresh) return Bad(p, fmt::format("GPU {} is already bound to job '{}'", g, it->second));
  }
  return {};
}

// A workload runs on MIG instances or on whole GPUs: exactly one of the two lists is non-empty.
Result<void> CheckBindings(const std::string& path, const DesiredWorkload& w,
                           const std::set<std::string_view>& instance_keys,
                           const std::map<int, std::size_t>& instance_gpus,
                           std::map<std::string_view, std::string_view>& bound_keys,
                           std::map<int, std::string_view>& bound_gpus) {
  if (w.instance_keys.empty() && w.gpu_indices.empty()) {
    return Bad(JoinPath(path, "instance_keys"),
               "must name at least one instance (or give gpu_indices for whole GPUs)");
  }
  if (!w.instance_keys.empty() && !w.gpu_indices.empty()) {
    return Bad(JoinPath(path, "gpu_indices"),
               "not allowed together with instance_keys: a workload runs on MIG instances or on whole "
               "GPUs, not both");
  }
  if (auto r = CheckInstanceKeys(path, w, instance_keys, bound_keys); !r) return r;
  return CheckGpuIndices(path, w, instance_gpus, bound_gpus);
}

Result<void> CheckWorkloads(const DesiredNodeState& s) {
  if (auto r = CheckCount("workloads", s.workloads.size(), kMaxWorkloads); !r) return r;
  std::set<std::string_view> instance_keys, job_ids;
  std::map<int, std::size_t> instance_gpus;  // GPU index -> its first desired instance
  for (std::size_t i = 0; i < s.instances.size(); ++i) {
    instance_keys.insert(s.instances[i].key);
    instance_gpus.emplace(s.instances[i].gpu_index, i);
  }
  std::map<std::string_view, std::string_view> bound_keys;
  std::map<int, std::string_view> bound_gpus;
  for (std::size_t i = 0; i < s.workloads.size(); ++i) {
    const DesiredWorkload& w = s.workloads[i];
    const std::string path = AtIndex("workloads", i);
    if (auto r = CheckName(JoinPath(path, "job_id"), w.job_id); !r) return r;
    if (!job_ids.insert(w.job_id).second) {
      return Bad(JoinPath(path, "job_id"), fmt::format("'{}' appears twice", w.job_id));
    }
    if (auto r = CheckBindings(path, w, instance_keys, instance_gpus, bound_keys, bound_gpus); !r) return r;
    if (auto r = CheckCommand(path, w); !r) return r;
    if (auto r = CheckProcessOptions(path, w); !r) return r;
  }
  return {};
}

Result<void> CheckActualGpus(const std::vector<ActualGpu>& gpus) {
  if (auto r = CheckCount("gpus", gpus.size(), kMaxGpus); !r) return r;
  std::set<int> seen;
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    const std::string path = AtIndex("gpus", i);
    if (auto r = CheckRange(JoinPath(path, "index"), gpus[i].index, 0, kMaxGpuIndex); !r) return r;
    if (!seen.insert(gpus[i].index).second) return Bad(JoinPath(path, "index"), "appears twice");
    if (auto r = CheckName(JoinPath(path, "uuid"), gpus[i].uuid); !r) return r;
    if (auto r = CheckText(JoinPath(path, "message"), gpus[i].message, kMaxMessageBytes); !r) return r;
  }
  return {};
}

// The usage fields of one instance: each in range, memory used and total given together with
// used <= total, and a process count that agrees with `busy` (both come from one process list).
Result<void> CheckInstanceUsage(const std::string& path, const ActualInstance& in) {
  if (in.processes) {
    const std::string p = JoinPath(path, "processes");
    if (auto r = CheckRange(p, *in.processes, 0, kMaxInstanceProcesses); !r) return r;
    if ((*in.processes > 0) != in.busy) {
      return Bad(p, fmt::format("{} disagrees with busy: {}", *in.processes, in.busy));
    }
  }
  if (in.memory_used_mib.has_value() != in.memory_total_mib.has_value()) {
    return Bad(JoinPath(path, in.memory_used_mib ? "memory_total_mib" : "memory_used_mib"),
               "memory_used_mib and memory_total_mib go together");
  }
  if (in.memory_total_mib) {
    if (auto r = CheckRange(JoinPath(path, "memory_total_mib"), *in.memory_total_mib, 1, kMaxMemoryMib); !r)
      return r;
    if (auto r = CheckRange(JoinPath(path, "memory_used_mib"), *in.memory_used_mib, 0, *in.memory_total_mib);
        !r)
      return r;
  }
  if (in.activity_percent) {
    if (auto r = CheckRange(JoinPath(path, "activity_percent"), *in.activity_percent, 0, 100); !r) return r;
  }
  return CheckText(JoinPath(path, "usage_message"), in.usage_message, kMaxMessageBytes);
}

Result<void> CheckActualInstances(const std::vector<ActualInstance>& instances) {
  if (auto r = CheckCount("instances", instances.size(), kMaxInstances); !r) return r;
  for (std::size_t i = 0; i < instances.size(); ++i) {
    const ActualInstance& in = instances[i];
    const std::string path = AtIndex("instances", i);
    if (auto r = CheckSlot(path, in.gpu_index, in.profile, in.start); !r) return r;
    if (!in.key.empty()) {
      if (auto r = CheckName(JoinPath(path, "key"), in.key); !r) return r;
    }
    if (auto r = CheckName(JoinPath(path, "mig_uuid"), in.mig_uuid); !r) return r;
    if (auto r = CheckInstanceUsage(path, in); !r) return r;
  }
  return {};
}

Result<void> CheckActualWorkloads(const std::vector<ActualWorkload>& workloads) {
  if (auto r = CheckCount("workloads", workloads.size(), kMaxWorkloads); !r) return r;
  std::set<std::string_view> job_ids;
  for (std::size_t i = 0; i < workloads.size(); ++i) {
    const ActualWorkload& w = workloads[i];
    const std::string path = AtIndex("workloads", i);
    if (auto r = CheckName(JoinPath(path, "job_id"), w.job_id); !r) return r;
    if (!job_ids.insert(w.job_id).second) return Bad(JoinPath(path, "job_id"), "appears twice");
    if (w.pid) {
      if (auto r = CheckRange(JoinPath(path, "pid"), *w.pid, 1, INT_MAX); !r) return r;
    }
    if (w.exit_code) {
      if (auto r = CheckRange(JoinPath(path, "exit_code"), *w.exit_code, 0, 255); !r) return r;
    }
    if (w.signal) {
      if (auto r = CheckRange(JoinPath(path, "signal"), *w.signal, 1, 64); !r) return r;
    }
    if (auto r = CheckRange(JoinPath(path, "restarts"), w.restarts, 0, INT64_MAX); !r) return r;
    if (auto r = CheckText(JoinPath(path, "message"), w.message, kMaxMessageBytes); !r) return r;
  }
  return {};
}

}  // namespace

Result<void> ValidateDesiredNodeState(const DesiredNodeState& s) {
  if (auto r = CheckName("node", s.node); !r) return r;
  if (auto r = CheckInstances(s.instances); !r) return r;
  return CheckWorkloads(s);
}

Result<void> ValidateActualNodeState(const ActualNodeState& s) {
  if (auto r = CheckName("node", s.node); !r) return r;
  if (auto r = CheckActualGpus(s.gpus); !r) return r;
  if (auto r = CheckActualInstances(s.instances); !r) return r;
  return CheckActualWorkloads(s.workloads);
}

// ---------------------------------------------------------------------------------------------
// Encoding

namespace {

template <typename T>
void PutOpt(ordered_json& j, std::string_view key, const std::optional<T>& v) {
  if (v) j[std::string(key)] = *v;
}

ordered_json WorkloadJson(const DesiredWorkload& w) {
  // A MIG workload encodes exactly as before gpu_indices existed; a whole-GPU one has no
  // instance_keys.
  ordered_json j{{"job_id", w.job_id}};
  if (!w.instance_keys.empty() || w.gpu_indices.empty()) j["instance_keys"] = w.instance_keys;
  if (!w.gpu_indices.empty()) j["gpu_indices"] = w.gpu_indices;
  j["argv"] = w.argv;
  ordered_json env = ordered_json::object();
  for (const auto& [k, v] : w.env) env[k] = v;
  j["env"] = std::move(env);
  PutOpt(j, "working_dir", w.working_dir);
  PutOpt(j, "run_as_user", w.run_as_user);
  PutOpt(j, "cpu_millicores", w.cpu_millicores);
  PutOpt(j, "memory_mib", w.memory_mib);
  j["restart"] = RestartPolicyName(w.restart);
  j["kind"] = WorkloadKindName(w.kind);
  j["grace_period_ms"] = w.grace_period_ms;
  return j;
}

ordered_json ActualWorkloadJson(const ActualWorkload& w) {
  ordered_json j{{"job_id", w.job_id}, {"state", WorkloadStateName(w.state)}};
  PutOpt(j, "pid", w.pid);
  PutOpt(j, "exit_code", w.exit_code);
  PutOpt(j, "signal", w.signal);
  j["restarts"] = w.restarts;
  if (!w.message.empty()) j["message"] = w.message;
  return j;
}

}  // namespace

ordered_json ToJson(const DesiredNodeState& s) {
  ordered_json instances = ordered_json::array();
  for (const DesiredInstance& in : s.instances) {
    instances.push_back(
        {{"gpu_index", in.gpu_index}, {"profile", in.profile}, {"start", in.start}, {"key", in.key}});
  }
  ordered_json workloads = ordered_json::array();
  for (const DesiredWorkload& w : s.workloads) workloads.push_back(WorkloadJson(w));
  return {{"node", s.node},
          {"generation", s.generation},
          {"instances", std::move(instances)},
          {"workloads", std::move(workloads)}};
}

ordered_json ToJson(const ActualNodeState& s) {
  ordered_json gpus = ordered_json::array();
  for (const ActualGpu& g : s.gpus) {
    ordered_json j{{"index", g.index}, {"uuid", g.uuid}, {"health", GpuHealthName(g.health)}};
    if (!g.message.empty()) j["message"] = g.message;
    gpus.push_back(std::move(j));
  }
  ordered_json instances = ordered_json::array();
  for (const ActualInstance& in : s.instances) {
    ordered_json j{{"gpu_index", in.gpu_index}, {"profile", in.profile}, {"start", in.start}};
    if (!in.key.empty()) j["key"] = in.key;
    j["mig_uuid"] = in.mig_uuid;
    j["busy"] = in.busy;
    PutOpt(j, "processes", in.processes);
    PutOpt(j, "memory_used_mib", in.memory_used_mib);
    PutOpt(j, "memory_total_mib", in.memory_total_mib);
    PutOpt(j, "activity_percent", in.activity_percent);
    if (!in.usage_message.empty()) j["usage_message"] = in.usage_message;
    instances.push_back(std::move(j));
  }
  ordered_json workloads = ordered_json::array();
  for (const ActualWorkload& w : s.workloads) workloads.push_back(ActualWorkloadJson(w));
  return {{"node", s.node},
          {"generation_applied", s.generation_applied},
          {"gpus", std::move(gpus)},
          {"instances", std::move(instances)},
          {"workloads", std::move(workloads)}};
}

// ---------------------------------------------------------------------------------------------
// Parsing

Result<DesiredNodeState> ParseDesiredNodeState(std::string_view text) {
  auto j = ReadStrictJson(text, kMaxNodeStateBytes, kMaxJsonDepth);
  if (!j) return Fail(j.error());
  JsonDecoder d;
  DesiredNodeState s;
  if (d.Object(*j, "", {"node", "generation", "instances", "workloads"})) {
    d.String(*j, "", "node", &s.node);
    d.Int(*j, "", "generation", &s.generation);
    d.Array(*j, "", "instances", kMaxInstances, &s.instances, DecodeInstance);
    d.Array(*j, "", "workloads", kMaxWorkloads, &s.workloads, DecodeWorkload);
  }
  if (!d.ok()) return Fail(d.TakeError());
  if (auto r = ValidateDesiredNodeState(s); !r) return Fail(r.error());
  return s;
}

Result<ActualNodeState> ParseActualNodeState(std::string_view text) {
  auto j = ReadStrictJson(text, kMaxNodeStateBytes, kMaxJsonDepth);
  if (!j) return Fail(j.error());
  JsonDecoder d;
  ActualNodeState s;
  if (d.Object(*j, "", {"node", "generation_applied", "gpus", "instances", "workloads"})) {
    d.String(*j, "", "node", &s.node);
    d.Int(*j, "", "generation_applied", &s.generation_applied);
    d.Array(*j, "", "gpus", kMaxGpus, &s.gpus, DecodeGpu);
    d.Array(*j, "", "instances", kMaxInstances, &s.instances, DecodeActualInstance);
    d.Array(*j, "", "workloads", kMaxWorkloads, &s.workloads, DecodeActualWorkload);
  }
  if (!d.ok()) return Fail(d.TakeError());
  if (auto r = ValidateActualNodeState(s); !r) return Fail(r.error());
  return s;
}

}  // namespace gpuslice::api
