#include "gpu/sim_backend.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "common/read_file.h"
#include "common/write_file.h"
#include "gpu/sim_driver.h"

namespace gpuslice::gpu {
namespace {

// An exclusive flock on "<state>.lock" for one read-modify-write; no-op without a state file.
class FileLock {
 public:
  explicit FileLock(const std::string& state_file) {
    if (state_file.empty()) return;
    fd_ = ::open((state_file + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// The models of a state, for comparing a state file with a spec.
std::string ModelList(const SimState& s) {
  std::string out;
  for (const SimGpu& g : s.gpus) out += (out.empty() ? "" : ",") + g.model->name;
  return out;
}

GpuError StateError(const std::string& file, const Error& e) {
  return GpuError{GpuErrorKind::kState, Error{GpuErrorCode(GpuErrorKind::kState),
                                              fmt::format("sim state file {}: {}", file, e.message)}};
}

}  // namespace

GpuResult<std::unique_ptr<SimBackend>> SimBackend::Open(const SimOptions& options) {
  std::unique_ptr<SimBackend> b(new SimBackend(options));
  const bool exists = !options.state_file.empty() && std::filesystem::exists(options.state_file);
  std::optional<SimState> fresh;
  if (!options.gpus.empty()) {
    Result<SimState> s = NewSimState(options.gpus, options.seed, options.mig_enabled);
    if (!s)
      return GpuFail(GpuError{
          s.error().code == ErrorCode::kNotFound ? GpuErrorKind::kNotFound : GpuErrorKind::kInvalidArgument,
          s.error()});
    fresh = std::move(*s);
  }
  std::lock_guard<std::mutex> lock(b->mu_);
  if (exists) {
    if (auto ok = b->SyncLocked(); !ok) return GpuFail(ok.error());
    if (fresh && ModelList(*fresh) != ModelList(b->state_)) {
      return GpuFail(GpuErrorKind::kState, "sim state file {} holds GPUs {} but the spec asks for {}",
                     options.state_file, ModelList(b->state_), ModelList(*fresh));
    }
    return b;
  }
  if (!fresh) {
    return GpuFail(GpuErrorKind::kState, "no simulated GPUs: give a GPU spec{}",
                   options.state_file.empty() ? "" : " or an existing state file");
  }
  b->state_ = std::move(*fresh);
  if (!options.state_file.empty() && !options.read_only) {
    FileLock file_lock(options.state_file);
    if (auto ok = b->SaveLocked(); !ok) return GpuFail(ok.error());
  }
  return b;
}

GpuResult<void> SimBackend::SyncLocked() {
  if (options_.state_file.empty()) return {};
  Result<std::string> text = ReadFile(options_.state_file, kSimMaxStateBytes);
  if (!text) {
    // A read-only backend over a file that does not exist (yet) keeps its in-memory state.
    if (text.error().code == ErrorCode::kNotFound && !state_.gpus.empty()) return {};
    return GpuFail(GpuErrorKind::kState, "sim state file: {}", text.error().message);
  }
  if (*text == text_) return {};
  Result<SimState> parsed = ParseSimState(*text);
  if (!parsed) return GpuFail(StateError(options_.state_file, parsed.error()));
  state_ = std::move(*parsed);
  text_ = std::move(*text);
  return {};
}

GpuResult<void> SimBackend::SaveLocked() {
  std::string text = SerializeSimState(state_);
  if (text == text_) return {};
  if (!options_.state_file.empty()) {
    if (Result<void> ok = WriteFileAtomically(options_.state_file, text, 0644); !ok)
      return GpuFail(GpuErrorKind::kState, "{}", ok.error().message);
  }
  text_ = std::move(text);
  return {};
}

template <typename T, typename F>
GpuResult<T> SimBackend::Mutate(F change) {
  if (options_.read_only) {
    return GpuFail(GpuErrorKind::kReadOnly, "the simulated GPUs were opened read-only; nothing was changed");
  }
  std::lock_guard<std::mutex> lock(mu_);
  FileLock file_lock(options_.state_file);
  if (auto ok = SyncLocked(); !ok) return GpuFail(ok.error());
  SimState before = state_;
  GpuResult<T> result = change(state_);
  if (auto saved = SaveLocked(); !saved) {
    state_ = std::move(before);  // the file is the truth; keep memory in step with it
    return GpuFail(saved.error());
  }
  return result;
}

// Read-only views: sync, then ask the simulated driver.
#define GPUSLICE_SIM_VIEW(expr)                                \
  std::lock_guard<std::mutex> lock(mu_);                       \
  if (auto ok = SyncLocked(); !ok) return GpuFail(ok.error()); \
  return expr

GpuResult<std::vector<GpuInfo>> SimBackend::ListGpus() {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto ok = SyncLocked(); !ok) return GpuFail(ok.error());
  std::vector<GpuInfo> out;
  for (int i = 0; i < static_cast<int>(state_.gpus.size()); ++i) {
    GpuResult<GpuInfo> info = sim::Info(state_, i);
    if (!info) return GpuFail(info.error());
    out.push_back(std::move(*info));
  }
  return out;
}

GpuResult<GpuGeometry> SimBackend::Geometry(int gpu) {
  GPUSLICE_SIM_VIEW(sim::Geometry(state_, gpu));
}
GpuResult<std::vector<Instance>> SimBackend::Instances(int gpu) {
  GPUSLICE_SIM_VIEW(sim::Instances(state_, gpu));
}
GpuResult<InstanceUsage> SimBackend::Usage(int gpu, int gi) {
  GPUSLICE_SIM_VIEW(sim::Usage(state_, gpu, gi));
}
GpuResult<std::vector<GpuProcess>> SimBackend::Processes(int gpu) {
  GPUSLICE_SIM_VIEW(sim::Processes(state_, gpu));
}
GpuResult<GpuHealth> SimBackend::Health(int gpu) {
  GPUSLICE_SIM_VIEW(sim::Health(state_, gpu));
}
GpuResult<SimState> SimBackend::Snapshot() {
  GPUSLICE_SIM_VIEW(state_);
}

#undef GPUSLICE_SIM_VIEW

GpuResult<Instance> SimBackend::CreateInstance(int gpu, const InstanceRequest& request) {
  return Mutate<Instance>([&](SimState& s) -> GpuResult<Instance> {
    GpuResult<int> gi = sim::CreateGpuInstance(s, gpu, request.profile_id, request.start);
    if (!gi) return GpuFail(gi.error());
    if (GpuResult<int> ci = sim::CreateComputeInstance(s, gpu, *gi); !ci) {
      (void)sim::DestroyGpuInstance(s, gpu, *gi);  // nothing half-made is left behind
      return GpuFail(ci.error());
    }
    GpuResult<std::vector<Instance>> all = sim::Instances(s, gpu);
    if (!all) return GpuFail(all.error());
    for (const Instance& in : *all) {
      if (in.gpu_instance_id == *gi) return in;
    }
    return GpuFail(GpuErrorKind::kBadReply, "GPU instance {} vanished after creation", *gi);
  });
}

GpuResult<void> SimBackend::DestroyInstance(int gpu, int gi) {
  return Mutate<void>([&](SimState& s) -> GpuResult<void> {
    GpuResult<std::vector<Instance>> all = sim::Instances(s, gpu);
    if (!all) return GpuFail(all.error());
    for (const Instance& in : *all) {
      if (in.gpu_instance_id != gi) continue;
      if (in.compute_instance_id >= 0) {
        if (auto ok = sim::DestroyComputeInstance(s, gpu, gi, in.compute_instance_id); !ok) return ok;
      }
      return sim::DestroyGpuInstance(s, gpu, gi);
    }
    return GpuFail(GpuErrorKind::kNotFound, "GPU {} has no GPU instance {}", gpu, gi);
  });
}

GpuResult<MigMode> SimBackend::SetMigMode(int gpu, bool enabled) {
  return Mutate<MigMode>([&](SimState& s) { return sim::SetMigMode(s, gpu, enabled); });
}

GpuResult<void> SimBackend::ResetGpu(int gpu) {
  return Mutate<void>([&](SimState& s) { return sim::ResetGpu(s, gpu); });
}

GpuResult<void> SimBackend::AttachProcess(int gpu, SimProcess process) {
  return Mutate<void>([&](SimState& s) { return sim::AttachProcess(s, gpu, process); });
}

GpuResult<void> SimBackend::DetachProcess(int gpu, std::uint32_t pid) {
  return Mutate<void>([&](SimState& s) { return sim::DetachProcess(s, gpu, pid); });
}

GpuResult<void> SimBackend::InjectFaults(const SimFaults& faults) {
  return Mutate<void>([&](SimState& s) { return sim::InjectFaults(s, faults); });
}

GpuResult<void> SimBackend::Reboot() {
  return Mutate<void>([&](SimState& s) -> GpuResult<void> {
    sim::Reboot(s);
    return {};
  });
}

GpuResult<int> SimBackend::CreateGpuInstance(int gpu, int profile_id, int start) {
  return Mutate<int>([&](SimState& s) { return sim::CreateGpuInstance(s, gpu, profile_id, start); });
}

GpuResult<int> SimBackend::CreateComputeInstance(int gpu, int gi) {
  return Mutate<int>([&](SimState& s) { return sim::CreateComputeInstance(s, gpu, gi); });
}

GpuResult<void> SimBackend::DestroyComputeInstance(int gpu, int gi, int ci) {
  return Mutate<void>([&](SimState& s) { return sim::DestroyComputeInstance(s, gpu, gi, ci); });
}

GpuResult<void> SimBackend::DestroyGpuInstance(int gpu, int gi) {
  return Mutate<void>([&](SimState& s) { return sim::DestroyGpuInstance(s, gpu, gi); });
}

}  // namespace gpuslice::gpu
