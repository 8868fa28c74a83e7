// The planner; its rules and the two kinds of target are described in repartition.h.
#include "sched/repartition.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <numeric>

namespace gpuslice::sched {
namespace {

using mig::Geometry;
using mig::Occupancy;
using mig::Placement;

// Which actual instances stay, which go, and what is created; indices into `actual`.
struct Draft {
  std::vector<std::size_t> keep;     // busy or idle, kept in place
  std::vector<std::size_t> destroy;  // idle only
  std::vector<std::size_t> outside;  // busy and not in the target (also in `keep`)
  std::vector<Placement> create;
};

std::string DescribeInstance(const Geometry& g, const GpuInstanceState& s) {
  return fmt::format("instance {} ({})", s.id, g.Describe(s.placement));
}

std::string DescribeInstances(const Geometry& g, std::span<const GpuInstanceState> actual,
                              std::span<const std::size_t> which) {
  std::string out;
  for (std::size_t i : which) {
    if (!out.empty()) out += ", ";
    out += DescribeInstance(g, actual[i]);
  }
  return out;
}

// Indices of `actual` ordered by placement, so every choice below is independent of input order.
std::vector<std::size_t> ByPlacement(std::span<const GpuInstanceState> actual) {
  std::vector<std::size_t> order(actual.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return actual[a].placement < actual[b].placement; });
  return order;
}

// The actual state comes from a node (NVML or the simulator): check it rather than trust it.
Result<void> CheckActual(const Geometry& g, std::span<const GpuInstanceState> actual) {
  std::vector<Placement> layout;
  layout.reserve(actual.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (actual[i].id == actual[j].id) {
        return Fail(ErrorCode::kInvalidArgument, "actual state of the {} lists instance {} twice",
                    g.model().name, actual[i].id);
      }
    }
    layout.push_back(actual[i].placement);
  }
  if (Result<void> ok = g.Validate(layout); !ok) {
    return Fail(ErrorCode::kInvalidArgument, "actual state of the {} is not a valid layout: {}",
                g.model().name, ok.error().message);
  }
  return {};
}

// Turns a draft into the result: ops (destroys, then creates, each by placement), the layout
// after them, and the note about busy instances kept outside the target.
GpuPlanResult Finish(const Geometry& g, std::span<const GpuInstanceState> actual, Draft& d) {
  GpuPlanResult r;
  std::sort(d.destroy.begin(), d.destroy.end(),
            [&](std::size_t a, std::size_t b) { return actual[a].placement < actual[b].placement; });
  std::sort(d.create.begin(), d.create.end());
  r.ops.reserve(d.destroy.size() + d.create.size());
  for (std::size_t i : d.destroy) {
    r.ops.push_back({RepartitionOp::Kind::kDestroy, actual[i].placement, actual[i].id});
  }
  for (Placement p : d.create) r.ops.push_back({RepartitionOp::Kind::kCreate, p, 0});
  r.layout.reserve(d.keep.size() + d.create.size());
  for (std::size_t i : d.keep) r.layout.push_back(actual[i].placement);
  r.layout.insert(r.layout.end(), d.create.begin(), d.create.end());
  std::sort(r.layout.begin(), r.layout.end());
  r.status = r.ops.empty() ? GpuPlanStatus::kUnchanged : GpuPlanStatus::kPlanned;
  r.kept = static_cast<int>(d.keep.size());
  r.kept_busy_outside_target = static_cast<int>(d.outside.size());
  r.matches_target = d.outside.empty();
  if (!d.outside.empty()) {
    r.note = fmt::format("kept busy {} outside the target", DescribeInstances(g, actual, d.outside));
  }
  return r;
}

GpuPlanResult Blocked(std::span<const GpuInstanceState> actual, std::string reason) {
  GpuPlanResult r;
  r.status = GpuPlanStatus::kBlocked;
  r.reason = std::move(reason);
  r.layout.reserve(actual.size());
  for (const GpuInstanceState& s : actual) r.layout.push_back(s.placement);
  std::sort(r.layout.begin(), r.layout.end());
  r.kept = static_cast<int>(actual.size());
  return r;
}

// ---- Explicit layouts ----------------------------------------------------------------------

