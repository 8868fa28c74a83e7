#include "sched/quota.h"

#include <fmt/core.h>

#include <algorithm>
#include <limits>
#include <utility>

namespace gpuslice::sched {
namespace {

__extension__ typedef __int128 Int128;

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// Exact order of n1/d1 and n2/d2 for n ≥ 0, d > 0 without multiplying (so without overflow):
// compare the integer parts, then the remainders' reciprocals with the sides swapped.
std::weak_ordering CompareFractions(Int128 n1, Int128 d1, Int128 n2, Int128 d2) {
  while (true) {
    const Int128 q1 = n1 / d1;
    const Int128 q2 = n2 / d2;
    if (q1 != q2) return q1 < q2 ? std::weak_ordering::less : std::weak_ordering::greater;
    const Int128 r1 = n1 % d1;
    const Int128 r2 = n2 % d2;
    if (r1 == 0 || r2 == 0) {
      if (r1 == r2) return std::weak_ordering::equivalent;
      return r1 == 0 ? std::weak_ordering::less : std::weak_ordering::greater;
    }
    // r1/d1 < r2/d2  ⟺  d2/r2 < d1/r1
    const Int128 next_n1 = d2, next_d1 = r2, next_n2 = d1, next_d2 = r1;
    n1 = next_n1;
    d1 = next_d1;
    n2 = next_n2;
    d2 = next_d2;
  }
}

std::int64_t CeilDivClamped(Int128 n, Int128 d) {
  const Int128 q = (n + d - 1) / d;
  return q > kInt64Max ? kInt64Max : static_cast<std::int64_t>(q);
}

Result<void> CheckAmount(std::string_view what, std::int64_t v) {
  if (v < 0 || v > kMaxQuotaMilliGpu) {
    return Fail(ErrorCode::kInvalidArgument, "{} must be between 0 and {} mGPU, got {}", what,
                kMaxQuotaMilliGpu, v);
  }
  return {};
}

std::string_view KindName(bool team) {
  return team ? "team" : "cohort";
}

// Parent index per spec (-1 for roots). Errors: duplicate or empty names, unknown parents,
// teams used as parents.
Result<std::vector<int>> ResolveParents(std::span<const QuotaNodeSpec> specs) {
  std::map<std::string_view, int> by_name;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].name.empty()) return Fail(ErrorCode::kInvalidArgument, "node {} has an empty name", i);
    if (!by_name.emplace(specs[i].name, static_cast<int>(i)).second) {
      return Fail(ErrorCode::kAlreadyExists, "'{}' is defined twice", specs[i].name);
    }
  }
  std::vector<int> parents(specs.size(), -1);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].parent.empty()) continue;
    auto it = by_name.find(specs[i].parent);
    if (it == by_name.end()) {
      return Fail(ErrorCode::kNotFound, "{} '{}' names an unknown cohort '{}'", KindName(specs[i].team),
                  specs[i].name, specs[i].parent);
    }
    if (specs[static_cast<std::size_t>(it->second)].team) {
      return Fail(ErrorCode::kInvalidArgument, "{} '{}' names team '{}' as its cohort",
                  KindName(specs[i].team), specs[i].name, specs[i].parent);
    }
    parents[i] = it->second;
  }
  return parents;
}

// Walks every parent chain once (0 = unseen, 1 = on the current walk, 2 = done); a chain that
// reaches a node of its own walk is a cycle. Errors name the cycle: "a → b → a".
Result<void> CheckNoCycle(std::span<const QuotaNodeSpec> specs, const std::vector<int>& parents) {
  std::vector<int> state(specs.size(), 0);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    std::vector<int> walk;
    int x = static_cast<int>(i);
    while (x >= 0 && state[static_cast<std::size_t>(x)] == 0) {
      state[static_cast<std::size_t>(x)] = 1;
      walk.push_back(x);
      x = parents[static_cast<std::size_t>(x)];
    }
    if (x >= 0 && state[static_cast<std::size_t>(x)] == 1) {
      std::string cycle;
      for (auto it = std::find(walk.begin(), walk.end(), x); it != walk.end(); ++it) {
        cycle += specs[static_cast<std::size_t>(*it)].name + " → ";
      }
      return Fail(ErrorCode::kInvalidArgument, "cohorts form a cycle: {}{}", cycle,
                  specs[static_cast<std::size_t>(x)].name);
    }
    for (int w : walk) state[static_cast<std::size_t>(w)] = 2;
  }
  return {};
}

}  // namespace

