#include "mig/layout.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <numeric>

namespace gpuslice::mig {
namespace {

constexpr int kPlaceableWeight = 1024;  // first term of the best-start score (see layout.h)

bool ExclusiveMedia(MediaAttr m) {
  return m == MediaAttr::kMe || m == MediaAttr::kMeAll;
}

std::string UnitRange(UnitMask mask) {
  const int lo = std::countr_zero(static_cast<unsigned>(mask));
  const int hi = 15 - std::countl_zero(static_cast<std::uint16_t>(mask));
  return lo == hi ? fmt::format("unit {}", lo) : fmt::format("units {}-{}", lo, hi);
}

}  // namespace

Result<Geometry> Geometry::Build(const GpuModel& model) {
  if (!model.mig_capable) {
    return Fail(ErrorCode::kUnimplemented, "{} has no MIG: it is scheduled as whole GPUs only", model.name);
  }
  const int units = model.memory_units;
  if (units <= 0 || units > kMaxMemoryUnits) {
    return Fail(ErrorCode::kUnimplemented, "{}: placement grid of {} units is not supported", model.name,
                units);
  }
  if (model.compute_slices <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "{}: {} compute slices", model.name, model.compute_slices);
  }
  if (model.profiles.empty() || model.profiles.size() > static_cast<std::size_t>(kMaxProfiles)) {
    return Fail(ErrorCode::kInvalidArgument, "{}: {} profiles (1 to {} supported)", model.name,
                model.profiles.size(), kMaxProfiles);
  }
  Geometry g(model);
  for (std::size_t q = 0; q < model.profiles.size(); ++q) {
    const Profile& p = model.profiles[q];
    if (p.size_units <= 0 || p.size_units > units || p.compute_slices <= 0 ||
        p.compute_slices > model.compute_slices || p.max_count <= 0) {
      return Fail(ErrorCode::kInvalidArgument, "{}: profile {} has an impossible shape", model.name, p.name);
    }
    g.size_mask_[q] = static_cast<UnitMask>((1u << p.size_units) - 1);
    for (int s : p.starts) {
      if (s < 0 || s + p.size_units > units) {
        return Fail(ErrorCode::kInvalidArgument, "{}: profile {} start {} lies outside the {}-unit grid",
                    model.name, p.name, s, units);
      }
      g.start_mask_[q] |= static_cast<UnitMask>(1u << s);
    }
  }

  // MC[m][q]: most further instances of q that fit disjointly in the free units of m, capped at
  // q's maximum. DP from full masks down: MC[m] = max over free placements l of 1 + MC[m | l].
  const std::size_t masks = std::size_t{1} << units;
  const int nq = static_cast<int>(model.profiles.size());
  g.max_more_.assign(masks * kMaxProfiles, 0);
  g.score_.assign(masks, 0);
  for (std::size_t m = masks; m-- > 0;) {
    int placeable = 0;
    int capacity = 0;
    for (int q = 0; q < nq; ++q) {
      int best = 0;
      for (UnitMask starts = g.start_mask_[q]; starts != 0; starts &= starts - 1) {
        const UnitMask b = static_cast<UnitMask>(g.size_mask_[q] << std::countr_zero(starts));
        if ((m & b) != 0) continue;
        best = std::max(best, 1 + g.max_more_[(m | b) * kMaxProfiles + q]);
      }
      best = std::min(best, model.profiles[q].max_count);
      g.max_more_[m * kMaxProfiles + q] = static_cast<std::uint8_t>(best);
      placeable += best > 0 ? 1 : 0;
      capacity += model.profiles[q].size_units * best;
    }
    g.score_[m] = kPlaceableWeight * placeable + capacity;
  }
  return g;
}

UnitMask Geometry::Mask(Placement p) const {
  return static_cast<UnitMask>(size_mask_[p.profile] << p.start);
}

bool Geometry::MediaAllows(const Occupancy& occ, int profile) const {
  const MediaAttr media = model_->profiles[profile].media;
  if (occ.media_all && media != MediaAttr::kNoMe) return false;
  if (ExclusiveMedia(media) && occ.media_exclusive > 0) return false;
  if (media == MediaAttr::kMeAll && occ.with_media > 0) return false;
  return true;
}

bool Geometry::CanAdd(const Occupancy& occ, Placement p) const {
  if (p.profile < 0 || p.profile >= num_profiles() || p.start < 0 || p.start >= kMaxMemoryUnits) {
    return false;
  }
  const Profile& prof = model_->profiles[p.profile];
  return (start_mask_[p.profile] >> p.start & 1u) != 0 && (occ.units & Mask(p)) == 0 &&
         occ.counts[p.profile] < prof.max_count &&
         occ.compute_slices + prof.compute_slices <= model_->compute_slices && MediaAllows(occ, p.profile);
}

void Geometry::Add(Occupancy& occ, Placement p) const {
  const Profile& prof = model_->profiles[p.profile];
  occ.units |= Mask(p);
  occ.compute_slices += prof.compute_slices;
  ++occ.counts[p.profile];
  if (ExclusiveMedia(prof.media)) ++occ.media_exclusive;
  if (prof.media != MediaAttr::kNoMe) ++occ.with_media;
  if (prof.media == MediaAttr::kMeAll) occ.media_all = true;
}

// MediaAllows admits at most one "+me.all" instance per GPU, so removing one clears the flag.
void Geometry::Remove(Occupancy& occ, Placement p) const {
  const Profile& prof = model_->profiles[p.profile];
  occ.units = static_cast<UnitMask>(occ.units & ~Mask(p));
  occ.compute_slices -= prof.compute_slices;
  --occ.counts[p.profile];
  if (ExclusiveMedia(prof.media)) --occ.media_exclusive;
  if (prof.media != MediaAttr::kNoMe) --occ.with_media;
  if (prof.media == MediaAttr::kMeAll) occ.media_all = false;
}

