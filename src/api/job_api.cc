#include "api/job_api.h"

#include <fmt/format.h>

#include <array>
#include <utility>

#include "api/strict_json.h"

namespace gpuslice::api {
namespace {

using nlohmann::json;

constexpr std::array<std::pair<RestartPolicy, std::string_view>, 3> kRestartNames{
    {{RestartPolicy::kNever, "never"},
     {RestartPolicy::kOnFailure, "on-failure"},
     {RestartPolicy::kAlways, "always"}}};
constexpr std::array<std::pair<WorkloadKind, std::string_view>, 3> kKindNames{
    {{WorkloadKind::kBatch, "batch"},
     {WorkloadKind::kService, "service"},
     {WorkloadKind::kNotebook, "notebook"}}};

Result<void> Bad(std::string_view field, std::string_view what) {
  return Fail(ErrorCode::kInvalidArgument, "{}: {}", field, what);
}

Result<void> CheckRange(std::string_view field, std::int64_t v, std::int64_t lo, std::int64_t hi) {
  if (v >= lo && v <= hi) return {};
  return Fail(ErrorCode::kInvalidArgument, "{}: {} is out of range [{}, {}]", field, v, lo, hi);
}

Result<void> CheckOptionalName(std::string_view field, const std::string& v) {
  if (v.empty() || IsSaneName(v)) return {};
  return Fail(ErrorCode::kInvalidArgument, "{}: '{}' is not a valid name (1 to 128 of A-Z a-z 0-9 . _ + -)",
              field, v.substr(0, 64));
}

}  // namespace

Result<void> ValidateJobSubmit(const JobSubmit& job) {
  if (auto r = CheckOptionalName("team", job.team); !r) return r;
  if (auto r = CheckOptionalName("name", job.name); !r) return r;
  if (auto r = CheckOptionalName("profile", job.profile); !r) return r;
  if (auto r = CheckOptionalName("gpu_model", job.gpu_model); !r) return r;
  if (job.profile.empty() == !job.memory.has_value()) {
    return Bad(job.profile.empty() ? "profile" : "memory",
               job.profile.empty() ? "give a profile (\"3g.40gb\") or a memory size (\"20GiB\")"
                                   : "give a profile or a memory size, not both");
  }
  if (job.compute != 0 && job.memory == std::nullopt) return Bad("compute", "goes with memory, not profile");
  if (job.memory && job.memory->value() <= 0) return Bad("memory", "must be more than 0");
  if (auto r = CheckRange("compute", job.compute, 0, 64); !r) return r;
  if (auto r = CheckRange("count", job.count, 1, kMaxJobCount); !r) return r;
  if (auto r = CheckRange("priority", job.priority, -kMaxJobPriority, kMaxJobPriority); !r) return r;
  if (job.expected_duration_s) {
    if (auto r = CheckRange("expected_duration_s", *job.expected_duration_s, 0, kMaxExpectedDurationS); !r)
      return r;
  }
  return ValidateCommand("", "command", job.command, job.env);
}

Result<JobSubmit> ParseJobSubmit(std::string_view body) {
  Result<json> j = ReadStrictJson(body, kMaxJobSubmitBytes, kMaxJsonDepth);
  if (!j) return Fail(j.error());
  JsonDecoder d;
  JobSubmit job;
  std::optional<std::string> memory;
  if (d.Object(*j, "",
               {"team", "name", "profile", "memory", "compute", "gpu_model", "count", "same_node", "priority",
                "preemptible", "kind", "command", "env", "restart", "expected_duration_s"})) {
    d.String(*j, "", "team", &job.team, false);
    d.String(*j, "", "name", &job.name, false);
    d.String(*j, "", "profile", &job.profile, false);
    d.OptString(*j, "", "memory", &memory);
    d.Int(*j, "", "compute", &job.compute, false);
    d.String(*j, "", "gpu_model", &job.gpu_model, false);
    d.Int(*j, "", "count", &job.count, false);
    if (d.Member(*j, "", "same_node", false)) d.Bool(*j, "", "same_node", &job.same_node);
    d.Int(*j, "", "priority", &job.priority, false);
    if (d.Member(*j, "", "preemptible", false)) d.Bool(*j, "", "preemptible", &job.preemptible);
    d.Enum(*j, "", "kind", kKindNames, &job.kind, false);
    d.StringArray(*j, "", "command", kMaxArgvEntries, &job.command);
    d.StringMap(*j, "", "env", kMaxEnvEntries, &job.env);
    d.Enum(*j, "", "restart", kRestartNames, &job.restart, false);
    d.OptInt(*j, "", "expected_duration_s", &job.expected_duration_s);
  }
  if (!d.ok()) return Fail(d.TakeError());
  if (memory) {
    Result<MiB> m = ParseMemory(*memory);
    if (!m) return Fail(m.error().WithContext("memory"));
    job.memory = *m;
  }
  if (auto r = ValidateJobSubmit(job); !r) return Fail(r.error());
  return job;
}

nlohmann::ordered_json ToJson(const JobSubmit& job) {
  nlohmann::ordered_json j;
  if (!job.team.empty()) j["team"] = job.team;
  if (!job.name.empty()) j["name"] = job.name;
  if (!job.profile.empty()) j["profile"] = job.profile;
  if (job.memory) j["memory"] = fmt::format("{}MiB", job.memory->value());
  if (job.compute != 0) j["compute"] = job.compute;
  if (!job.gpu_model.empty()) j["gpu_model"] = job.gpu_model;
  j["count"] = job.count;
  j["same_node"] = job.same_node;
  j["priority"] = job.priority;
  j["preemptible"] = job.preemptible;
  j["kind"] = WorkloadKindName(job.kind);
  j["command"] = job.command;
  if (!job.env.empty()) j["env"] = job.env;
  j["restart"] = RestartPolicyName(job.restart);
  if (job.expected_duration_s) j["expected_duration_s"] = *job.expected_duration_s;
  return j;
}

int HttpStatus(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kFailedPrecondition: return 409;
    case ErrorCode::kResourceExhausted: return 429;
    case ErrorCode::kUnimplemented: return 501;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

}  // namespace gpuslice::api