std::string_view FitModeName(FitMode mode) {
  switch (mode) {
    case FitMode::kFit: return "fit";
    case FitMode::kFitBorrowing: return "fit-borrowing";
    case FitMode::kNoFit: return "no-fit";
  }
  return "unknown";
}

// --- DominantShare ------------------------------------------------------------------------------

std::int64_t DominantShare::RatioMilli() const {
  if (lendable.value() <= 0 || borrowed.value() <= 0) return 0;
  return CeilDivClamped(Int128{1000} * borrowed.value(), lendable.value());
}

std::int64_t DominantShare::WeightedShare() const {
  if (infinite()) return kInt64Max;
  if (lendable.value() <= 0 || borrowed.value() <= 0) return 0;
  return CeilDivClamped(Int128{1000} * borrowed.value(), Int128{lendable.value()} * weight);
}

double DominantShare::SortKey() const {
  if (infinite()) return std::numeric_limits<double>::infinity();
  if (lendable.value() <= 0 || borrowed.value() <= 0) return 0.0;
  return 1000.0 * static_cast<double>(borrowed.value()) /
         (static_cast<double>(lendable.value()) * static_cast<double>(weight));
}

std::weak_ordering operator<=>(const DominantShare& a, const DominantShare& b) {
  // Ratio as a fraction n/d; a zero ratio (not borrowing, or nothing lendable) is 0/1.
  auto fraction = [](const DominantShare& s, bool weighted) -> std::pair<Int128, Int128> {
    if (s.lendable.value() <= 0 || s.borrowed.value() <= 0) return {0, 1};
    return {s.borrowed.value(), Int128{s.lendable.value()} * (weighted ? s.weight : 1)};
  };
  const bool weighted = !(a.infinite() && b.infinite());
  if (weighted && a.infinite()) return std::weak_ordering::greater;
  if (weighted && b.infinite()) return std::weak_ordering::less;
  const auto [n1, d1] = fraction(a, weighted);
  const auto [n2, d2] = fraction(b, weighted);
  return CompareFractions(n1, d1, n2, d2);
}

// --- Ids and validation ---------------------------------------------------------------------------

Result<int> QuotaTree::NodeIndex(QuotaNodeId node) const {
  if (!node.valid() || node.value() > nodes_.size()) {
    return Fail(ErrorCode::kNotFound, "no quota node with id {}", node.value());
  }
  return static_cast<int>(node.value() - 1);
}

Result<int> QuotaTree::ClassIndex(ClassId gpu_class) const {
  if (!gpu_class.valid() || gpu_class.value() > class_names_.size()) {
    return Fail(ErrorCode::kNotFound, "no GPU class with id {}", gpu_class.value());
  }
  return static_cast<int>(gpu_class.value() - 1);
}

Result<int> QuotaTree::TeamIndex(QuotaNodeId team) const {
  Result<int> n = NodeIndex(team);
  if (n && !At(*n).team) {
    return Fail(ErrorCode::kInvalidArgument, "{} is a cohort; only teams hold usage", At(*n).name);
  }
  return n;
}

Result<QuotaTree::Folded> QuotaTree::Fold(const QuotaRequest& request) const {
  Folded folded;
  for (const ClassAmount& item : request) {
    Result<int> c = ClassIndex(item.gpu_class);
    if (!c) return Fail(c.error());
    const std::int64_t v = item.amount.value();
    auto it = std::find_if(folded.begin(), folded.end(), [&](const auto& f) { return f.first == *c; });
    const std::int64_t total = v + (it == folded.end() ? 0 : it->second);
    if (v < 0 || total > kMaxQuotaMilliGpu) {
      return Fail(ErrorCode::kInvalidArgument, "request for {} must be between 0 and {} mGPU, got {}",
                  ClassName(*c), kMaxQuotaMilliGpu, v < 0 ? v : total);
    }
    if (v == 0) continue;
    if (it == folded.end()) {
      folded.emplace_back(*c, v);
    } else {
      it->second = total;
    }
  }
  return folded;
}

// --- Setup ----------------------------------------------------------------------------------------

Result<ClassId> QuotaTree::AddClass(std::string_view name) {
  if (name.empty()) return Fail(ErrorCode::kInvalidArgument, "GPU class name is empty");
  if (auto it = class_index_.find(name); it != class_index_.end()) {
    return ClassId(static_cast<std::uint64_t>(it->second) + 1);
  }
  const int index = class_count();
  class_names_.emplace_back(name);
  class_index_.emplace(std::string(name), index);
  for (Node& n : nodes_) {
    n.entries.emplace_back();
    n.subtree_quota.push_back(0);
    n.usage.push_back(0);
  }
  return ClassId(static_cast<std::uint64_t>(index) + 1);
}

