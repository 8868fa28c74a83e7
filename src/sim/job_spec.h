// JobSpec: one job of a workload the simulator replays, and gpuslice's own workload formats.
//
// A workload is a list of JobSpecs ordered by submit time. It comes from a trace reader
// (alibaba_trace.h maps the Alibaba pods onto JobSpecs), from gpuslice's own CSV or JSONL files
// (below), or from the generators in workload_gen.h. The simulator turns each JobSpec into a
// scheduler job; JobSpec itself knows nothing of the scheduler.
//
// The CSV format (header required, columns in any order, unknown columns are errors):
//
//   name,team,priority,preemptible,kind,submit_s,duration_s,profile,memory,compute,count,same_node,gpu_model
//   nb-1,nlp,0,false,notebook,0,14400,,10GiB,1,1,false,
//   train-7,vision,10,true,batch,30,600,3g.40gb,,,2,true,A100-80GB
//
// Only `name`, `team`, `kind` and `submit_s` are required; the rest default as in JobSpec. Times
// are seconds with up to three decimals. An empty `duration_s` means the job runs until the end
// of the simulation (services). A request is either a `profile` name — `whole` meaning the whole
// GPU, MIG or not — or a size (`memory` and/or `compute`), not both. JSONL has one object
// per line with the same field names (numbers as numbers, booleans as booleans, memory as a
// string such as "10GiB").
//
// Errors name the line (1-based) and the field; nothing is returned from a file with an error.
// Thread-safety: plain functions over values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/units.h"
#include "sched/model.h"

namespace gpuslice::sim {

inline constexpr std::string_view kWholeGpu = "whole";  // profile name for a whole GPU

using sched::JobKind;
using sched::JobKindName;
using sched::ParseJobKind;

struct JobSpec {
  std::string name;
  std::string team;
  int priority = 0;
  bool preemptible = false;
  JobKind kind = JobKind::kBatch;
  std::int64_t submit_ms = 0;               // from the start of the workload
  std::optional<std::int64_t> duration_ms;  // nullopt: runs until the simulation ends
  std::string profile;                      // a profile name, "whole", or empty for a size request
  std::optional<MiB> memory;                // size request: at least this much memory
  int compute_slices = 0;                   // size request: at least this many compute slices
  int count = 1;                            // gang size: all `count` slices or none
  bool same_node = false;                   // gang on one node
  std::string gpu_model;                    // only this GPU model (catalog name); empty: any

  friend bool operator==(const JobSpec&, const JobSpec&) = default;
};

// Checks one spec's own consistency (names non-empty, times and counts in range, profile xor
// size, gang size 1..64). Used by the readers and by callers that build specs by hand.
Result<void> ValidateJobSpec(const JobSpec& job);

Result<std::vector<JobSpec>> ParseJobsCsv(std::string_view text);
Result<std::vector<JobSpec>> ParseJobsJsonl(std::string_view text);
std::string FormatJobsCsv(const std::vector<JobSpec>& jobs);
std::string FormatJobsJsonl(const std::vector<JobSpec>& jobs);

}  // namespace gpuslice::sim
