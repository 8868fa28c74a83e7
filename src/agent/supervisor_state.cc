#include "agent/supervisor_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "agent/log_pipe.h"

namespace gpuslice::agent {
namespace {

using nlohmann::json;

constexpr int kVersion = 1;

template <typename E, std::size_t N>
E EnumFrom(const std::string& name, const std::array<E, N>& values, std::string_view (*name_of)(E)) {
  for (E e : values) {
    if (name_of(e) == name) return e;
  }
  throw std::invalid_argument("unknown value '" + name + "'");
}

template <typename T>
void PutOpt(json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}

template <typename T>
void GetOpt(const json& j, const char* key, std::optional<T>* out) {
  if (j.contains(key) && !j.at(key).is_null()) *out = j.at(key).get<T>();
}

json SpecJson(const WorkloadSpec& s) {
  json j{{"job_id", s.job_id},
         {"mig_uuids", s.device_uuids},  // the key predates whole-GPU workloads
         {"argv", s.argv},
         {"env", s.env},
         {"restart", api::RestartPolicyName(s.restart)},
         {"grace_period_ms", s.grace_period.count()}};
  PutOpt(j, "working_dir", s.working_dir);
  PutOpt(j, "run_as_user", s.run_as_user);
  PutOpt(j, "cpu_millicores", s.cpu_millicores);
  PutOpt(j, "memory_mib", s.memory_mib);
  return j;
}

WorkloadSpec SpecFrom(const json& j) {
  WorkloadSpec s;
  s.job_id = j.at("job_id").get<std::string>();
  s.device_uuids = j.at("mig_uuids").get<std::vector<std::string>>();
  s.argv = j.at("argv").get<std::vector<std::string>>();
  s.env = j.at("env").get<std::map<std::string, std::string>>();
  s.restart = EnumFrom(
      j.at("restart").get<std::string>(),
      std::array{api::RestartPolicy::kNever, api::RestartPolicy::kOnFailure, api::RestartPolicy::kAlways},
      api::RestartPolicyName);
  s.grace_period = std::chrono::milliseconds(j.at("grace_period_ms").get<std::int64_t>());
  GetOpt(j, "working_dir", &s.working_dir);
  GetOpt(j, "run_as_user", &s.run_as_user);
  GetOpt(j, "cpu_millicores", &s.cpu_millicores);
  GetOpt(j, "memory_mib", &s.memory_mib);
  return s;
}

json RecordJson(const WorkloadRecord& r) {
  json j{{"spec", SpecJson(r.spec)},
         {"state", api::WorkloadStateName(r.state)},
         {"pid", r.pid},
         {"start_ticks", r.start_ticks},
         {"restarts", r.restarts},
         {"backoff_step", r.backoff_step},
         {"stop_requested", r.stop_requested},
         {"log_path", r.log_path},
         {"fifo_path", r.fifo_path},
         {"cgroup_path", r.cgroup_path},
         {"message", r.message}};
  PutOpt(j, "exit_code", r.exit_code);
  PutOpt(j, "signal", r.signal);
  return j;
}

WorkloadRecord RecordFrom(const json& j) {
  WorkloadRecord r;
  r.spec = SpecFrom(j.at("spec"));
  r.state = EnumFrom(
      j.at("state").get<std::string>(),
      std::array{api::WorkloadState::kStarting, api::WorkloadState::kRunning, api::WorkloadState::kExited,
                 api::WorkloadState::kFailed, api::WorkloadState::kStopped},
      api::WorkloadStateName);
  r.pid = j.at("pid").get<int>();
  r.start_ticks = j.at("start_ticks").get<std::uint64_t>();
  r.restarts = j.at("restarts").get<std::int64_t>();
  r.backoff_step = j.at("backoff_step").get<int>();
  r.stop_requested = j.at("stop_requested").get<bool>();
  r.log_path = j.at("log_path").get<std::string>();
  r.fifo_path = j.at("fifo_path").get<std::string>();
  r.cgroup_path = j.at("cgroup_path").get<std::string>();
  r.message = j.at("message").get<std::string>();
  GetOpt(j, "exit_code", &r.exit_code);
  GetOpt(j, "signal", &r.signal);
  return r;
}

}  // namespace

WorkloadSpec SpecFromDesired(const api::DesiredWorkload& w, std::vector<std::string> device_uuids) {
  WorkloadSpec s;
  s.job_id = w.job_id;
  s.device_uuids = std::move(device_uuids);
  s.argv = w.argv;
  s.env = w.env;
  s.working_dir = w.working_dir;
  s.run_as_user = w.run_as_user;
  s.cpu_millicores = w.cpu_millicores;
  s.memory_mib = w.memory_mib;
  s.restart = w.restart;
  s.grace_period = std::chrono::milliseconds(w.grace_period_ms);
  return s;
}

std::string EncodeSupervisorState(const SupervisorState& state) {
  json workloads = json::array();
  for (const WorkloadRecord& r : state.workloads) workloads.push_back(RecordJson(r));
  const json j{{"version", kVersion}, {"boot_id", state.boot_id}, {"workloads", std::move(workloads)}};
  // Replace, not throw, on bytes that are not UTF-8 (argv may hold any bytes but NUL).
  return j.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<SupervisorState> DecodeSupervisorState(std::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(ErrorCode::kInternal, "supervisor state is not valid JSON");
  try {
    if (j.at("version").get<int>() != kVersion) {
      return Fail(ErrorCode::kInternal, "supervisor state has version {}, this agent reads {}",
                  j.at("version").dump(), kVersion);
    }
    SupervisorState state;
    state.boot_id = j.at("boot_id").get<std::string>();
    for (const json& w : j.at("workloads")) state.workloads.push_back(RecordFrom(w));
    return state;
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInternal, "supervisor state is damaged: {}", e.what());
  }
}

}  // namespace gpuslice::agent