Result<ClassId> QuotaTree::FindClass(std::string_view name) const {
  auto it = class_index_.find(name);
  if (it == class_index_.end()) return Fail(ErrorCode::kNotFound, "unknown GPU class '{}'", name);
  return ClassId(static_cast<std::uint64_t>(it->second) + 1);
}

Result<QuotaNodeId> QuotaTree::AddNode(std::string_view name, bool team, QuotaNodeId parent) {
  if (name.empty()) return Fail(ErrorCode::kInvalidArgument, "{} name is empty", KindName(team));
  if (node_index_.contains(name)) {
    return Fail(ErrorCode::kAlreadyExists, "a team or cohort named '{}' exists already", name);
  }
  int p = -1;
  if (parent.valid()) {
    Result<int> pi = NodeIndex(parent);
    if (!pi) return Fail(pi.error());
    if (At(*pi).team) {
      return Fail(ErrorCode::kInvalidArgument,
                  "{} '{}' cannot go under team '{}': only cohorts have children", KindName(team), name,
                  At(*pi).name);
    }
    p = *pi;
  }
  const int index = node_count();
  const auto classes = static_cast<std::size_t>(class_count());
  nodes_.push_back(Node{std::string(name),
                        team,
                        p,
                        {},
                        1,
                        std::vector<Entry>(classes),
                        std::vector<std::int64_t>(classes, 0),
                        std::vector<std::int64_t>(classes, 0)});
  node_index_.emplace(std::string(name), index);
  if (p >= 0) At(p).children.push_back(index);
  return QuotaNodeId(static_cast<std::uint64_t>(index) + 1);
}

Result<QuotaNodeId> QuotaTree::AddCohort(std::string_view name, QuotaNodeId parent) {
  return AddNode(name, false, parent);
}

Result<QuotaNodeId> QuotaTree::AddTeam(std::string_view name, QuotaNodeId cohort) {
  return AddNode(name, true, cohort);
}

Result<QuotaNodeId> QuotaTree::Find(std::string_view name) const {
  auto it = node_index_.find(name);
  if (it == node_index_.end()) return Fail(ErrorCode::kNotFound, "no team or cohort named '{}'", name);
  return QuotaNodeId(static_cast<std::uint64_t>(it->second) + 1);
}

Result<void> QuotaTree::SetParent(QuotaNodeId node, QuotaNodeId parent) {
  Result<int> n = NodeIndex(node);
  if (!n) return Fail(n.error());
  int p = -1;
  if (parent.valid()) {
    Result<int> pi = NodeIndex(parent);
    if (!pi) return Fail(pi.error());
    p = *pi;
    const Node& pn = At(p);
    if (pn.team) {
      return Fail(ErrorCode::kInvalidArgument, "cannot move '{}' under team '{}': only cohorts have children",
                  At(*n).name, pn.name);
    }
    for (int a = p; a >= 0; a = At(a).parent) {
      if (a == *n) {
        return Fail(ErrorCode::kInvalidArgument, "moving cohort '{}' under '{}' would make a cycle",
                    At(*n).name, pn.name);
      }
    }
  }
  Node& moved = At(*n);
  const int old = moved.parent;
  if (old == p) return {};
  if (old >= 0) std::erase(At(old).children, *n);
  moved.parent = p;
  if (p >= 0) At(p).children.push_back(*n);
  if (old >= 0) RecomputePath(old);
  if (p >= 0) RecomputePath(p);
  return {};
}

Result<void> QuotaTree::SetQuota(QuotaNodeId node, ClassId gpu_class, const ClassQuota& quota) {
  Result<int> n = NodeIndex(node);
  if (!n) return Fail(n.error());
  Result<int> c = ClassIndex(gpu_class);
  if (!c) return Fail(c.error());
  const std::string where = fmt::format("{} of {} '{}'", ClassName(*c), KindName(At(*n).team), At(*n).name);
  Result<void> ok = CheckAmount("nominal quota for " + where, quota.nominal.value());
  if (ok && quota.borrowing_limit)
    ok = CheckAmount("borrowing limit for " + where, quota.borrowing_limit->value());
  if (ok && quota.lending_limit) ok = CheckAmount("lending limit for " + where, quota.lending_limit->value());
  if (!ok) return ok;
  At(*n).entries[static_cast<std::size_t>(*c)] = Entry{true, quota};
  RecomputePath(*n);
  return {};
}

