// NvmlBackend: activity of a GPU instance from GPM (nvml_backend.h, "Activity").
//
// Per call, for one (GPU, GI):
//  1. no GPM symbols, or a GPU without GPM (support cached per GPU): a note, nothing sampled;
//  2. the last sample is < 100 ms old (GPM's minimum spacing): report what it measured;
//  3. otherwise take a sample (alloc + nvmlGpmMigSampleGet); with no earlier sample it only
//     starts the measurement, else nvmlGpmMetricsGet(earlier, new) gives SM_UTIL over the
//     interval, the earlier sample is freed and the new one kept for the next call.
// The driver's reply is untrusted: the metric's own status must be success and its value a finite
// percent in 0..100, else a note says what came back. A failed sample keeps the earlier one, so
// the next call measures over the longer interval.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>

#include "gpu/nvml_backend.h"

namespace gpuslice::gpu {
namespace {

constexpr std::chrono::milliseconds kGpmMinInterval{100};  // NVML: samples >= 100 ms apart
constexpr std::string_view kNoGpmApiNote = "the driver is too old to have the GPM API (nvmlGpm* functions)";
constexpr std::string_view kFirstSampleNote =
    "activity is measured from the next sample on (GPM compares two samples at least 100 ms apart)";

bool HasGpmApi(const NvmlApi& a) {
  return a.gpm_query_device_support != nullptr && a.gpm_sample_alloc != nullptr &&
         a.gpm_sample_free != nullptr && a.gpm_mig_sample_get != nullptr && a.gpm_metrics_get != nullptr;
}

std::string NotMeasured(std::string_view why) {
  return fmt::format("activity not measured: {}", why);
}

}  // namespace

NvmlBackend::~NvmlBackend() {
  std::lock_guard<std::mutex> lock(gpm_mu_);
  // Samples exist only when the whole GPM API resolved, so gpm_sample_free is set.
  for (auto& [key, entry] : gpm_samples_) (void)lib_->api().gpm_sample_free(entry.sample);
  gpm_samples_.clear();
}

void NvmlBackend::ForgetGpmSamples(int gpu, int gpu_instance_id) {
  std::lock_guard<std::mutex> lock(gpm_mu_);
  const auto it = gpm_samples_.find({gpu, gpu_instance_id});
  if (it == gpm_samples_.end()) return;
  (void)lib_->api().gpm_sample_free(it->second.sample);
  gpm_samples_.erase(it);
}

// NOT_SUPPORTED from the query is an answer (no GPM), like isSupportedDevice == 0; other errors
// (a lost GPU) are not cached, so the question is asked again.
GpuResult<bool> NvmlBackend::GpmSupportedLocked(nvml::Device dev, int gpu) {
  if (const auto it = gpm_supported_.find(gpu); it != gpm_supported_.end()) return it->second;
  nvml::GpmSupport support{.version = nvml::kGpmSupportVersion, .is_supported_device = 0};
  const nvml::Return rc = lib_->api().gpm_query_device_support(dev, &support);
  if (rc != nvml::kSuccess && rc != nvml::kErrorNotSupported)
    return GpuFail(Nvml(rc, fmt::format("nvmlGpmQueryDeviceSupport(GPU {})", gpu)));
  const bool supported = rc == nvml::kSuccess && support.is_supported_device != 0;
  gpm_supported_[gpu] = supported;
  return supported;
}

GpuResult<nvml::GpmSample> NvmlBackend::TakeGpmSample(nvml::Device dev, int gpu_instance_id) {
  const NvmlApi& api = lib_->api();
  nvml::GpmSample sample = nullptr;
  if (nvml::Return rc = api.gpm_sample_alloc(&sample); rc != nvml::kSuccess)
    return GpuFail(Nvml(rc, "nvmlGpmSampleAlloc"));
  if (sample == nullptr) return GpuFail(GpuErrorKind::kBadReply, "nvmlGpmSampleAlloc returned no sample");
  if (nvml::Return rc = api.gpm_mig_sample_get(dev, static_cast<unsigned>(gpu_instance_id), sample);
      rc != nvml::kSuccess) {
    (void)api.gpm_sample_free(sample);
    return GpuFail(Nvml(rc, fmt::format("nvmlGpmMigSampleGet(GPU instance {})", gpu_instance_id)));
  }
  return sample;
}

// SM_UTIL from `previous`'s sample to `sample`; the result owns `sample`.
NvmlBackend::GpmEntry NvmlBackend::GpmMeasure(const GpmEntry& previous, nvml::GpmSample sample,
                                              Clock::MonoTime now) {
  GpmEntry next{.sample = sample, .taken = now};
  // ~13 KB with the metric array sized for the newest header: off the stack, zero-filled.
  auto get = std::make_unique<nvml::GpmMetricsGet>();
  get->version = nvml::kGpmMetricsGetVersion;
  get->num_metrics = 1;
  get->sample1 = previous.sample;
  get->sample2 = sample;
  get->metrics[0].metric_id = nvml::kGpmMetricSmUtil;
  if (nvml::Return rc = lib_->api().gpm_metrics_get(get.get()); rc != nvml::kSuccess) {
    next.note = NotMeasured(Nvml(rc, "nvmlGpmMetricsGet").error.message);
    return next;
  }
  const nvml::GpmMetric& m = get->metrics[0];
  if (m.nvml_return != nvml::kSuccess) {
    next.note = NotMeasured(Nvml(m.nvml_return, "GPM metric SM_UTIL").error.message);
  } else if (!std::isfinite(m.value) || m.value < 0.0 || m.value > 100.0) {
    next.note = NotMeasured(fmt::format("GPM reported an implausible SM utilisation ({})", m.value));
  } else {
    next.percent = static_cast<int>(std::lround(m.value));
  }
  return next;
}

void NvmlBackend::MeasureActivity(nvml::Device dev, int gpu, int gpu_instance_id, InstanceUsage& u) {
  if (!HasGpmApi(lib_->api())) {
    u.activity_note = kNoGpmApiNote;
    return;
  }
  std::lock_guard<std::mutex> lock(gpm_mu_);
  GpuResult<bool> supported = GpmSupportedLocked(dev, gpu);
  if (!supported) {
    u.activity_note = NotMeasured(supported.error().error.message);
    return;
  }
  if (!*supported) {
    u.activity_note = kNoMigActivityNote;
    return;
  }
  const Clock::MonoTime now = clock_->MonoNow();
  auto it = gpm_samples_.find({gpu, gpu_instance_id});
  if (it == gpm_samples_.end() || now - it->second.taken >= kGpmMinInterval) {
    GpuResult<nvml::GpmSample> sample = TakeGpmSample(dev, gpu_instance_id);
    if (!sample) {
      u.activity_note = NotMeasured(sample.error().error.message);
      return;
    }
    if (it == gpm_samples_.end()) {
      it = gpm_samples_
               .emplace(GpmKey{gpu, gpu_instance_id},
                        GpmEntry{.sample = *sample, .taken = now, .note = std::string(kFirstSampleNote)})
               .first;
    } else {
      GpmEntry next = GpmMeasure(it->second, *sample, now);
      (void)lib_->api().gpm_sample_free(it->second.sample);
      it->second = std::move(next);
    }
  }
  const GpmEntry& e = it->second;
  if (e.percent) {
    u.activity_percent = e.percent;
    return;
  }
  u.activity_note = e.note;
  if (e.note == kFirstSampleNote) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(e.taken + kGpmMinInterval - now);
    u.activity_retry_after = std::max(left, std::chrono::milliseconds(1));
  }
}

}  // namespace gpuslice::gpu