UnitMask Geometry::FreeStarts(const Occupancy& occ, int profile) const {
  const Profile& prof = model_->profiles[profile];
  if (occ.counts[profile] >= prof.max_count ||
      occ.compute_slices + prof.compute_slices > model_->compute_slices || !MediaAllows(occ, profile)) {
    return 0;
  }
  UnitMask free = 0;
  for (UnitMask starts = start_mask_[profile]; starts != 0; starts &= starts - 1) {
    const int s = std::countr_zero(starts);
    if ((occ.units & (size_mask_[profile] << s)) == 0) free |= static_cast<UnitMask>(1u << s);
  }
  return free;
}

std::optional<int> Geometry::BestStart(const Occupancy& occ, int profile) const {
  std::optional<int> best;
  int best_score = -1;
  for (UnitMask free = FreeStarts(occ, profile); free != 0; free &= free - 1) {
    const int s = std::countr_zero(free);
    const int score = score_[occ.units | (size_mask_[profile] << s)];
    if (score > best_score) {
      best_score = score;
      best = s;
    }
  }
  return best;
}

std::optional<int> Geometry::BestStart(const Occupancy& occ, int profile,
                                       std::span<const int> weights) const {
  // Placeable profiles dominate any capacity difference: size_q * MC <= U for every profile, so
  // capacity <= U * Σ weights < bound.
  const int nq = std::min<int>(num_profiles(), static_cast<int>(weights.size()));
  std::int64_t bound = 1;
  for (int q = 0; q < nq; ++q) bound += std::int64_t{std::max(weights[q], 0)} * model_->memory_units;
  std::optional<int> best;
  std::int64_t best_score = -1;
  for (UnitMask free = FreeStarts(occ, profile); free != 0; free &= free - 1) {
    const int s = std::countr_zero(free);
    const std::size_t m = occ.units | (size_mask_[profile] << s);
    std::int64_t placeable = 0;
    std::int64_t capacity = 0;
    for (int q = 0; q < nq; ++q) {
      const int mc = max_more_[m * kMaxProfiles + q];
      if (weights[q] <= 0 || mc == 0) continue;
      ++placeable;
      capacity += std::int64_t{weights[q]} * model_->profiles[q].size_units * mc;
    }
    const std::int64_t score = placeable * bound + capacity;
    if (score > best_score) {
      best_score = score;
      best = s;
    }
  }
  return best;
}

Result<Occupancy> Geometry::Occupy(std::span<const Placement> layout) const {
  Occupancy occ;
  for (std::size_t i = 0; i < layout.size(); ++i) {
    const Placement p = layout[i];
    if (p.profile < 0 || p.profile >= num_profiles()) {
      return Fail(ErrorCode::kInvalidArgument, "{} has no profile #{}", model_->name, p.profile);
    }
    const Profile& prof = model_->profiles[p.profile];
    if (p.start < 0 || p.start >= kMaxMemoryUnits || (start_mask_[p.profile] >> p.start & 1u) == 0) {
      return Fail(ErrorCode::kInvalidArgument, "{} cannot start at unit {} on {} (allowed starts: {})",
                  prof.name, p.start, model_->name, fmt::join(prof.starts, ","));
    }
    if (const UnitMask clash = occ.units & Mask(p); clash != 0) {
      for (std::size_t j = 0; j < i; ++j) {
        if (const UnitMask both = Mask(layout[j]) & Mask(p); both != 0) {
          return Fail(ErrorCode::kResourceExhausted, "{} overlaps {} on {}", Describe(p), Describe(layout[j]),
                      UnitRange(both));
        }
      }
    }
    if (occ.counts[p.profile] >= prof.max_count) {
      const auto total = std::count_if(layout.begin(), layout.end(),
                                       [&](const Placement& x) { return x.profile == p.profile; });
      return Fail(ErrorCode::kResourceExhausted, "{} x {} exceeds the profile's maximum of {} on {}", total,
                  prof.name, prof.max_count, model_->name);
    }
    if (occ.compute_slices + prof.compute_slices > model_->compute_slices) {
      return Fail(ErrorCode::kResourceExhausted, "{} needs {} more compute slices but only {} of {} are free",
                  Describe(p), prof.compute_slices, model_->compute_slices - occ.compute_slices,
                  model_->compute_slices);
    }
    if (!MediaAllows(occ, p.profile)) {
      return Fail(ErrorCode::kResourceExhausted, "{} breaks the media-engine rule: {}", Describe(p),
                  occ.media_all || prof.media == MediaAttr::kMeAll
                      ? "a +me.all instance takes every media engine, so all others must be -me"
                      : "at most one +me or +me.all instance per GPU");
    }
    Add(occ, p);
  }
  return occ;
}

Result<void> Geometry::Validate(std::span<const Placement> layout) const {
  if (Result<Occupancy> occ = Occupy(layout); !occ) return Fail(occ.error());
  return {};
}

std::string Geometry::Describe(Placement p) const {
  if (p.profile < 0 || p.profile >= num_profiles()) return fmt::format("profile#{}@{}", p.profile, p.start);
  return fmt::format("{}@{}", model_->profiles[p.profile].name, p.start);
}

std::string Geometry::Describe(std::span<const Placement> layout) const {
  std::string out;
  for (const Placement& p : layout) {
    if (!out.empty()) out += ' ';
    out += Describe(p);
  }
  return out.empty() ? "(empty)" : out;
}

}  // namespace gpuslice::mig