Result<void> QuotaTree::SetWeight(QuotaNodeId node, std::int64_t weight) {
  Result<int> n = NodeIndex(node);
  if (!n) return Fail(n.error());
  if (weight < 0 || weight > kMaxFairShareWeight) {
    return Fail(ErrorCode::kInvalidArgument, "fair-share weight of '{}' must be between 0 and {}, got {}",
                At(*n).name, kMaxFairShareWeight, weight);
  }
  At(*n).weight = weight;
  return {};
}

// --- Structure ------------------------------------------------------------------------------------

std::string_view QuotaTree::class_name(ClassId gpu_class) const {
  Result<int> c = ClassIndex(gpu_class);
  return c ? std::string_view(ClassName(*c)) : std::string_view();
}

std::string_view QuotaTree::name(QuotaNodeId node) const {
  Result<int> n = NodeIndex(node);
  return n ? std::string_view(At(*n).name) : std::string_view();
}

bool QuotaTree::is_team(QuotaNodeId node) const {
  Result<int> n = NodeIndex(node);
  return n && At(*n).team;
}

QuotaNodeId QuotaTree::parent(QuotaNodeId node) const {
  Result<int> n = NodeIndex(node);
  if (!n || At(*n).parent < 0) return {};
  return QuotaNodeId(static_cast<std::uint64_t>(At(*n).parent) + 1);
}

std::vector<QuotaNodeId> QuotaTree::children(QuotaNodeId node) const {
  std::vector<QuotaNodeId> out;
  Result<int> n = NodeIndex(node);
  if (!n) return out;
  for (int ch : At(*n).children) {
    out.emplace_back(static_cast<std::uint64_t>(ch) + 1);
  }
  return out;
}

std::int64_t QuotaTree::weight(QuotaNodeId node) const {
  Result<int> n = NodeIndex(node);
  return n ? At(*n).weight : 0;
}

std::optional<ClassQuota> QuotaTree::quota(QuotaNodeId node, ClassId gpu_class) const {
  Result<int> n = NodeIndex(node);
  Result<int> c = ClassIndex(gpu_class);
  if (!n || !c) return std::nullopt;
  const Entry& e = At(*n).entries[static_cast<std::size_t>(*c)];
  return e.defined ? std::optional<ClassQuota>(e.quota) : std::nullopt;
}

// --- Arithmetic (§2.2) ----------------------------------------------------------------------------

std::int64_t QuotaTree::LocalQuotaAt(int n, int c) const {
  const Entry& e = At(n).entry(c);
  if (!e.defined || !e.quota.lending_limit) return 0;
  return std::max<std::int64_t>(0, At(n).sq(c) - e.quota.lending_limit->value());
}

std::int64_t QuotaTree::LocalAvailableAt(int n, int c) const {
  return std::max<std::int64_t>(0, LocalQuotaAt(n, c) - At(n).u(c));
}

// cap = (SubtreeQuota − localQuota) − max(0, Usage − localQuota) + borrowingLimit: what the
// node stores in its parent, less what it already takes from there, plus what it may borrow.
std::int64_t QuotaTree::BorrowCapAt(int n, int c) const {
  const Node& x = At(n);
  const std::int64_t local = LocalQuotaAt(n, c);
  return (x.sq(c) - local) - std::max<std::int64_t>(0, x.u(c) - local) +
         x.entry(c).quota.borrowing_limit.value_or(MilliGpu(0)).value();
}

std::int64_t QuotaTree::AvailableAt(int n, int c) const {
  const Node& x = At(n);
  if (x.parent < 0) return x.sq(c) - x.u(c);
  std::int64_t from_parent = AvailableAt(x.parent, c);
  if (x.entry(c).defined && x.entry(c).quota.borrowing_limit) {
    from_parent = std::min(from_parent, BorrowCapAt(n, c));
  }
  return LocalAvailableAt(n, c) + from_parent;
}

std::int64_t QuotaTree::PotentialAt(int n, int c) const {
  const Node& x = At(n);
  if (x.parent < 0) return x.sq(c);
  std::int64_t potential = LocalQuotaAt(n, c) + PotentialAt(x.parent, c);
  if (x.entry(c).defined && x.entry(c).quota.borrowing_limit) {
    potential = std::min(potential, x.sq(c) + x.entry(c).quota.borrowing_limit->value());
  }
  return potential;
}

