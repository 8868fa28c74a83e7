// Geometry: the MIG layout engine for one GPU model (DESIGN.md §3).
//
// A *placement* is (profile, start unit); a *layout* is a set of placements on one GPU. A layout
// is valid iff
//   1. every start is one of the profile's allowed starts,
//   2. the unit ranges [start, start + size) do not overlap,
//   3. no profile has more instances than its maximum, and the compute slices sum to at most C,
//   4. the media-engine rules hold: at most one instance whose profile is "+me" or "+me.all"
//      (there is one OFA/NVJPG to give), and when a "+me.all" instance exists every other
//      instance is a "-me" profile (NVML: _ALL_ME "prevents allocation of all but _NO_ME").
// Occupancy is kept as a bitmask of used units plus per-profile counts and the media state, so
// the question "where can profile p go on this partly used GPU" is a few AND operations.
//
// Geometry precomputes, per model, a table over all 2^U unit masks (U <= 12 in the catalog) of
// how many more instances of each profile would still fit; the best-start score below is one
// lookup per candidate start.
//
// Thread-safety: a Geometry is immutable after Build(); share it freely.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "common/error.h"
#include "mig/gpu_model.h"

namespace gpuslice::mig {

using UnitMask = std::uint16_t;  // bit u set = memory unit u is used
static_assert(kMaxMemoryUnits <= 16, "UnitMask must hold every unit of the largest grid");

struct Placement {
  int profile = 0;  // index into GpuModel::profiles
  int start = 0;    // first memory unit
  // Ordered by (start, profile): the order of layouts everywhere, so std::sort yields it.
  friend auto operator<=>(const Placement& a, const Placement& b) {
    return std::tie(a.start, a.profile) <=> std::tie(b.start, b.profile);
  }
  friend bool operator==(const Placement&, const Placement&) = default;
};

// What is used on one GPU. Build with Geometry::Occupy, extend with Geometry::Add.
struct Occupancy {
  UnitMask units = 0;
  int compute_slices = 0;                           // sum over instances
  std::array<std::uint8_t, kMaxProfiles> counts{};  // instances per profile
  std::uint8_t media_exclusive = 0;                 // instances of "+me" / "+me.all" profiles
  std::uint8_t with_media = 0;                      // instances of profiles that are not "-me"
  bool media_all = false;                           // a "+me.all" instance exists
  friend bool operator==(const Occupancy&, const Occupancy&) = default;
};

using Layout = std::vector<Placement>;  // kept sorted by (start, profile) by the engine

// A request by size, resolved to the smallest profile that holds it.
struct SizeRequest {
  enum class Media { kAny, kAtLeastOne, kAll };
  std::optional<MiB> memory;  // at least this much instance memory
  int compute_slices = 0;     // at least this many compute slices (0: any)
  Media media = Media::kAny;  // kAtLeastOne: some NVDEC/NVENC/NVJPG/OFA; kAll: every engine
  bool gfx = false;           // needs a "+gfx" profile
};

struct EnumerateOptions {
  bool maximal_only = false;  // only layouts to which no further instance can be added
  // When non-empty, only these profiles (indices) are used, and "maximal" means no further
  // instance of one of these profiles fits.
  std::vector<int> profiles;
};

class Geometry {
 public:
  // Builds the tables for a MIG-capable model. The Geometry keeps a pointer to `model`, which
  // must outlive it (catalog models live for the whole process). Errors: kUnimplemented when the model has no
  // MIG or its placement grid is unknown; kInvalidArgument when the model's table is inconsistent (a start
  // outside the grid, a size of zero, more than kMaxProfiles profiles) — possible for geometry read from a
  // driver, never for the built-in catalog.
  static Result<Geometry> Build(const GpuModel& model);

  const GpuModel& model() const { return *model_; }
  int num_profiles() const { return static_cast<int>(model_->profiles.size()); }

  // Units covered by a placement (no validity check beyond the profile index).
  UnitMask Mask(Placement p) const;

  // Checks a layout against rules 1–4 above. The error (kInvalidArgument for a start that is not
  // allowed or an unknown profile index; kResourceExhausted for overlaps, maxima and media
  // rules) names the instances involved: "3g.20gb@4 overlaps 2g.10gb@4 on units 4-5".
  Result<void> Validate(std::span<const Placement> layout) const;

