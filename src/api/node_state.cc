#include "api/node_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <climits>
#include <limits>
#include <set>
#include <utility>

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

std::string Join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}
std::string At(std::string_view path, std::size_t i) {
  return fmt::format("{}[{}]", path, i);
}
std::string Where(std::string_view path) {
  return path.empty() ? "document" : std::string(path);
}

bool HasNul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

// ---------------------------------------------------------------------------------------------
// Decoding: types, required and unknown fields. The first error wins; later reads are no-ops.
// Value rules (names, ranges, sizes, references) are checked afterwards by the validators, so
// that documents built in code and documents parsed from text obey the same rules.

class Decoder {
 public:
  bool ok() const { return !error_; }
  Error TakeError() { return std::move(*error_); }

  template <typename... Args>
  void Fail(fmt::format_string<Args...> format, Args&&... args) {
    if (!error_)
      error_ = Error{ErrorCode::kInvalidArgument, fmt::format(format, std::forward<Args>(args)...)};
  }

  // Checks that `j` is an object whose keys are all in `fields`.
  bool Object(const json& j, std::string_view path, std::initializer_list<std::string_view> fields) {
    if (!ok()) return false;
    if (!j.is_object()) {
      Fail("{}: expected an object", Where(path));
      return false;
    }
    for (const auto& item : j.items()) {
      if (std::find(fields.begin(), fields.end(), item.key()) == fields.end()) {
        Fail("{}: unknown field", Join(path, item.key()));
        return false;
      }
    }
    return true;
  }

  // The member `key` of object `j`: nullptr when absent or null (a missing required field is an
  // error).
  const json* Member(const json& j, std::string_view path, std::string_view key, bool required) {
    if (!ok()) return nullptr;
    const auto it = j.find(std::string(key));
    if (it == j.end() || it->is_null()) {
      if (required) Fail("{}: required field is missing", Join(path, key));
      return nullptr;
    }
    return &*it;
  }

  void String(const json& j, std::string_view path, std::string_view key, std::string* out,
              bool required = true) {
    const json* v = Member(j, path, key, required);
    if (v == nullptr) return;
    if (!v->is_string()) return Fail("{}: expected a string", Join(path, key));
    *out = v->get<std::string>();
  }

  void OptString(const json& j, std::string_view path, std::string_view key,
                 std::optional<std::string>* out) {
    if (Member(j, path, key, false) == nullptr) return;
    String(j, path, key, &out->emplace());
  }

  void Bool(const json& j, std::string_view path, std::string_view key, bool* out) {
    const json* v = Member(j, path, key, true);
    if (v == nullptr) return;
    if (!v->is_boolean()) return Fail("{}: expected true or false", Join(path, key));
    *out = v->get<bool>();
  }

  // Any integer in [lo, hi]; ranges narrower than the type's are the validators' business.
  template <typename T>
  void Int(const json& j, std::string_view path, std::string_view key, T* out, bool required = true) {
    const json* v = Member(j, path, key, required);
    if (v == nullptr) return;
    const std::string where = Join(path, key);
    if (!v->is_number_integer()) return Fail("{}: expected an integer", where);
    if (v->is_number_unsigned()) {
      const auto u = v->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
        return Fail("{}: {} is too large", where, u);
      }
      *out = static_cast<T>(u);
      return;
    }
    const auto s = v->get<std::int64_t>();
    if (s < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
        (s > 0 &&
         static_cast<std::uint64_t>(s) > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))) {
      return Fail("{}: {} is out of range", where, s);
    }
    *out = static_cast<T>(s);
  }

  template <typename T>
  void OptInt(const json& j, std::string_view path, std::string_view key, std::optional<T>* out) {
    if (Member(j, path, key, false) == nullptr) return;
    Int(j, path, key, &out->emplace());
  }

  template <typename Table, typename E>
  void Enum(const json& j, std::string_view path, std::string_view key, const Table& table, E* out,
            bool required) {
    const json* v = Member(j, path, key, required);
    if (v == nullptr) return;
    if (v->is_string()) {
      const auto& s = v->get_ref<const std::string&>();
      for (const auto& [e, name] : table) {
        if (name == s) {
          *out = e;
          return;
        }
      }
    }
    std::vector<std::string_view> names;
    for (const auto& entry : table) names.push_back(entry.second);
    Fail("{}: expected one of {}", Join(path, key), fmt::join(names, ", "));
  }

  void StringArray(const json& j, std::string_view path, std::string_view key, std::size_t max,
                   std::vector<std::string>* out) {
    const json* v = Member(j, path, key, true);
    if (v == nullptr) return;
    const std::string where = Join(path, key);
    if (!v->is_array()) return Fail("{}: expected an array of strings", where);
    if (!Fits(where, v->size(), max)) return;
    for (std::size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) return Fail("{}: expected an array of strings", where);
      out->push_back((*v)[i].get<std::string>());
    }
  }

  void StringMap(const json& j, std::string_view path, std::string_view key, std::size_t max,
                 std::map<std::string, std::string>* out) {
    const json* v = Member(j, path, key, false);
    if (v == nullptr) return;
    const std::string where = Join(path, key);
    if (!v->is_object()) return Fail("{}: expected an object of strings", where);
    if (!Fits(where, v->size(), max)) return;
    for (const auto& item : v->items()) {
      if (!item.value().is_string()) return Fail("{}: expected a string", Join(where, item.key()));
      (*out)[item.key()] = item.value().get<std::string>();
    }
  }

  // Decodes each element of array `key` with `element(decoder, value, path, out)`.
  template <typename T, typename F>
  void Array(const json& j, std::string_view path, std::string_view key, std::size_t max, std::vector<T>* out,
             F&& element) {
    const json* v = Member(j, path, key, false);
    if (v == nullptr) return;
    const std::string where = Join(path, key);
    if (!v->is_array()) return Fail("{}: expected an array", where);
    if (!Fits(where, v->size(), max)) return;
    for (std::size_t i = 0; i < v->size() && ok(); ++i)
      element(*this, (*v)[i], At(where, i), &out->emplace_back());
  }

 private:
  // Counts are bounded while decoding, before anything is copied out of the DOM.
  bool Fits(std::string_view where, std::size_t n, std::size_t max) {
    if (n <= max) return true;
    Fail("{}: {} entries exceed the limit of {}", where, n, max);
    return false;
  }

  std::optional<Error> error_;
};