// "busy instance 7 (3g.20gb@4) overlaps target 2g.10gb@4, 1g.5gb@6; ..." for every busy
// instance outside the target that overlaps a placement to create; empty when none does.
// (A kept placement cannot overlap a busy instance: the actual state is a valid layout.)
std::string OverlapReason(const Geometry& g, std::span<const GpuInstanceState> actual, const Draft& d) {
  std::string reason;
  for (std::size_t i : d.outside) {
    const mig::UnitMask busy = g.Mask(actual[i].placement);
    std::vector<std::string> hits;
    for (Placement p : d.create) {
      if ((g.Mask(p) & busy) != 0) hits.push_back(g.Describe(p));
    }
    if (hits.empty()) continue;
    if (!reason.empty()) reason += "; ";
    reason +=
        fmt::format("busy {} overlaps target {}", DescribeInstance(g, actual[i]), fmt::join(hits, ", "));
  }
  return reason;
}

// Busy instances outside the target that overlap nothing may still break a rule of the layout
// as a whole (a second +me instance, a profile maximum, the compute slices): check the union.
std::string UnionReason(const Geometry& g, std::span<const GpuInstanceState> actual, const Draft& d,
                        std::span<const Placement> target) {
  std::vector<Placement> all(target.begin(), target.end());
  for (std::size_t i : d.outside) all.push_back(actual[i].placement);
  if (Result<void> ok = g.Validate(all); !ok) {
    return fmt::format("busy {} outside the target cannot stay beside it: {}",
                       DescribeInstances(g, actual, d.outside), ok.error().message);
  }
  return {};
}

Result<GpuPlanResult> PlanLayout(const Geometry& g, std::span<const GpuInstanceState> actual,
                                 std::span<const Placement> target) {
  if (Result<void> ok = g.Validate(target); !ok) {
    return Fail(ErrorCode::kInvalidArgument, "target layout {} is not valid for {}: {}", g.Describe(target),
                g.model().name, ok.error().message);
  }
  Draft d;
  std::vector<bool> present(target.size(), false);
  for (std::size_t i : ByPlacement(actual)) {
    const auto it = std::find(target.begin(), target.end(), actual[i].placement);
    if (it != target.end()) {
      present[static_cast<std::size_t>(it - target.begin())] = true;
      d.keep.push_back(i);
    } else if (actual[i].busy) {
      d.keep.push_back(i);
      d.outside.push_back(i);
    } else {
      d.destroy.push_back(i);
    }
  }
  for (std::size_t j = 0; j < target.size(); ++j) {
    if (!present[j]) d.create.push_back(target[j]);
  }
  if (!d.outside.empty()) {
    std::string reason = OverlapReason(g, actual, d);
    if (reason.empty()) reason = UnionReason(g, actual, d, target);
    if (!reason.empty()) return Blocked(actual, std::move(reason));
  }
  return Finish(g, actual, d);
}

// ---- Profile mixes -------------------------------------------------------------------------

using Counts = std::array<int, mig::kMaxProfiles>;

std::vector<int> Expand(const Counts& counts, int num_profiles) {
  std::vector<int> out;
  for (int q = 0; q < num_profiles; ++q) out.insert(out.end(), static_cast<std::size_t>(counts[q]), q);
  return out;
}

// The instances a mix plan keeps whatever happens: every busy one, counted against `want`.
void KeepBusy(const Geometry& g, std::span<const GpuInstanceState> actual, std::span<const std::size_t> order,
              Counts& want, Occupancy& fixed, Draft& d) {
  for (std::size_t i : order) {
    if (!actual[i].busy) continue;
    const int q = actual[i].placement.profile;
    d.keep.push_back(i);
    if (want[q] > 0) {
      --want[q];
    } else {
      d.outside.push_back(i);
    }
    g.Add(fixed, actual[i].placement);
  }
}

// First try: keep every idle instance of a still-wanted profile (lowest start first), arrange
// the rest around them. False when no arrangement exists with all of them kept.
bool TryFullReuse(const Geometry& g, std::span<const GpuInstanceState> actual,
                  std::span<const std::size_t> order, Counts want, Occupancy occ, Draft& d) {
  Draft trial = d;
  for (std::size_t i : order) {
    if (actual[i].busy) continue;
    const int q = actual[i].placement.profile;
    if (want[q] > 0) {
      --want[q];
      trial.keep.push_back(i);
      g.Add(occ, actual[i].placement);
    } else {
      trial.destroy.push_back(i);
    }
  }
  if (trial.keep.size() == d.keep.size()) return false;  // nothing reused: the second try is the same
  Result<std::vector<Placement>> placed = g.Arrange(occ, Expand(want, g.num_profiles()));
  if (!placed) return false;
  trial.create = std::move(*placed);
  d = std::move(trial);
  return true;
}