// Distance to the furthest leaf (Kueue getNodeHeight): a team 0, a cohort with children ≥ 1.
int QuotaTree::Height(int n) const {
  const Node& x = At(n);
  if (x.team) return 0;
  int height = x.children.empty() ? 0 : 1;
  for (int ch : x.children) {
    if (!At(ch).team) height = std::max(height, Height(ch) + 1);
  }
  return height;
}

// Kueue FindHeightOfLowestSubtreeThatFits: 0 when the team stays within its quota (or has no
// cohort); otherwise the height of the lowest ancestor whose subtree quota holds what spills
// up to it, or the root's height when none does.
int QuotaTree::BorrowLevel(int team, int c, std::int64_t val) const {
  const Node& t = At(team);
  if (t.parent < 0 || t.u(c) + val <= t.sq(c)) return 0;
  std::int64_t remaining = val - LocalAvailableAt(team, c);
  int x = t.parent;
  while (true) {
    if (At(x).u(c) + remaining <= At(x).sq(c)) return Height(x);
    remaining -= LocalAvailableAt(x, c);
    if (At(x).parent < 0) return Height(x);
    x = At(x).parent;
  }
}

// Adds delta (either sign) to the node's usage and moves the change in its spill-over
// max(0, Usage − localQuota) to the parent, level by level (Kueue addUsage/removeUsage).
void QuotaTree::AddUsageAt(int n, int c, std::int64_t delta) {
  for (int x = n; x >= 0 && delta != 0; x = At(x).parent) {
    const std::int64_t local = LocalQuotaAt(x, c);
    std::int64_t& usage = At(x).usage[static_cast<std::size_t>(c)];
    const std::int64_t old_spill = std::max<std::int64_t>(0, usage - local);
    usage += delta;
    delta = std::max<std::int64_t>(0, usage - local) - old_spill;
  }
}

// SubtreeQuota and (for cohorts) Usage from the node's own entries and its children's cached
// values (Kueue accumulateFromChild).
void QuotaTree::RecomputeNode(int n) {
  Node& x = At(n);
  for (int c = 0; c < class_count(); ++c) {
    const auto i = static_cast<std::size_t>(c);
    x.subtree_quota[i] = x.entry(c).defined ? x.entry(c).quota.nominal.value() : 0;
    if (!x.team) x.usage[i] = 0;
    for (int ch : x.children) {
      const std::int64_t local = LocalQuotaAt(ch, c);
      x.subtree_quota[i] += At(ch).sq(c) - local;
      x.usage[i] += std::max<std::int64_t>(0, At(ch).u(c) - local);
    }
  }
}

void QuotaTree::RecomputePath(int n) {
  for (int x = n; x >= 0; x = At(x).parent) RecomputeNode(x);
}

std::int64_t QuotaTree::UsageWith(int n, int c, int team, std::int64_t val) const {
  std::int64_t delta = val;
  for (int x = team;; x = At(x).parent) {
    const std::int64_t usage = At(x).u(c);
    if (x == n) return usage + delta;
    const std::int64_t local = LocalQuotaAt(x, c);
    delta = std::max<std::int64_t>(0, usage + delta - local) - std::max<std::int64_t>(0, usage - local);
  }
}

Result<std::pair<int, int>> QuotaTree::Resolve(QuotaNodeId node, ClassId gpu_class) const {
  Result<int> n = NodeIndex(node);
  if (!n) return Fail(n.error());
  Result<int> c = ClassIndex(gpu_class);
  if (!c) return Fail(c.error());
  return std::pair{*n, *c};
}

Result<MilliGpu> QuotaTree::SubtreeQuota(QuotaNodeId node, ClassId gpu_class) const {
  return Resolve(node, gpu_class).map([&](auto nc) { return MilliGpu(At(nc.first).sq(nc.second)); });
}

Result<MilliGpu> QuotaTree::LocalQuota(QuotaNodeId node, ClassId gpu_class) const {
  return Resolve(node, gpu_class).map([&](auto nc) { return MilliGpu(LocalQuotaAt(nc.first, nc.second)); });
}

Result<MilliGpu> QuotaTree::Usage(QuotaNodeId node, ClassId gpu_class) const {
  return Resolve(node, gpu_class).map([&](auto nc) { return MilliGpu(At(nc.first).u(nc.second)); });
}