void DecodeInstance(Decoder& d, const json& j, const std::string& path, DesiredInstance* out) {
  if (!d.Object(j, path, {"gpu_index", "profile", "start", "key"})) return;
  d.Int(j, path, "gpu_index", &out->gpu_index);
  d.String(j, path, "profile", &out->profile);
  d.Int(j, path, "start", &out->start);
  d.String(j, path, "key", &out->key);
}

void DecodeWorkload(Decoder& d, const json& j, const std::string& path, DesiredWorkload* out) {
  if (!d.Object(j, path,
                {"job_id", "instance_keys", "argv", "env", "working_dir", "run_as_user", "cpu_millicores",
                 "memory_mib", "restart", "kind", "grace_period_ms"})) {
    return;
  }
  d.String(j, path, "job_id", &out->job_id);
  d.StringArray(j, path, "instance_keys", kMaxInstanceKeysPerWorkload, &out->instance_keys);
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

void DecodeGpu(Decoder& d, const json& j, const std::string& path, ActualGpu* out) {
  if (!d.Object(j, path, {"index", "uuid", "health", "message"})) return;
  d.Int(j, path, "index", &out->index);
  d.String(j, path, "uuid", &out->uuid);
  d.Enum(j, path, "health", kHealthNames, &out->health, /*required=*/true);
  d.String(j, path, "message", &out->message, /*required=*/false);
}

void DecodeActualInstance(Decoder& d, const json& j, const std::string& path, ActualInstance* out) {
  if (!d.Object(j, path, {"gpu_index", "profile", "start", "key", "mig_uuid", "busy"})) return;
  d.Int(j, path, "gpu_index", &out->gpu_index);
  d.String(j, path, "profile", &out->profile);
  d.Int(j, path, "start", &out->start);
  d.String(j, path, "key", &out->key, /*required=*/false);
  d.String(j, path, "mig_uuid", &out->mig_uuid);
  d.Bool(j, path, "busy", &out->busy);
}

void DecodeActualWorkload(Decoder& d, const json& j, const std::string& path, ActualWorkload* out) {
  if (!d.Object(j, path, {"job_id", "state", "pid", "exit_code", "signal", "restarts", "message"})) return;
  d.String(j, path, "job_id", &out->job_id);
  d.Enum(j, path, "state", kStateNames, &out->state, /*required=*/true);
  d.OptInt(j, path, "pid", &out->pid);
  d.OptInt(j, path, "exit_code", &out->exit_code);
  d.OptInt(j, path, "signal", &out->signal);
  d.Int(j, path, "restarts", &out->restarts, /*required=*/false);
  d.String(j, path, "message", &out->message, /*required=*/false);
}

// ---------------------------------------------------------------------------------------------
// Reading the text: size and depth bounds, then nlohmann's parser with a callback that rejects
// duplicate keys (nlohmann keeps the last one silently; a strict reader must not guess).

Result<void> CheckDepth(std::string_view text) {
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return Fail(ErrorCode::kInvalidArgument, "JSON nests deeper than {} levels", kMaxJsonDepth);
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return {};
}

Result<json> ReadJson(std::string_view text) {
  if (text.size() > kMaxNodeStateBytes) {
    return Fail(ErrorCode::kInvalidArgument, "document of {} bytes exceeds the limit of {} bytes",
                text.size(), kMaxNodeStateBytes);
  }
  if (auto r = CheckDepth(text); !r) return Fail(r.error());
  // Depth is bounded above, so every object_start has its object_end: the callback never
  // discards, which would suppress the matching end event.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  const json::parser_callback_t callback = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end && !open_objects.empty()) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty() && parsed.is_string()) {
      if (!open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty()) {
        duplicate = parsed.get<std::string>();
      }
    }
    return true;
  };
  json j = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(ErrorCode::kInvalidArgument, "not valid JSON");
  if (!duplicate.empty()) return Fail(ErrorCode::kInvalidArgument, "duplicate key '{}'", duplicate);
  return j;
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
  if (auto r = CheckRange(Join(path, "gpu_index"), gpu_index, 0, kMaxGpuIndex); !r) return r;
  if (auto r = CheckName(Join(path, "profile"), profile); !r) return r;
  return CheckRange(Join(path, "start"), start, 0, kMaxStartUnit);
}

