// Scenario files: a cluster, a timeline of events and the decisions and states expected after
// each scheduling pass, run against the production scheduler (STYLE.md §11). They are tests as
// data: `gpuslice scenario FILE…` runs them, and CTest runs every file in tests/scenarios/.
//
// The format is line based; '#' starts a comment, blank lines are ignored:
//
//   cluster ../../examples/clusters/small.yaml   # a cluster file, relative to this file
//   option preemption off                      # before the first event: preemption on|off,
//                                              # demand_warm on|off, warm_idle_s N,
//                                              # reserve_after_s N, max_reservations N
//   at 10                                      # the clock, in seconds (never goes back)
//   submit big team=nlp profile=7g.40gb priority=5 preemptible count=1 same_node duration=600
//   submit nb team=nlp memory=20GiB compute=2  # a size request
//   finish big | cancel big
//   cordon NODE/GPU | drain NODE/GPU | uncordon NODE/GPU | whole NODE/GPU | dynamic NODE/GPU
//   remove NODE
//   schedule                                   # one pass; its decisions become "the last pass"
//   expect decisions                           # the last pass's decisions, exactly, in order:
//     preempt low for big                      #   indented lines, one decision each
//     destroy 1g.5gb@6 on a100-1/0
//     create 7g.40gb@0 on a100-1/0
//     bind big on a100-1/0 7g.40gb@0           #   ("bind big on h100-1/3" for a whole GPU)
//   expect decisions none
//   expect running big nb                      # exactly these jobs run (names in any order)
//   expect pending low quota over quota        # Why(job): kind, then a substring of the message
//   expect usage nlp A100-80GB 500             # the team's quota usage in mGPU
//
// Errors: kInvalidArgument with "FILE:LINE: …" for a malformed line, kNotFound for unknown
// names; a failed expectation is kFailedPrecondition with what was expected and what was seen.
#pragma once

#include <string>

#include "common/error.h"

namespace gpuslice::sim {

struct ScenarioResult {
  int passes = 0;  // scheduling passes run
  int checks = 0;  // expectations met
};

// Runs the scenario in `text`; `path` names it in messages and anchors relative file names.
Result<ScenarioResult> RunScenario(std::string_view text, const std::string& path);
// Reads and runs a scenario file.
Result<ScenarioResult> RunScenarioFile(const std::string& path);

}  // namespace gpuslice::sim