Result<MilliGpu> QuotaTree::LocalAvailable(QuotaNodeId node, ClassId gpu_class) const {
  return Resolve(node, gpu_class).map([&](auto nc) {
    return MilliGpu(LocalAvailableAt(nc.first, nc.second));
  });
}

Result<MilliGpu> QuotaTree::Available(QuotaNodeId node, ClassId gpu_class) const {
  return Resolve(node, gpu_class).map([&](auto nc) { return MilliGpu(AvailableAt(nc.first, nc.second)); });
}

Result<MilliGpu> QuotaTree::PotentialAvailable(QuotaNodeId node, ClassId gpu_class) const {
  return Resolve(node, gpu_class).map([&](auto nc) { return MilliGpu(PotentialAt(nc.first, nc.second)); });
}

Result<bool> QuotaTree::IsBorrowing(QuotaNodeId node, ClassId gpu_class) const {
  return Resolve(node, gpu_class).map([&](auto nc) {
    return At(nc.first).u(nc.second) > At(nc.first).sq(nc.second);
  });
}

// --- Admission (§2.3) -----------------------------------------------------------------------------

ClassFit QuotaTree::FitClass(int team, int c, std::int64_t val) const {
  const Node& t = At(team);
  ClassFit f;
  f.gpu_class = ClassId(static_cast<std::uint64_t>(c) + 1);
  f.request = MilliGpu(val);
  f.available = MilliGpu(AvailableAt(team, c));
  f.potential_available = MilliGpu(PotentialAt(team, c));
  f.nominal = MilliGpu(t.sq(c));
  f.usage = MilliGpu(t.u(c));
  f.has_quota = t.entry(c).defined;
  if (!f.has_quota || val > f.potential_available.value() || val > f.available.value()) {
    f.mode = FitMode::kNoFit;
    return f;
  }
  f.borrow_level = BorrowLevel(team, c, val);
  f.mode = f.borrow_level > 0 ? FitMode::kFitBorrowing : FitMode::kFit;
  return f;
}

Result<FitResult> QuotaTree::CheckFit(QuotaNodeId team, const QuotaRequest& request) const {
  Result<int> t = TeamIndex(team);
  if (!t) return Fail(t.error());
  Result<Folded> folded = Fold(request);
  if (!folded) return Fail(folded.error());
  FitResult result;
  result.preemption_can_help = true;
  result.within_nominal = true;
  for (const auto& [c, val] : *folded) {
    ClassFit f = FitClass(*t, c, val);
    if (f.mode == FitMode::kNoFit) {
      result.mode = FitMode::kNoFit;
      result.preemption_can_help &= f.has_quota && val <= f.potential_available.value();
      result.within_nominal &= f.has_quota && val <= f.nominal.value();
      if (!result.reason.empty()) result.reason += "; and ";
      result.reason += ExplainNoFit(*t, f);
    } else {
      result.borrow_level = std::max(result.borrow_level, f.borrow_level);
    }
    result.classes.push_back(f);
  }
  if (result.mode == FitMode::kNoFit) {
    result.borrow_level = 0;
  } else {
    result.mode = result.borrow_level > 0 ? FitMode::kFitBorrowing : FitMode::kFit;
    result.preemption_can_help = false;
    result.within_nominal = false;
  }
  return result;
}

Result<FitResult> QuotaTree::Admit(QuotaNodeId team, const QuotaRequest& request) {
  Result<FitResult> fit = CheckFit(team, request);
  if (!fit) return fit;
  if (fit->mode == FitMode::kNoFit) return Fail(ErrorCode::kResourceExhausted, "{}", fit->reason);
  const int t = *TeamIndex(team);
  for (const ClassFit& f : fit->classes) AddUsageAt(t, *ClassIndex(f.gpu_class), f.request.value());
  return fit;
}

Result<void> QuotaTree::Release(QuotaNodeId team, const QuotaRequest& request) {
  Result<int> t = TeamIndex(team);
  if (!t) return Fail(t.error());
  Result<Folded> folded = Fold(request);
  if (!folded) return Fail(folded.error());
  for (const auto& [c, val] : *folded) {
    if (val > At(*t).u(c)) {
      return Fail(ErrorCode::kFailedPrecondition, "team '{}' releases {} mGPU of {} but uses only {}",
                  At(*t).name, val, ClassName(c), At(*t).u(c));
    }
  }
  for (const auto& [c, val] : *folded) AddUsageAt(*t, c, -val);
  return {};
}