// Second try: arrange everything the busy instances do not satisfy around them alone, then keep
// the idle instances that sit exactly where an arranged instance goes.
Result<void> ArrangeAroundBusy(const Geometry& g, std::span<const GpuInstanceState> actual,
                               std::span<const std::size_t> order, const Counts& want, const Occupancy& fixed,
                               Draft& d) {
  Result<std::vector<Placement>> placed = g.Arrange(fixed, Expand(want, g.num_profiles()));
  if (!placed) return Fail(placed.error());
  std::vector<Placement> create = std::move(*placed);
  for (std::size_t i : order) {
    if (actual[i].busy) continue;
    const auto it = std::find(create.begin(), create.end(), actual[i].placement);
    if (it != create.end()) {
      create.erase(it);
      d.keep.push_back(i);
    } else {
      d.destroy.push_back(i);
    }
  }
  d.create = std::move(create);
  return {};
}

std::string MixNames(const Geometry& g, std::span<const int> profiles) {
  std::vector<std::string_view> names;
  for (int q : profiles) names.push_back(g.model().profiles[static_cast<std::size_t>(q)].name);
  return fmt::format("{}", fmt::join(names, ", "));
}

Result<GpuPlanResult> MixFailure(const Geometry& g, std::span<const GpuInstanceState> actual,
                                 std::span<const int> profiles, const Draft& d, const Error& error) {
  if (Result<std::vector<Placement>> alone = g.Arrange(Occupancy{}, profiles); !alone) {
    return Fail(ErrorCode::kInvalidArgument, "target mix [{}] does not fit an empty {}: {}",
                MixNames(g, profiles), g.model().name, alone.error().message);
  }
  return Blocked(actual,
                 fmt::format("target mix [{}] cannot be arranged around busy {}: {}", MixNames(g, profiles),
                             DescribeInstances(g, actual, d.keep), error.message));
}

Result<GpuPlanResult> PlanMix(const Geometry& g, std::span<const GpuInstanceState> actual,
                              std::span<const int> profiles) {
  Counts want{};
  for (int q : profiles) {
    if (q < 0 || q >= g.num_profiles()) {
      return Fail(ErrorCode::kInvalidArgument, "target mix names profile #{}, but {} has {} profiles", q,
                  g.model().name, g.num_profiles());
    }
    ++want[q];
  }
  const std::vector<std::size_t> order = ByPlacement(actual);
  Draft d;
  Occupancy fixed;
  KeepBusy(g, actual, order, want, fixed, d);
  if (TryFullReuse(g, actual, order, want, fixed, d)) return Finish(g, actual, d);
  Draft busy_only = d;
  if (Result<void> ok = ArrangeAroundBusy(g, actual, order, want, fixed, d); !ok) {
    return MixFailure(g, actual, profiles, busy_only, ok.error());
  }
  return Finish(g, actual, d);
}

}  // namespace

std::string_view GpuPlanStatusName(GpuPlanStatus status) {
  switch (status) {
    case GpuPlanStatus::kUnchanged: return "unchanged";
    case GpuPlanStatus::kPlanned: return "planned";
    case GpuPlanStatus::kBlocked: return "blocked";
  }
  return "unknown";
}

Result<GpuPlanResult> PlanGpu(const Geometry& geometry, std::span<const GpuInstanceState> actual,
                              const RepartitionTarget& target) {
  if (Result<void> ok = CheckActual(geometry, actual); !ok) return Fail(ok.error());
  if (target.kind == RepartitionTarget::Kind::kMix) return PlanMix(geometry, actual, target.profiles);
  return PlanLayout(geometry, actual, target.layout);
}

FleetPlanResult PlanFleet(std::span<const GpuRepartitionInput> gpus) {
  FleetPlanResult out;
  out.gpus.reserve(gpus.size());
  for (std::size_t n = 0; n < gpus.size(); ++n) {
    const GpuRepartitionInput& in = gpus[n];
    if (in.geometry == nullptr || in.target == nullptr) {
      out.gpus.push_back(Fail(ErrorCode::kInvalidArgument, "GPU {}: no geometry or no target", n));
      ++out.errors;
      continue;
    }
    Result<GpuPlanResult> r = PlanGpu(*in.geometry, in.actual, *in.target);
    if (!r) {
      ++out.errors;
    } else {
      for (const RepartitionOp& op : r->ops) {
        ++(op.kind == RepartitionOp::Kind::kCreate ? out.creates : out.destroys);
      }
      out.kept += r->kept;
      switch (r->status) {
        case GpuPlanStatus::kUnchanged: ++out.unchanged; break;
        case GpuPlanStatus::kPlanned: ++out.planned; break;
        case GpuPlanStatus::kBlocked: ++out.blocked; break;
      }
    }
    out.gpus.push_back(std::move(r));
  }
  return out;
}

}  // namespace gpuslice::sched
