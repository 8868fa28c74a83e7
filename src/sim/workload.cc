#include "sim/workload.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "common/read_file.h"
#include "common/rng.h"
#include "sim/workload_gen.h"

namespace gpuslice::sim {
namespace {

std::vector<std::string> TeamsOf(const ClusterSpec& cluster) {
  std::vector<std::string> teams;
  for (const TeamSpec& t : cluster.teams) teams.push_back(t.name);
  if (teams.empty()) teams.push_back("default");
  return teams;
}

}  // namespace

Result<std::vector<JobSpec>> PodsToJobs(const std::vector<TracePod>& pods, const mig::Geometry& geometry,
                                        MapMode map, const std::vector<std::string>& teams) {
  std::vector<JobSpec> jobs;
  const mig::GpuModel& model = geometry.model();
  for (const TracePod& pod : pods) {
    Result<PodDemand> d = MapPod(pod, geometry, map);
    if (!d) return Fail(d.error().WithContext(pod.name));
    if (d->kind == PodDemand::Kind::kNone) continue;
    JobSpec j;
    j.name = pod.name;
    j.team = teams[jobs.size() % teams.size()];
    j.kind = JobKind::kBatch;
    j.submit_ms = pod.creation_time.value_or(0) * 1000;
    if (pod.creation_time && pod.deletion_time)
      j.duration_ms = (*pod.deletion_time - *pod.creation_time) * 1000;
    if (d->kind == PodDemand::Kind::kSlice) {
      j.profile = model.profiles[static_cast<std::size_t>(d->profile)].name;
      j.gpu_model = model.name;
    } else {
      j.profile = std::string(kWholeGpu);
      j.count = d->gang_size;
      j.same_node = true;
    }
    jobs.push_back(std::move(j));
  }
  return jobs;
}

Result<std::vector<JobSpec>> LoadWorkload(std::string_view spec, const ClusterSpec& cluster, MapMode map,
                                          std::uint64_t seed) {
  auto starts = [&](std::string_view p) { return spec.substr(0, p.size()) == p; };
  auto ends = [&](std::string_view s) {
    return spec.size() >= s.size() && spec.substr(spec.size() - s.size()) == s;
  };
  if (starts("gen:")) {
    Result<GeneratorSpec> g = ParseGeneratorSpec(spec.substr(4));
    if (!g) return Fail(g.error());
    if (!cluster.teams.empty()) g->teams = TeamsOf(cluster);
    if (cluster.teams.empty()) g->teams = {"default"};
    Rng rng(seed);
    return GenerateWorkload(*g, rng);
  }
  if (starts("alibaba:")) {
    const std::string path(spec.substr(8));
    Result<std::vector<TracePod>> pods = ReadAlibabaPodsFile(path);
    if (!pods) return Fail(pods.error());
    for (const mig::GpuModel* m : cluster.GpuClasses()) {
      if (!m->mig_capable) continue;
      Result<mig::Geometry> g = mig::Geometry::Build(*m);
      if (!g) return Fail(g.error());
      return PodsToJobs(*pods, *g, map, TeamsOf(cluster));
    }
    return Fail(ErrorCode::kInvalidArgument,
                "alibaba workloads are mapped onto MIG; the cluster has no MIG GPU");
  }
  const bool csv = starts("csv:") || ends(".csv");
  const bool jsonl = starts("jsonl:") || ends(".jsonl");
  if (!csv && !jsonl) {
    return Fail(ErrorCode::kInvalidArgument,
                "workload '{}': use alibaba:PATH, csv:PATH, jsonl:PATH or gen:KIND[:options]", spec);
  }
  const std::size_t colon = spec.find(':');
  const std::string path(starts("csv:") || starts("jsonl:") ? spec.substr(colon + 1) : spec);
  Result<std::string> text = ReadFile(path, std::size_t{1} << 30);
  if (!text) return Fail(text.error());
  Result<std::vector<JobSpec>> jobs = csv ? ParseJobsCsv(*text) : ParseJobsJsonl(*text);
  if (!jobs) return Fail(jobs.error().WithContext(path));
  return jobs;
}

}  // namespace gpuslice::sim