Result<void> QuotaTree::Charge(QuotaNodeId team, const QuotaRequest& request) {
  Result<int> t = TeamIndex(team);
  if (!t) return Fail(t.error());
  Result<Folded> folded = Fold(request);
  if (!folded) return Fail(folded.error());
  for (const auto& [c, val] : *folded) {
    if (At(*t).u(c) + val > kMaxQuotaMilliGpu) {
      return Fail(ErrorCode::kInvalidArgument, "usage of team '{}' for {} would exceed {} mGPU", At(*t).name,
                  ClassName(c), kMaxQuotaMilliGpu);
    }
  }
  for (const auto& [c, val] : *folded) AddUsageAt(*t, c, val);
  return {};
}

// --- Reasons --------------------------------------------------------------------------------------
// Each sentence restates the arithmetic of available() / potentialAvailable() with the values of
// this tree, so a person can check it: the team's own part, then each level it draws from.

std::string QuotaTree::ExplainNoFit(int team, const ClassFit& fit) const {
  const int c = *ClassIndex(fit.gpu_class);
  const std::string& cls = ClassName(c);
  const Node& t = At(team);
  if (!fit.has_quota) {
    return fmt::format(
        "team {} needs {} mGPU of {} but has no quota entry for it (a team uses and borrows only "
        "the GPU classes it has an entry for; nominal 0 is enough to borrow)",
        t.name, fit.request.value(), cls);
  }
  if (fit.request > fit.potential_available) return ExplainBeyondPotential(team, c, fit.request.value());
  return ExplainShort(team, c, fit.request.value());
}

std::string QuotaTree::ExplainBeyondPotential(int team, int c, std::int64_t val) const {
  const Node& t = At(team);
  std::string s = fmt::format(
      "team {} needs {} mGPU of {}, more than it can ever get: at most {} even with "
      "all other work gone",
      t.name, val, ClassName(c), PotentialAt(team, c));
  if (t.parent < 0) return s + fmt::format(" (its nominal {}; it is in no cohort)", t.sq(c));
  const std::int64_t local = LocalQuotaAt(team, c);
  const std::int64_t via_parent = local + PotentialAt(t.parent, c);
  const auto& limit = t.entry(c).quota.borrowing_limit;
  if (limit && t.sq(c) + limit->value() < via_parent) {
    return s + fmt::format(" (nominal {} + borrowing limit {})", t.sq(c), limit->value());
  }
  s += fmt::format(" (cohort {} can provide {}", At(t.parent).name, PotentialAt(t.parent, c));
  if (local > 0) s += fmt::format(", plus {} its lending limit keeps for it", local);
  return s + ")";
}

std::string QuotaTree::ExplainShort(int team, int c, std::int64_t val) const {
  const Node& t = At(team);
  const std::int64_t avail = AvailableAt(team, c);
  std::string s =
      fmt::format("team {} needs {} mGPU of {} but only {} is available ({} short): nominal {}, used {}",
                  t.name, val, ClassName(c), avail, val - avail, t.sq(c), t.u(c));
  if (t.parent < 0) return s + "; it is in no cohort, so it cannot borrow";
  if (const std::int64_t local = LocalQuotaAt(team, c); local > 0) {
    s += fmt::format(", lending limit {} keeps {} for it ({} unused)",
                     t.entry(c).quota.lending_limit->value(), local, LocalAvailableAt(team, c));
  }
  for (int x = team; At(x).parent >= 0; x = At(x).parent) {
    const Node& n = At(x);
    const Node& p = At(n.parent);
    const std::int64_t parent_avail = AvailableAt(n.parent, c);
    const auto& limit = n.entry(c).quota.borrowing_limit;
    if (n.entry(c).defined && limit && BorrowCapAt(x, c) < parent_avail) {
      return s + fmt::format(
                     "; borrowing limit {} caps {} {} at {}, so it can take only {} more from cohort {} "
                     "(which has {})",
                     limit->value(), KindName(n.team), n.name, n.sq(c) + limit->value(),
                     std::max<std::int64_t>(0, BorrowCapAt(x, c)), p.name, parent_avail);
    }
    if (p.parent < 0) {
      s +=
          fmt::format("; cohort {} has {} left (quota {}, in use {})", p.name, parent_avail, p.sq(c), p.u(c));
    } else {
      s += fmt::format("; cohort {} can give {}", p.name, parent_avail);
    }
    // The team's unused quota that it stores in the cohort is part of what the cohort has left.
    const std::int64_t local = LocalQuotaAt(x, c);
    const std::int64_t own_unused = (n.sq(c) - local) - std::max<std::int64_t>(0, n.u(c) - local);
    if (x == team && own_unused > 0 && parent_avail >= own_unused) {
      s += fmt::format(", counting the team's own unused {}", own_unused);
    } else if (x == team && own_unused > 0) {
      s += fmt::format("; {} of the team's own unused {} is in use by others",
                       own_unused - std::max<std::int64_t>(0, parent_avail), own_unused);
    }
  }
  return s;
}

