// Geometry::Enumerate and Geometry::Arrange: the two searches over layouts.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <numeric>
#include <unordered_set>

#include "mig/layout.h"

namespace gpuslice::mig {

// Enumeration is a depth-first search over all legal placements sorted by (start, profile):
// each step adds a placement later in that order than the previous one, so every set of
// placements is visited exactly once, already sorted, and in lexicographic order. A100-40GB
// has 25 placements and a few thousand valid layouts; the search visits each once.
std::vector<Layout> Geometry::Enumerate(const EnumerateOptions& options) const {
  std::vector<bool> allowed(static_cast<std::size_t>(num_profiles()), options.profiles.empty());
  for (int q : options.profiles) {
    if (q >= 0 && q < num_profiles()) allowed[static_cast<std::size_t>(q)] = true;
  }
  std::vector<Placement> candidates;
  for (int s = 0; s < model_->memory_units; ++s) {
    for (int q = 0; q < num_profiles(); ++q) {
      if (allowed[static_cast<std::size_t>(q)] && (start_mask_[q] >> s & 1u) != 0) {
        candidates.push_back({q, s});
      }
    }
  }
  auto is_maximal = [&](const Occupancy& occ) {
    for (int q = 0; q < num_profiles(); ++q) {
      if (allowed[static_cast<std::size_t>(q)] && FreeStarts(occ, q) != 0) return false;
    }
    return true;
  };

  std::vector<Layout> out;
  Layout current;
  Occupancy occ;
  auto visit = [&](auto&& self, std::size_t from) -> void {
    if (!current.empty() && (!options.maximal_only || is_maximal(occ))) out.push_back(current);
    for (std::size_t i = from; i < candidates.size(); ++i) {
      const Placement p = candidates[i];
      if (!CanAdd(occ, p)) continue;
      Add(occ, p);
      current.push_back(p);
      self(self, i + 1);
      current.pop_back();
      Remove(occ, p);
    }
  };
  visit(visit, 0);
  return out;
}

namespace {

bool ExclusiveMedia(MediaAttr m) {
  return m == MediaAttr::kMe || m == MediaAttr::kMeAll;
}

// State of one Arrange search; kept out of the header.
struct ArrangeSearch {
  const Geometry& geometry;
  std::vector<int> order;         // indices into the request, pickiest first
  std::vector<int> profile_of;    // request index -> profile
  std::vector<Placement> chosen;  // by position in `order`
  // (depth, units) pairs known to fail. The order of placement is fixed, so at a given depth
  // everything in the occupancy but the units mask is the same: the mask decides the outcome.
  // Remembering failures bounds the search by depth * 2^U states however many permutations of
  // identical instances there are.
  std::unordered_set<std::uint32_t> failed;

