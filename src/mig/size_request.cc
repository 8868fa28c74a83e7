// Geometry::ResolveSize: from "20 GiB, 2 compute slices" to the smallest profile that holds it.
#include <fmt/format.h>

#include <algorithm>
#include <tuple>

#include "mig/layout.h"

namespace gpuslice::mig {
namespace {

// Memory a profile certainly has: its own figure, or, when unknown, the largest known figure of
// any profile that occupies no more units (a bigger slice of the same GPU never has less).
std::optional<MiB> CertainMemory(const GpuModel& model, const Profile& p) {
  if (p.memory) return p.memory;
  std::optional<MiB> bound;
  for (const Profile& other : model.profiles) {
    if (other.memory && other.size_units <= p.size_units && (!bound || *other.memory > *bound)) {
      bound = other.memory;
    }
  }
  return bound;
}

bool HasSomeMedia(const Profile& p) {
  if (p.media == MediaAttr::kMe || p.media == MediaAttr::kMeAll) return true;
  if (p.media == MediaAttr::kNoMe || !p.media_engines) return false;
  const MediaEngines& e = *p.media_engines;
  return e.decoders + e.encoders + e.jpeg + e.ofa > 0;
}

bool MediaFits(const GpuModel& model, const Profile& p, SizeRequest::Media need) {
  switch (need) {
    case SizeRequest::Media::kAny: return true;
    case SizeRequest::Media::kAtLeastOne: return HasSomeMedia(p);
    case SizeRequest::Media::kAll:
      // "+me.all" profiles have every engine; so does the whole-GPU profile.
      return p.media == MediaAttr::kMeAll ||
             (p.media == MediaAttr::kDefault && p.size_units == model.memory_units);
  }
  return false;
}

int MediaRank(MediaAttr m) {
  switch (m) {
    case MediaAttr::kDefault: return 0;
    case MediaAttr::kNoMe: return 1;
    case MediaAttr::kMe: return 2;
    case MediaAttr::kMeAll: return 3;
  }
  return 4;
}

std::string DescribeRequest(const SizeRequest& r) {
  std::string out;
  if (r.memory) out += fmt::format("at least {}", FormatMemory(*r.memory, Rounding::kUp));
  if (r.compute_slices > 0) {
    out += fmt::format("{}{} compute slice{}", out.empty() ? "at least " : " and ", r.compute_slices,
                       r.compute_slices == 1 ? "" : "s");
  }
  if (r.media == SizeRequest::Media::kAtLeastOne)
    out += out.empty() ? "a media engine" : " with a media engine";
  if (r.media == SizeRequest::Media::kAll)
    out += out.empty() ? "all media engines" : " with all media engines";
  if (r.gfx) out += out.empty() ? "graphics (+gfx)" : " with graphics (+gfx)";
  return out.empty() ? "any size" : out;
}

}  // namespace

Result<int> Geometry::ResolveSize(const SizeRequest& request) const {
  const GpuModel& m = *model_;
  if (request.compute_slices < 0) {
    return Fail(ErrorCode::kInvalidArgument, "compute slices must not be negative ({})",
                request.compute_slices);
  }
  int best = -1;
  auto key = [&](int q) {
    const Profile& p = m.profiles[q];
    const MiB mem = CertainMemory(m, p).value_or(MiB(0));
    return std::make_tuple(m.Cost(p), p.size_units, p.compute_slices, mem, p.gfx, MediaRank(p.media), q);
  };
  bool unknown_memory_skipped = false;
  for (int q = 0; q < num_profiles(); ++q) {
    const Profile& p = m.profiles[q];
    if (p.compute_slices < request.compute_slices || !MediaFits(m, p, request.media)) continue;
    if (request.gfx && !p.gfx) continue;
    if (request.memory) {
      const std::optional<MiB> mem = CertainMemory(m, p);
      if (!mem || *mem < *request.memory) {
        unknown_memory_skipped |= !p.memory;
        continue;
      }
    }
    if (best < 0 || key(q) < key(best)) best = q;
  }
  if (best >= 0) return best;

  const Profile* full = m.FullProfile();
  std::string largest;
  if (full != nullptr) {
    largest = fmt::format("; the largest is {} ({} compute slices, {})", full->name, full->compute_slices,
                          full->memory ? FormatMemory(*full->memory) : "memory unknown");
  }
  return Fail(ErrorCode::kResourceExhausted, "no MIG profile of {} has {}{}{}", m.name,
              DescribeRequest(request), largest,
              unknown_memory_skipped ? " (some profiles' memory is unknown in the catalog)" : "");
}

}  // namespace gpuslice::mig