// --- Fair sharing (§2.7) --------------------------------------------------------------------------

Result<DominantShare> QuotaTree::Share(QuotaNodeId node, QuotaNodeId team,
                                       const QuotaRequest& request) const {
  Result<int> n = NodeIndex(node);
  if (!n) return Fail(n.error());
  int t = -1;
  Folded folded;
  if (team.valid()) {
    Result<int> ti = TeamIndex(team);
    if (!ti) return Fail(ti.error());
    t = *ti;
    int x = t;
    while (x >= 0 && x != *n) x = At(x).parent;
    if (x != *n) {
      return Fail(ErrorCode::kInvalidArgument, "team '{}' is not below '{}'", At(t).name, At(*n).name);
    }
    Result<Folded> f = Fold(request);
    if (!f) return Fail(f.error());
    folded = std::move(*f);
  } else if (!request.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "a dominant share with a request needs the requesting team");
  }
  return ShareAt(*n, t, folded);
}

DominantShare QuotaTree::ShareAt(int n, int team, const Folded& request) const {
  const Node& x = At(n);
  DominantShare share;
  share.weight = x.weight;
  if (x.parent < 0) return share;
  for (int c = 0; c < class_count(); ++c) {
    std::int64_t val = 0;
    for (const auto& [rc, amount] : request) val += rc == c ? amount : 0;
    const std::int64_t usage = team >= 0 ? UsageWith(n, c, team, val) : x.u(c);
    const std::int64_t borrowed = usage - x.sq(c);
    if (borrowed <= 0) continue;
    share.borrowing = true;
    const std::int64_t lendable = PotentialAt(x.parent, c);
    if (lendable <= 0) continue;
    const auto order = share.dominant.valid() ? CompareFractions(borrowed, lendable, share.borrowed.value(),
                                                                 share.lendable.value())
                                              : std::weak_ordering::greater;
    if (order > 0 || (order == 0 && ClassName(c) < class_name(share.dominant))) {
      share.dominant = ClassId(static_cast<std::uint64_t>(c) + 1);
      share.borrowed = MilliGpu(borrowed);
      share.lendable = MilliGpu(lendable);
    }
  }
  return share;
}

// --- Build ----------------------------------------------------------------------------------------

Result<QuotaTree> QuotaTree::Build(std::span<const QuotaNodeSpec> specs) {
  Result<std::vector<int>> parents = ResolveParents(specs);
  if (!parents) return Fail(parents.error());
  if (Result<void> ok = CheckNoCycle(specs, *parents); !ok) return Fail(ok.error());
  QuotaTree tree;
  std::vector<QuotaNodeId> ids(specs.size());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    std::vector<std::size_t> chain;  // i and its ancestors not added yet, child first
    for (int x = static_cast<int>(i); x >= 0 && !ids[static_cast<std::size_t>(x)].valid();
         x = (*parents)[static_cast<std::size_t>(x)]) {
      chain.push_back(static_cast<std::size_t>(x));
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      const int p = (*parents)[*it];
      const QuotaNodeId parent = p >= 0 ? ids[static_cast<std::size_t>(p)] : QuotaNodeId();
      Result<QuotaNodeId> id = tree.AddNode(specs[*it].name, specs[*it].team, parent);
      if (!id) return Fail(id.error());
      ids[*it] = *id;
    }
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (Result<void> ok = tree.SetWeight(ids[i], specs[i].weight); !ok) return Fail(ok.error());
    for (const auto& [class_name, quota] : specs[i].quotas) {
      Result<ClassId> c = tree.AddClass(class_name);
      if (!c) return Fail(c.error().WithContext(specs[i].name));
      if (Result<void> ok = tree.SetQuota(ids[i], *c, quota); !ok) return Fail(ok.error());
    }
  }
  return tree;
}

}  // namespace gpuslice::sched
