// The job submission body of the REST API (`POST /v1/jobs`, DESIGN.md §6) and the mapping of
// error codes to HTTP statuses. Shared by the server (which parses it) and the CLI (which
// builds it from `gpuslice run` flags).
//
//   {"team": "nlp", "name": "train-7", "profile": "3g.40gb",          // or "memory": "20GiB",
//    "count": 1, "same_node": false, "priority": 0, "preemptible": true,  //    "compute": 2
//    "kind": "batch", "gpu_model": "A100-80GB",
//    "command": ["python", "train.py"], "env": {"EPOCHS": "3"},
//    "restart": "never", "expected_duration_s": 3600}
//
// Only `command` and one of `profile` / `memory` are required; `team` may be left out by a team
// token (the server fills it in). Parsing is strict (unknown fields, duplicate keys, wrong types
// and out-of-range values are rejected with the field's path) and bounded, and never throws.
//
// Thread-safety: plain values and functions.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/node_state.h"
#include "common/error.h"
#include "common/units.h"

namespace gpuslice::api {

inline constexpr std::size_t kMaxJobSubmitBytes = 1 << 20;
inline constexpr int kMaxJobCount = 64;  // gang size, as the scheduler allows
inline constexpr int kMaxJobPriority = 1'000'000;
inline constexpr std::int64_t kMaxExpectedDurationS = std::int64_t{366} * 86400;

struct JobSubmit {
  std::string team;  // empty: the caller's own team (team tokens)
  std::string name;  // empty: the server names it after its id
  std::string profile;
  std::optional<MiB> memory;  // a size request: at least this much instance memory
  int compute = 0;            // ... and at least this many compute slices (0: any)
  std::string gpu_model;      // only this catalog model; empty: any
  int count = 1;
  bool same_node = false;
  int priority = 0;
  bool preemptible = false;
  WorkloadKind kind = WorkloadKind::kBatch;
  std::vector<std::string> command;
  std::map<std::string, std::string> env;
  RestartPolicy restart = RestartPolicy::kNever;
  std::optional<std::int64_t> expected_duration_s;
};

Result<JobSubmit> ParseJobSubmit(std::string_view body);
// The value rules ParseJobSubmit applies after decoding (for bodies built in code).
Result<void> ValidateJobSubmit(const JobSubmit& job);
nlohmann::ordered_json ToJson(const JobSubmit& job);

// The HTTP status an error answers with: 400 invalid argument, 404 not found, 409 already
// exists / failed precondition, 403 permission denied, 429 resource exhausted, 503 unavailable,
// 501 unimplemented, 500 internal.
int HttpStatus(ErrorCode code);

}  // namespace gpuslice::api
