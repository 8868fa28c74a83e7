// Names of the scheduler's enums, for people, JSON and logs.
#include "sched/model.h"

#include <algorithm>

namespace gpuslice::sched {

std::string_view GpuModeName(GpuMode mode) {
  switch (mode) {
    case GpuMode::kDynamic: return "dynamic";
    case GpuMode::kStatic: return "static";
    case GpuMode::kWhole: return "whole";
    case GpuMode::kCordoned: return "cordoned";
    case GpuMode::kDraining: return "draining";
  }
  return "dynamic";
}

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kPending: return "pending";
    case JobState::kRunning: return "running";
    case JobState::kFinished: return "finished";
    case JobState::kCancelled: return "cancelled";
  }
  return "pending";
}

std::string_view JobKindName(JobKind kind) {
  switch (kind) {
    case JobKind::kBatch: return "batch";
    case JobKind::kService: return "service";
    case JobKind::kNotebook: return "notebook";
  }
  return "batch";
}

Result<JobKind> ParseJobKind(std::string_view text) {
  if (text == "batch") return JobKind::kBatch;
  if (text == "service") return JobKind::kService;
  if (text == "notebook") return JobKind::kNotebook;
  return Fail(ErrorCode::kInvalidArgument, "'{}' is not a job kind (batch, service, notebook)", text);
}

std::string_view PendingKindName(PendingKind kind) {
  switch (kind) {
    case PendingKind::kNone: return "none";
    case PendingKind::kQuota: return "quota";
    case PendingKind::kNoLegalSlot: return "no-legal-slot";
    case PendingKind::kUnschedulable: return "unschedulable";
    case PendingKind::kReserved: return "reserved";
  }
  return "none";
}

int JobsOn(const Gpu& gpu) {
  const auto busy = std::count_if(gpu.instances.begin(), gpu.instances.end(),
                                  [](const Instance& i) { return i.job.valid(); });
  return static_cast<int>(busy) + (gpu.whole_job.valid() ? 1 : 0);
}

}  // namespace gpuslice::sched