Result<void> CheckInstances(const std::vector<DesiredInstance>& instances) {
  if (auto r = CheckCount("instances", instances.size(), kMaxInstances); !r) return r;
  std::set<std::string_view> keys;
  std::set<std::pair<int, int>> slots;
  for (std::size_t i = 0; i < instances.size(); ++i) {
    const DesiredInstance& in = instances[i];
    const std::string path = At("instances", i);
    if (auto r = CheckSlot(path, in.gpu_index, in.profile, in.start); !r) return r;
    if (auto r = CheckName(Join(path, "key"), in.key); !r) return r;
    if (!keys.insert(in.key).second) return Bad(Join(path, "key"), fmt::format("'{}' appears twice", in.key));
    if (!slots.insert({in.gpu_index, in.start}).second) {
      return Bad(path, fmt::format("a second instance at GPU {} start {}", in.gpu_index, in.start));
    }
  }
  return {};
}

Result<void> CheckCommand(const std::string& path, const DesiredWorkload& w) {
  const std::string argv_path = Join(path, "argv");
  if (w.argv.empty()) return Bad(argv_path, "must name a program");
  if (auto r = CheckCount(argv_path, w.argv.size(), kMaxArgvEntries); !r) return r;
  if (w.argv[0].empty()) return Bad(At(argv_path, 0), "the program name is empty");
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < w.argv.size(); ++i) {
    if (auto r = CheckText(At(argv_path, i), w.argv[i], kMaxArgBytes); !r) return r;
    bytes += w.argv[i].size() + 1;
  }
  const std::string env_path = Join(path, "env");
  if (auto r = CheckCount(env_path, w.env.size(), kMaxEnvEntries); !r) return r;
  for (const auto& [name, value] : w.env) {
    const std::string p = Join(env_path, name.substr(0, 64));
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

Result<void> CheckProcessOptions(const std::string& path, const DesiredWorkload& w) {
  if (w.working_dir) {
    const std::string p = Join(path, "working_dir");
    if (auto r = CheckText(p, *w.working_dir, kMaxPathBytes); !r) return r;
    if (!w.working_dir->starts_with('/')) return Bad(p, "must be an absolute path");
  }
  if (w.run_as_user && !IsUserName(*w.run_as_user)) {
    return Bad(Join(path, "run_as_user"), "not a valid user name");
  }
  if (w.cpu_millicores) {
    if (auto r = CheckRange(Join(path, "cpu_millicores"), *w.cpu_millicores, 1, kMaxCpuMillicores); !r)
      return r;
  }
  if (w.memory_mib) {
    if (auto r = CheckRange(Join(path, "memory_mib"), *w.memory_mib, 1, kMaxMemoryMib); !r) return r;
  }
  return CheckRange(Join(path, "grace_period_ms"), w.grace_period_ms, 0, kMaxGracePeriodMs);
}

// Instance keys: each names an instance of the document and is bound to one workload at most.
Result<void> CheckBindings(const std::string& path, const DesiredWorkload& w,
                           const std::set<std::string_view>& instance_keys,
                           std::map<std::string_view, std::string_view>& bound) {
  const std::string keys_path = Join(path, "instance_keys");
  if (w.instance_keys.empty()) return Bad(keys_path, "must name at least one instance");
  if (auto r = CheckCount(keys_path, w.instance_keys.size(), kMaxInstanceKeysPerWorkload); !r) return r;
  for (std::size_t i = 0; i < w.instance_keys.size(); ++i) {
    const std::string& key = w.instance_keys[i];
    const std::string p = At(keys_path, i);
    if (auto r = CheckName(p, key); !r) return r;
    if (!instance_keys.contains(key)) return Bad(p, fmt::format("no instance has key '{}'", key));
    const auto [it, fresh] = bound.emplace(key, w.job_id);
    if (!fresh) return Bad(p, fmt::format("instance '{}' is already bound to job '{}'", key, it->second));
  }
  return {};
}

Result<void> CheckWorkloads(const DesiredNodeState& s) {
  if (auto r = CheckCount("workloads", s.workloads.size(), kMaxWorkloads); !r) return r;
  std::set<std::string_view> instance_keys, job_ids;
  for (const DesiredInstance& in : s.instances) instance_keys.insert(in.key);
  std::map<std::string_view, std::string_view> bound;
  for (std::size_t i = 0; i < s.workloads.size(); ++i) {
    const DesiredWorkload& w = s.workloads[i];
    const std::string path = At("workloads", i);
    if (auto r = CheckName(Join(path, "job_id"), w.job_id); !r) return r;
    if (!job_ids.insert(w.job_id).second) {
      return Bad(Join(path, "job_id"), fmt::format("'{}' appears twice", w.job_id));
    }
    if (auto r = CheckBindings(path, w, instance_keys, bound); !r) return r;
    if (auto r = CheckCommand(path, w); !r) return r;
    if (auto r = CheckProcessOptions(path, w); !r) return r;
  }
  return {};
}

Result<void> CheckActualGpus(const std::vector<ActualGpu>& gpus) {
  if (auto r = CheckCount("gpus", gpus.size(), kMaxGpus); !r) return r;
  std::set<int> seen;
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    const std::string path = At("gpus", i);
    if (auto r = CheckRange(Join(path, "index"), gpus[i].index, 0, kMaxGpuIndex); !r) return r;
    if (!seen.insert(gpus[i].index).second) return Bad(Join(path, "index"), "appears twice");
    if (auto r = CheckName(Join(path, "uuid"), gpus[i].uuid); !r) return r;
    if (auto r = CheckText(Join(path, "message"), gpus[i].message, kMaxMessageBytes); !r) return r;
  }
  return {};
}

