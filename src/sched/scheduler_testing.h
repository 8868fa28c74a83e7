// Helpers shared by the scheduler's tests: catalog models, quota trees, jobs, and decisions
// printed the way a person reads them ("create 1g.5gb@6", "bind job 1").
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mig/catalog.h"
#include "sched/scheduler.h"

namespace gpuslice::sched {

inline const mig::GpuModel& Model(std::string_view name) {
  return *mig::Catalog::BuiltIn().Resolve(name).value().model;
}

// A quota tree with teams under one cohort, each with `nominal` mGPU of every listed class.
inline QuotaTree Teams(std::vector<std::pair<std::string, std::int64_t>> teams,
                       std::vector<std::string> classes,
                       std::optional<std::int64_t> borrowing_limit = std::nullopt) {
  QuotaTree tree;
  const QuotaNodeId cohort = tree.AddCohort("research").value();
  for (const std::string& c : classes) (void)tree.AddClass(c);
  for (const auto& [name, nominal] : teams) {
    const QuotaNodeId t = tree.AddTeam(name, cohort).value();
    for (const std::string& c : classes) {
      ClassQuota q{MilliGpu(nominal)};
      if (borrowing_limit) q.borrowing_limit = MilliGpu(*borrowing_limit);
      EXPECT_TRUE(tree.SetQuota(t, tree.FindClass(c).value(), q));
    }
  }
  return tree;
}

inline Job SliceJob(const Scheduler& s, std::string team, std::string profile, int priority = 0,
                    std::int64_t submit = 0) {
  Job j;
  j.name = profile + "-job";
  j.team = s.quota().Find(team).value();
  j.request.profile = std::move(profile);
  j.priority = priority;
  j.submit_ms = submit;
  return j;
}

inline std::string Describe(const Scheduler& s, const Decision& d) {
  const Gpu& g = s.gpu(d.gpu);
  switch (d.kind) {
    case Decision::Kind::kCreateInstance: return fmt::format("create {}", g.geometry->Describe(d.placement));
    case Decision::Kind::kDestroyInstance:
      return fmt::format("destroy {}", g.geometry->Describe(d.placement));
    case Decision::Kind::kBind: return fmt::format("bind job {}", d.job.value());
    case Decision::Kind::kUnbind: return fmt::format("unbind job {}", d.job.value());
    case Decision::Kind::kPreempt:
      return fmt::format("preempt job {} for job {}", d.job.value(), d.by.value());
  }
  return "?";
}

inline std::vector<std::string> Describe(const Scheduler& s, const std::vector<Decision>& ds) {
  std::vector<std::string> out;
  for (const Decision& d : ds) out.push_back(Describe(s, d));
  return out;
}

// Everything the scheduler shows about one GPU and its totals, to check that a refused change
// changed nothing: "dynamic/dynamic res=0 [1g.5gb@6:job 1#3] usage 1/0/7".
inline std::string GpuState(const Scheduler& s, GpuRef ref) {
  const Gpu& g = s.gpu(ref);
  std::string out = fmt::format("{}/{} res={} whole={} [", GpuModeName(g.mode), GpuModeName(g.base_mode),
                                g.reserved_for.value(), g.whole_job.value());
  for (const Instance& i : g.instances) {
    out += fmt::format("{}:job {}#{}@{} ", g.geometry->Describe(i.placement), i.job.value(), i.id.value(),
                       i.idle_since_ms);
  }
  const Scheduler::Usage& u = s.usage();
  return out + fmt::format("] usage {}/{}/{} {}/{} reservations {}", u.busy_slices, u.idle_slices,
                           u.total_slices, u.instances_created, u.instances_destroyed,
                           s.reservations().size());
}

inline std::int64_t UsageOf(const Scheduler& s, const std::string& team, const std::string& cls) {
  return s.quota().Usage(s.quota().Find(team).value(), s.quota().FindClass(cls).value()).value().value();
}

}  // namespace gpuslice::sched
