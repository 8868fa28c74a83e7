// Workload specs for `gpuslice sim --workload SPEC`: where the jobs come from.
//
//   alibaba:PATH   an Alibaba GPU trace v2023 pod list (either column layout). Pods are mapped
//                  onto the cluster's first MIG model with MapPod (alibaba_trace.h): GPU-sharing
//                  pods become one slice of that model (`gpu_model` is set, since profile names
//                  are per model), whole-GPU pods a same-node gang of whole GPUs, CPU-only pods
//                  are skipped. Times are the trace's seconds; a pod without a deletion time runs
//                  to the end. Teams: the cluster's teams in turn, or "default".
//   csv:PATH       gpuslice's own CSV (job_spec.h); also any PATH ending in .csv
//   jsonl:PATH     gpuslice's own JSONL; also any PATH ending in .jsonl
//   gen:KIND[:…]   a generator (workload_gen.h), seeded with the simulation seed
//
// Errors name the spec and, for files, the path and line.
#pragma once

#include <string_view>
#include <vector>

#include "common/error.h"
#include "sim/alibaba_trace.h"
#include "sim/cluster_spec.h"
#include "sim/job_spec.h"

namespace gpuslice::sim {

Result<std::vector<JobSpec>> LoadWorkload(std::string_view spec, const ClusterSpec& cluster, MapMode map,
                                          std::uint64_t seed);

// The Alibaba pods as jobs, as described above; `teams` must not be empty.
Result<std::vector<JobSpec>> PodsToJobs(const std::vector<TracePod>& pods, const mig::Geometry& geometry,
                                        MapMode map, const std::vector<std::string>& teams);

}  // namespace gpuslice::sim
