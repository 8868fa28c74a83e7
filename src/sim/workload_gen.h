// Synthetic workloads: notebooks, inference services, batch jobs, and a mix of the three.
//
// The shapes below are modelling assumptions, chosen to resemble the light jobs gpuslice is for
// (DESIGN.md §1); they are not measurements. Every random draw comes from the Rng passed in, so
// a seed reproduces a workload exactly.
//
//   notebook   long-lived, mostly idle: 1 compute slice, 10 GiB (70%) or 20 GiB; runs 1-8 h
//   inference  service: 20 GiB (60%) or 40 GiB, 1-3 compute slices; 80% run until the end of
//              the simulation, the rest 6-48 h; priority 5
//   batch      short: 10 GiB / 2 slices / 3 slices / a whole GPU / a gang of 2-8 whole GPUs
//              (30/30/20/15/5%); runs 5 min - 2 h; priority 0-10; 70% preemptible
//   mix        40% notebooks, 30% inference, 30% batch
//
// Arrivals are a Poisson process spread over `hours`; teams are drawn uniformly.
//
// Spec strings (the simulator's `--workload gen:…`): KIND[:key=value,…] with keys jobs (default
// 1000), hours (default 24) and teams (names separated by '|', default "team-a|team-b"), e.g.
// "mix:jobs=5000,hours=48,teams=nlp|vision|speech".
//
// Thread-safety: plain functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/rng.h"
#include "sim/job_spec.h"

namespace gpuslice::sim {

struct GeneratorSpec {
  enum class Kind { kNotebooks, kInference, kBatch, kMix };
  Kind kind = Kind::kMix;
  int jobs = 1000;
  int hours = 24;
  std::vector<std::string> teams = {"team-a", "team-b"};
};

// Errors (kInvalidArgument) name the bad part: unknown kind or key, jobs outside 1..10,000,000,
// hours outside 1..8760, empty or malformed team names.
Result<GeneratorSpec> ParseGeneratorSpec(std::string_view text);

// Jobs ordered by submit time, named "<kind>-<n>".
std::vector<JobSpec> GenerateWorkload(const GeneratorSpec& spec, Rng& rng);

}  // namespace gpuslice::sim