Result<void> CheckActualInstances(const std::vector<ActualInstance>& instances) {
  if (auto r = CheckCount("instances", instances.size(), kMaxInstances); !r) return r;
  for (std::size_t i = 0; i < instances.size(); ++i) {
    const ActualInstance& in = instances[i];
    const std::string path = At("instances", i);
    if (auto r = CheckSlot(path, in.gpu_index, in.profile, in.start); !r) return r;
    if (!in.key.empty()) {
      if (auto r = CheckName(Join(path, "key"), in.key); !r) return r;
    }
    if (auto r = CheckName(Join(path, "mig_uuid"), in.mig_uuid); !r) return r;
  }
  return {};
}

Result<void> CheckActualWorkloads(const std::vector<ActualWorkload>& workloads) {
  if (auto r = CheckCount("workloads", workloads.size(), kMaxWorkloads); !r) return r;
  std::set<std::string_view> job_ids;
  for (std::size_t i = 0; i < workloads.size(); ++i) {
    const ActualWorkload& w = workloads[i];
    const std::string path = At("workloads", i);
    if (auto r = CheckName(Join(path, "job_id"), w.job_id); !r) return r;
    if (!job_ids.insert(w.job_id).second) return Bad(Join(path, "job_id"), "appears twice");
    if (w.pid) {
      if (auto r = CheckRange(Join(path, "pid"), *w.pid, 1, INT_MAX); !r) return r;
    }
    if (w.exit_code) {
      if (auto r = CheckRange(Join(path, "exit_code"), *w.exit_code, 0, 255); !r) return r;
    }
    if (w.signal) {
      if (auto r = CheckRange(Join(path, "signal"), *w.signal, 1, 64); !r) return r;
    }
    if (auto r = CheckRange(Join(path, "restarts"), w.restarts, 0, INT64_MAX); !r) return r;
    if (auto r = CheckText(Join(path, "message"), w.message, kMaxMessageBytes); !r) return r;
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
  ordered_json j{{"job_id", w.job_id}, {"instance_keys", w.instance_keys}, {"argv", w.argv}};
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
  auto j = ReadJson(text);
  if (!j) return Fail(j.error());
  Decoder d;
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
  auto j = ReadJson(text);
  if (!j) return Fail(j.error());
  Decoder d;
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