  // Occupancy of a layout, checked as Validate does.
  Result<Occupancy> Occupy(std::span<const Placement> layout) const;

  // True when `p` can be added to `occ` keeping the layout valid.
  bool CanAdd(const Occupancy& occ, Placement p) const;
  // Adds `p` to `occ`; requires CanAdd(occ, p).
  void Add(Occupancy& occ, Placement p) const;
  // Removes `p` from `occ`; requires that `p` is part of the layout `occ` was built from.
  void Remove(Occupancy& occ, Placement p) const;

  // Starts at which `profile` can be added to `occ` (bit s set = start s is legal now).
  // FreeStarts and BestStart are the scheduler's hot path: `profile` must be a valid index.
  UnitMask FreeStarts(const Occupancy& occ, int profile) const;

  // The start for `profile` that keeps the most future options open, or nullopt if none is free.
  //
  // Score of the units mask m that results from a candidate start (higher is better):
  //   S(m) = 1024 * |{q : MC[m][q] > 0}| + Σ_q size_q * MC[m][q]
  // where MC[m][q] = min(max_count_q, most further instances of q that fit disjointly in the
  // free units of m). The first term keeps as many profiles placeable as possible: if some start
  // keeps every profile that any other start keeps, that start wins, so the choice never makes a
  // later placement impossible that another start would have kept. The second term then keeps
  // as much capacity per profile as possible (the exact-geometry form of FGD's "expected unusable
  // units", reference placement-and-quota.md §1.7 R2, with equal weights). Ties go to the lowest
  // start. With `weights` (one non-negative weight per profile, e.g. recent demand) the second
  // term becomes Σ_q weight_q * size_q * MC[m][q] and the first counts only profiles with a
  // positive weight.
  std::optional<int> BestStart(const Occupancy& occ, int profile) const;
  std::optional<int> BestStart(const Occupancy& occ, int profile, std::span<const int> weights) const;

  // The score S(m) above with equal weights (exposed for tests and the scheduler's GPU choice).
  int Score(UnitMask used) const { return score_[used]; }
  // MC[m][q] above.
  int MaxMore(UnitMask used, int profile) const { return max_more_[used * kMaxProfiles + profile]; }

  // Every non-empty valid layout (or every maximal one), each sorted by (start, profile), in
  // lexicographic order. The empty layout is valid but not listed.
  std::vector<Layout> Enumerate(const EnumerateOptions& options = {}) const;

  // Places `profiles` (indices, any order) on a GPU that already holds `occ`, choosing starts:
  // pickiest profiles first (fewest legal starts, then largest), each at its best start, with
  // backtracking so that an arrangement is found whenever one exists. The result lists the new
  // placements in the order of `profiles`. Errors (kResourceExhausted) say why it cannot fit:
  // a profile over its maximum, more units or compute slices than the GPU has, a media rule, or
  // "no arrangement" with a largest subset of the request that does fit.
  Result<std::vector<Placement>> Arrange(const Occupancy& occ, std::span<const int> profiles) const;

  // The smallest profile that satisfies `request`, ordered by cost in milli-GPU, then units,
  // compute slices and memory; default-media profiles before "+me" ones. A profile whose memory
  // is unknown counts as having the largest known memory of any profile no larger than it.
  // Errors: kResourceExhausted naming the largest profile when none is big enough.
  Result<int> ResolveSize(const SizeRequest& request) const;

  // "3g.20gb@4" for people and error messages.
  std::string Describe(Placement p) const;
  std::string Describe(std::span<const Placement> layout) const;

 private:
  explicit Geometry(const GpuModel& model) : model_(&model) {}
  bool MediaAllows(const Occupancy& occ, int profile) const;
  Result<void> CheckArrangeLimits(const Occupancy& occ, std::span<const int> profiles) const;
  std::optional<std::vector<Placement>> Search(const Occupancy& occ, std::span<const int> profiles) const;

  const GpuModel* model_;
  std::array<UnitMask, kMaxProfiles> start_mask_{};  // allowed starts per profile
  std::array<UnitMask, kMaxProfiles> size_mask_{};   // (1 << size) - 1 per profile
  std::vector<std::uint8_t> max_more_;               // MC[m][q], [mask * kMaxProfiles + q]
  std::vector<std::int32_t> score_;                  // S(m), [mask]
};

}  // namespace gpuslice::mig