  bool Run(Occupancy& occ, std::size_t depth) {
    if (depth == order.size()) return true;
    const std::uint32_t key = static_cast<std::uint32_t>(depth) << 16 | occ.units;
    if (failed.contains(key)) return false;
    const int q = profile_of[static_cast<std::size_t>(order[depth])];
    // Candidates in best-start order: highest score first, then lowest start.
    std::vector<std::pair<int, int>> starts;  // (-score, start)
    for (UnitMask free = geometry.FreeStarts(occ, q); free != 0; free &= free - 1) {
      const int s = std::countr_zero(free);
      starts.emplace_back(-geometry.Score(occ.units | geometry.Mask({q, s})), s);
    }
    std::sort(starts.begin(), starts.end());
    for (const auto& [neg_score, s] : starts) {
      const Placement p{q, s};
      geometry.Add(occ, p);
      chosen[depth] = p;
      if (Run(occ, depth + 1)) return true;
      geometry.Remove(occ, p);
    }
    failed.insert(key);
    return false;
  }
};

}  // namespace

// Cheap necessary conditions, each with its own precise message.
Result<void> Geometry::CheckArrangeLimits(const Occupancy& occ, std::span<const int> profiles) const {
  std::array<int, kMaxProfiles> want{};
  int units = std::popcount(static_cast<unsigned>(occ.units));
  int compute = occ.compute_slices;
  int exclusive = 0;   // requested +me / +me.all
  int with_media = 0;  // requested profiles that are not -me
  const Profile* me_all = nullptr;
  for (int q : profiles) {
    if (q < 0 || q >= num_profiles()) {
      return Fail(ErrorCode::kInvalidArgument, "{} has no profile #{}", model_->name, q);
    }
    const Profile& prof = model_->profiles[q];
    ++want[q];
    units += prof.size_units;
    compute += prof.compute_slices;
    exclusive += ExclusiveMedia(prof.media) ? 1 : 0;
    with_media += prof.media != MediaAttr::kNoMe ? 1 : 0;
    if (prof.media == MediaAttr::kMeAll) me_all = &prof;
  }
  for (int q = 0; q < num_profiles(); ++q) {
    const Profile& prof = model_->profiles[q];
    if (want[q] > 0 && want[q] + occ.counts[q] > prof.max_count) {
      std::string extra = occ.counts[q] > 0 ? fmt::format(" ({} already on the GPU)", occ.counts[q]) : "";
      std::string note =
          prof.double_memory
              ? fmt::format(" (on this model {} is the double-memory 1-slice profile)", prof.name)
              : "";
      return Fail(ErrorCode::kResourceExhausted, "{} x {}{} exceeds the profile's maximum of {}{}",
                  want[q] + occ.counts[q], prof.name, extra, prof.max_count, note);
    }
  }
  if (units > model_->memory_units) {
    return Fail(ErrorCode::kResourceExhausted, "needs {} memory units but {} has {}", units, model_->name,
                model_->memory_units);
  }
  if (compute > model_->compute_slices) {
    return Fail(ErrorCode::kResourceExhausted, "needs {} compute slices but {} has {}", compute, model_->name,
                model_->compute_slices);
  }
  if (exclusive + occ.media_exclusive > 1) {
    return Fail(ErrorCode::kResourceExhausted,
                "asks for {} instance{} with +me or +me.all{}, but a GPU has media engines for one",
                exclusive, exclusive == 1 ? "" : "s",
                occ.media_exclusive > 0 ? fmt::format(" ({} already on the GPU)", occ.media_exclusive) : "");
  }
  if ((me_all != nullptr || occ.media_all) && with_media + occ.with_media > 1) {
    return Fail(ErrorCode::kResourceExhausted,
                "{} takes every media engine, so every other instance must be a -me profile",
                me_all != nullptr ? me_all->name : "the +me.all instance already on the GPU");
  }
  return {};
}

// The backtracking search behind Arrange; nullopt when no arrangement exists.
std::optional<std::vector<Placement>> Geometry::Search(const Occupancy& occ,
                                                       std::span<const int> profiles) const {
  ArrangeSearch search{*this, {}, {profiles.begin(), profiles.end()}, {}};
  search.order.resize(profiles.size());
  std::iota(search.order.begin(), search.order.end(), 0);
  // Pickiest first: fewest allowed starts, then largest, then profile index.
  std::stable_sort(search.order.begin(), search.order.end(), [&](int a, int b) {
    const int qa = search.profile_of[static_cast<std::size_t>(a)];
    const int qb = search.profile_of[static_cast<std::size_t>(b)];
    const int sa = std::popcount(static_cast<unsigned>(start_mask_[qa]));
    const int sb = std::popcount(static_cast<unsigned>(start_mask_[qb]));
    if (sa != sb) return sa < sb;
    if (model_->profiles[qa].size_units != model_->profiles[qb].size_units) {
      return model_->profiles[qa].size_units > model_->profiles[qb].size_units;
    }
    return qa < qb;
  });
  search.chosen.resize(profiles.size());
  Occupancy work = occ;
  if (!search.Run(work, 0)) return std::nullopt;
  std::vector<Placement> result(profiles.size());
  for (std::size_t i = 0; i < search.order.size(); ++i) {
    result[static_cast<std::size_t>(search.order[i])] = search.chosen[i];
  }
  return result;
}

Result<std::vector<Placement>> Geometry::Arrange(const Occupancy& occ, std::span<const int> profiles) const {
  if (Result<void> ok = CheckArrangeLimits(occ, profiles); !ok) return Fail(ok.error());
  if (std::optional<std::vector<Placement>> placed = Search(occ, profiles)) return std::move(*placed);

  // Explain: the largest subset that does fit (subsets by decreasing size; a request holds at
  // most memory_units <= 16 instances, so this is bounded, and it runs only on failure).
  std::vector<Placement> example;
  const std::size_t n = profiles.size();
  for (std::size_t k = n - 1; k > 0 && example.empty(); --k) {
    for (std::uint32_t mask = 1; mask < (1u << n) && example.empty(); ++mask) {
      if (static_cast<std::size_t>(std::popcount(mask)) != k) continue;
      std::vector<int> subset;
      for (std::size_t i = 0; i < n; ++i) {
        if (mask >> i & 1u) subset.push_back(profiles[i]);
      }
      if (std::optional<std::vector<Placement>> placed = Search(occ, subset)) example = std::move(*placed);
    }
  }
  std::vector<std::string> names;
  for (int q : profiles) names.push_back(model_->profiles[q].name);
  return Fail(ErrorCode::kResourceExhausted,
              "no legal arrangement of {} on {}{}; at most {} of the {} fit together{}",
              fmt::join(names, ", "), model_->name,
              occ.units != 0 ? " beside the instances already there" : "", example.size(), n,
              example.empty() ? "" : fmt::format(" (e.g. {})", Describe(example)));
}

}  // namespace gpuslice::mig
