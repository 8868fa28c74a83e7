// Stateful properties of QuotaTree (RapidCheck): random trees (cohorts nested up to 3 deep, up
// to 8 teams, 1–3 GPU classes, random nominal/borrowing/lending limits) driven by random
// admit / release / quota-change / move sequences. After every step:
//   (a) limits hold: a team never holds more than nominal + borrowing limit, a cohort subtree
//       never takes more than its nominal total + borrowing limit from outside, and nobody
//       outside a lender's subtree uses more of it than its lending limit;
//   (b) the incremental caches equal a from-scratch recomputation of the §2.2 formulas
//       (Model below is a separate, naive recursive implementation);
//   (c) Admit succeeds iff CheckFit said Fit/FitBorrowing, and the verdict matches the model;
//       a refused Admit or Release changes nothing;
//   (d) the teams under a root never use more than the root's total nominal.
// (a) and (d) are global facts only while no quota was cut or node moved (a cut may leave the
// tree over-admitted, as in Kueue); afterwards they are checked for every node an admission
// touched.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "sched/quota.h"

namespace gpuslice::sched {
namespace {

using std::int64_t;

// A naive recursive evaluation of §2.2 over a parent array; no caching, no incremental steps.
struct Model {
  struct Node {
    bool team = true;
    int parent = -1;
    int64_t weight = 1;
    std::vector<std::optional<ClassQuota>> quota;  // per class
    std::vector<int64_t> usage;                    // per class, teams only
  };
  std::vector<Node> nodes;
  int classes = 0;

  const Node& N(int n) const { return nodes[static_cast<std::size_t>(n)]; }
  const std::optional<ClassQuota>& Q(int n, int c) const { return N(n).quota[static_cast<std::size_t>(c)]; }
  std::vector<int> Children(int n) const {
    std::vector<int> out;
    for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
      if (N(i).parent == n) out.push_back(i);
    }
    return out;
  }
  int64_t Nominal(int n, int c) const { return Q(n, c) ? Q(n, c)->nominal.value() : 0; }
  std::optional<int64_t> Borrowing(int n, int c) const {
    if (!Q(n, c) || !Q(n, c)->borrowing_limit) return std::nullopt;
    return Q(n, c)->borrowing_limit->value();
  }
  std::optional<int64_t> Lending(int n, int c) const {
    if (!Q(n, c) || !Q(n, c)->lending_limit) return std::nullopt;
    return Q(n, c)->lending_limit->value();
  }
  int64_t SQ(int n, int c) const {
    int64_t s = Nominal(n, c);
    for (int ch : Children(n)) s += SQ(ch, c) - LQ(ch, c);
    return s;
  }
  int64_t LQ(int n, int c) const {
    const auto l = Lending(n, c);
    return l ? std::max<int64_t>(0, SQ(n, c) - *l) : 0;
  }
  int64_t U(int n, int c) const {
    if (N(n).team) return N(n).usage[static_cast<std::size_t>(c)];
    int64_t u = 0;
    for (int ch : Children(n)) u += std::max<int64_t>(0, U(ch, c) - LQ(ch, c));
    return u;
  }
  int64_t Avail(int n, int c) const {
    if (N(n).parent < 0) return SQ(n, c) - U(n, c);
    int64_t from_parent = Avail(N(n).parent, c);
    if (const auto b = Borrowing(n, c)) {
      from_parent =
          std::min(from_parent, SQ(n, c) - LQ(n, c) - std::max<int64_t>(0, U(n, c) - LQ(n, c)) + *b);
    }
    return std::max<int64_t>(0, LQ(n, c) - U(n, c)) + from_parent;
  }
  int64_t Potential(int n, int c) const {
    if (N(n).parent < 0) return SQ(n, c);
    int64_t p = LQ(n, c) + Potential(N(n).parent, c);
    if (const auto b = Borrowing(n, c)) p = std::min(p, SQ(n, c) + *b);
    return p;
  }
  // Plain totals, free of the Kueue bookkeeping: all nominal and all team usage in a subtree.
  int64_t TotalNominal(int n, int c) const {
    int64_t s = Nominal(n, c);
    for (int ch : Children(n)) s += TotalNominal(ch, c);
    return s;
  }
  int64_t TotalUsage(int n, int c) const {
    if (N(n).team) return N(n).usage[static_cast<std::size_t>(c)];
    int64_t s = 0;
    for (int ch : Children(n)) s += TotalUsage(ch, c);
    return s;
  }
  int Root(int n) const { return N(n).parent < 0 ? n : Root(N(n).parent); }
  bool Below(int n, int ancestor) const {
    return n == ancestor || (N(n).parent >= 0 && Below(N(n).parent, ancestor));
  }
};

struct World {
  QuotaTree tree;
  Model model;
  std::vector<ClassId> classes;
  std::vector<QuotaNodeId> ids;  // by model index
  std::vector<int> teams, cohorts;
};

ClassQuota GenQuota(bool cohort) {
  ClassQuota q;
  q.nominal = MilliGpu(*rc::gen::inRange<int64_t>(0, cohort ? 11 : 31) * 100);
  if (*rc::gen::inRange(0, 2) == 0) q.borrowing_limit = MilliGpu(*rc::gen::inRange<int64_t>(0, 21) * 100);
  if (*rc::gen::inRange(0, 5) < 2) q.lending_limit = MilliGpu(*rc::gen::inRange<int64_t>(0, 31) * 100);
  return q;
}

void SetQuota(World& w, int n, int c, const ClassQuota& q) {
  RC_ASSERT(w.tree.SetQuota(w.ids[static_cast<std::size_t>(n)], w.classes[static_cast<std::size_t>(c)], q)
                .has_value());
  w.model.nodes[static_cast<std::size_t>(n)].quota[static_cast<std::size_t>(c)] = q;
}

int AddNode(World& w, bool team, int parent) {
  const int index = static_cast<int>(w.model.nodes.size());
  const std::string name = (team ? "t" : "c") + std::to_string(index);
  const QuotaNodeId p = parent >= 0 ? w.ids[static_cast<std::size_t>(parent)] : QuotaNodeId();
  Result<QuotaNodeId> id = team ? w.tree.AddTeam(name, p) : w.tree.AddCohort(name, p);
  RC_ASSERT(id.has_value());
  w.ids.push_back(*id);
  const auto classes = static_cast<std::size_t>(w.model.classes);
  w.model.nodes.push_back(
      {team, parent, 1, std::vector<std::optional<ClassQuota>>(classes), std::vector<int64_t>(classes, 0)});
  (team ? w.teams : w.cohorts).push_back(index);
  // Cohorts always hold an entry; a team lacks one for a class one time in eight.
  for (int c = 0; c < w.model.classes; ++c) {
    if (!team || *rc::gen::inRange(0, 8) != 0) SetQuota(w, index, c, GenQuota(!team));
  }
  return index;
}

World GenWorld() {
  World w;
  const char* names[] = {"A100-80GB", "H100-80GB", "L40S"};
  w.model.classes = *rc::gen::inRange(1, 4);
  for (int c = 0; c < w.model.classes; ++c) w.classes.push_back(*w.tree.AddClass(names[c]));
  // Cohorts come first, so a cohort's model index is its index in `depth` (1 = a root).
  std::vector<int> depth;
  const int cohorts = *rc::gen::inRange(0, 5);
  for (int i = 0; i < cohorts; ++i) {
    std::vector<int> parents = {-1};
    for (int j = 0; j < i; ++j) {
      if (depth[static_cast<std::size_t>(j)] < 3) parents.push_back(j);
    }
    const int p = *rc::gen::elementOf(parents);
    depth.push_back(p < 0 ? 1 : depth[static_cast<std::size_t>(p)] + 1);
    AddNode(w, false, p);
  }
  const int teams = *rc::gen::inRange(1, 9);
  for (int i = 0; i < teams; ++i) {
    // Mostly under a cohort; a root team now and then.
    const bool root = w.cohorts.empty() || *rc::gen::inRange(0, 6) == 0;
    AddNode(w, true, root ? -1 : *rc::gen::elementOf(w.cohorts));
  }
  return w;
}

QuotaRequest GenRequest(const World& w) {
  QuotaRequest request;
  const int items = *rc::gen::inRange(1, 4);
  for (int i = 0; i < items; ++i) {
    request.push_back({*rc::gen::elementOf(w.classes), MilliGpu(*rc::gen::inRange<int64_t>(0, 26) * 100)});
  }
  return request;
}

std::vector<int64_t> Folded(const World& w, const QuotaRequest& request) {
  std::vector<int64_t> per_class(static_cast<std::size_t>(w.model.classes), 0);
  for (const ClassAmount& a : request) per_class[a.gpu_class.value() - 1] += a.amount.value();
  return per_class;
}

// (b): every cached and derived value equals the model's recomputation.
void CheckAgainstModel(const World& w) {
  for (std::size_t n = 0; n < w.ids.size(); ++n) {
    for (std::size_t c = 0; c < w.classes.size(); ++c) {
      const int ni = static_cast<int>(n), ci = static_cast<int>(c);
      const QuotaNodeId id = w.ids[n];
      const ClassId cls = w.classes[c];
      RC_ASSERT(w.tree.SubtreeQuota(id, cls)->value() == w.model.SQ(ni, ci));
      RC_ASSERT(w.tree.LocalQuota(id, cls)->value() == w.model.LQ(ni, ci));
      RC_ASSERT(w.tree.Usage(id, cls)->value() == w.model.U(ni, ci));
      RC_ASSERT(w.tree.Available(id, cls)->value() == w.model.Avail(ni, ci));
      RC_ASSERT(w.tree.PotentialAvailable(id, cls)->value() == w.model.Potential(ni, ci));
      RC_ASSERT(*w.tree.IsBorrowing(id, cls) == (w.model.U(ni, ci) > w.model.SQ(ni, ci)));
    }
  }
}

// (a) and (d) over the whole tree, in plain totals.
void CheckGlobalLimits(const World& w) {
  const Model& m = w.model;
  for (int c = 0; c < m.classes; ++c) {
    for (int n = 0; n < static_cast<int>(m.nodes.size()); ++n) {
      const int root = m.Root(n);
      const int64_t used = m.TotalUsage(n, c);
      if (n == root) RC_ASSERT(used <= m.TotalNominal(n, c));  // (d)
      if (m.N(n).team && !m.Q(n, c)) RC_ASSERT(used == 0);
      if (n != root && m.Borrowing(n, c)) RC_ASSERT(used <= m.TotalNominal(n, c) + *m.Borrowing(n, c));
      if (n != root && m.Lending(n, c)) {
        // What others use, plus what n's subtree takes from outside, fits in the outside nominal
        // plus what n lends.
        const int64_t outside_used = m.TotalUsage(root, c) - used;
        const int64_t taken = std::max<int64_t>(0, used - m.TotalNominal(n, c));
        const int64_t outside_nominal = m.TotalNominal(root, c) - m.TotalNominal(n, c);
        RC_ASSERT(outside_used + taken <= outside_nominal + std::min(*m.Lending(n, c), m.TotalNominal(n, c)));
      }
    }
  }
}

// After a quota cut the tree may be over-admitted; an admission must still not push any node
// whose usage it raised past its limits.
void CheckTouchedLimits(const Model& before, const Model& after) {
  for (int c = 0; c < after.classes; ++c) {
    for (int n = 0; n < static_cast<int>(after.nodes.size()); ++n) {
      if (after.U(n, c) <= before.U(n, c)) continue;
      if (after.N(n).parent < 0) {
        RC_ASSERT(after.U(n, c) <= after.SQ(n, c));
      } else if (after.Borrowing(n, c)) {
        RC_ASSERT(after.U(n, c) <= after.SQ(n, c) + *after.Borrowing(n, c));
      }
    }
  }
}

// (c): the verdict from the model, and Admit agreeing with CheckFit.
void StepAdmit(World& w) {
  const int t = *rc::gen::elementOf(w.teams);
  const QuotaRequest request = GenRequest(w);
  const std::vector<int64_t> want = Folded(w, request);
  const QuotaNodeId id = w.ids[static_cast<std::size_t>(t)];
  bool fits = true, borrows = false;
  for (int c = 0; c < w.model.classes; ++c) {
    const int64_t v = want[static_cast<std::size_t>(c)];
    if (v == 0) continue;
    fits &= w.model.Q(t, c).has_value() && v <= w.model.Avail(t, c);
    borrows |= w.model.N(t).parent >= 0 && w.model.U(t, c) + v > w.model.SQ(t, c);
  }
  Result<FitResult> fit = w.tree.CheckFit(id, request);
  RC_ASSERT(fit.has_value());
  RC_ASSERT((fit->mode != FitMode::kNoFit) == fits);
  if (fits) RC_ASSERT((fit->mode == FitMode::kFitBorrowing) == borrows);
  RC_ASSERT((fit->borrow_level > 0) == (fit->mode == FitMode::kFitBorrowing));
  if (!fits) RC_ASSERT(!fit->reason.empty());

  // The share a fair-sharing tournament would compute for the team's path with the request.
  std::vector<DominantShare> predicted;
  for (int x = t; x >= 0; x = w.model.N(x).parent) {
    predicted.push_back(*w.tree.Share(w.ids[static_cast<std::size_t>(x)], id, request));
  }
  const Model before = w.model;
  Result<FitResult> admitted = w.tree.Admit(id, request);
  RC_ASSERT(admitted.has_value() == fits);
  if (!fits) return;
  for (int c = 0; c < w.model.classes; ++c)
    w.model.nodes[static_cast<std::size_t>(t)].usage[static_cast<std::size_t>(c)] +=
        want[static_cast<std::size_t>(c)];
  CheckTouchedLimits(before, w.model);
  std::size_t i = 0;
  for (int x = t; x >= 0; x = w.model.N(x).parent, ++i) {
    RC_ASSERT(*w.tree.Share(w.ids[static_cast<std::size_t>(x)]) == predicted[i]);
  }
}

void StepRelease(World& w) {
  const int t = *rc::gen::elementOf(w.teams);
  QuotaRequest request;
  bool too_much = false;
  for (int c = 0; c < w.model.classes; ++c) {
    const int64_t used = w.model.N(t).usage[static_cast<std::size_t>(c)];
    const int64_t give = *rc::gen::inRange<int64_t>(0, used / 100 + 2) * 100;  // may exceed usage
    too_much |= give > used;
    request.push_back({w.classes[static_cast<std::size_t>(c)], MilliGpu(give)});
  }
  Result<void> released = w.tree.Release(w.ids[static_cast<std::size_t>(t)], request);
  RC_ASSERT(released.has_value() == !too_much);
  if (too_much) return;
  for (const ClassAmount& a : request) {
    w.model.nodes[static_cast<std::size_t>(t)].usage[a.gpu_class.value() - 1] -= a.amount.value();
  }
}

// A quota change or a team move: afterwards the tree may be over-admitted.
void StepReshape(World& w) {
  if (w.cohorts.empty() || *rc::gen::inRange(0, 3) != 0) {
    const int n = *rc::gen::inRange(0, static_cast<int>(w.ids.size()));
    const int c = *rc::gen::inRange(0, w.model.classes);
    SetQuota(w, n, c, GenQuota(!w.model.N(n).team));
    return;
  }
  const int t = *rc::gen::elementOf(w.teams);
  std::vector<int> targets = w.cohorts;
  targets.push_back(-1);
  const int p = *rc::gen::elementOf(targets);
  const QuotaNodeId parent = p >= 0 ? w.ids[static_cast<std::size_t>(p)] : QuotaNodeId();
  RC_ASSERT(w.tree.SetParent(w.ids[static_cast<std::size_t>(t)], parent).has_value());
  w.model.nodes[static_cast<std::size_t>(t)].parent = p;
}

void CheckShares(const World& w) {
  const Model& m = w.model;
  for (int n = 0; n < static_cast<int>(m.nodes.size()); ++n) {
    const DominantShare s = *w.tree.Share(w.ids[static_cast<std::size_t>(n)]);
    bool borrowing = false;
    int64_t ratio = 0;  // max over classes of ceil(1000 · borrowed / lendable)
    for (int c = 0; c < m.classes && m.N(n).parent >= 0; ++c) {
      const int64_t borrowed = m.U(n, c) - m.SQ(n, c);
      if (borrowed <= 0) continue;
      borrowing = true;
      const int64_t lendable = m.Potential(m.N(n).parent, c);
      if (lendable > 0) ratio = std::max(ratio, (1000 * borrowed + lendable - 1) / lendable);
    }
    RC_ASSERT(s.borrowing == borrowing);
    RC_ASSERT(s.RatioMilli() == ratio);
  }
}

RC_GTEST_PROP(QuotaProperty, RandomSequencesKeepInvariants, ()) {
  World w = GenWorld();
  bool reshaped = false;
  CheckAgainstModel(w);
  const int steps = *rc::gen::inRange(1, 40);
  for (int step = 0; step < steps; ++step) {
    const int kind = *rc::gen::inRange(0, 10);
    if (kind < 5) {
      StepAdmit(w);
    } else if (kind < 8) {
      StepRelease(w);
    } else {
      StepReshape(w);
      reshaped = true;
    }
    CheckAgainstModel(w);
    if (!reshaped) CheckGlobalLimits(w);
  }
  CheckShares(w);
}

// Without reshaping, a long run of admissions (most of them refused once the tree is full)
// never takes a team, a subtree or a root past its limits.
RC_GTEST_PROP(QuotaProperty, AdmitUntilFullNeverOvercommits, ()) {
  World w = GenWorld();
  for (int round = 0; round < 60; ++round) {
    StepAdmit(w);
    CheckGlobalLimits(w);
  }
  CheckAgainstModel(w);
  CheckShares(w);
}

// Admission followed by release of the same request restores every cached value.
RC_GTEST_PROP(QuotaProperty, AdmitThenReleaseRestores, ()) {
  World w = GenWorld();
  for (int i = 0; i < 10; ++i) StepAdmit(w);
  const int t = *rc::gen::elementOf(w.teams);
  const QuotaRequest request = GenRequest(w);
  const QuotaTree before = w.tree;
  if (w.tree.Admit(w.ids[static_cast<std::size_t>(t)], request)) {
    RC_ASSERT(w.tree.Release(w.ids[static_cast<std::size_t>(t)], request).has_value());
  }
  for (std::size_t n = 0; n < w.ids.size(); ++n) {
    for (ClassId c : w.classes) {
      RC_ASSERT(*w.tree.Usage(w.ids[n], c) == *before.Usage(w.ids[n], c));
      RC_ASSERT(*w.tree.Available(w.ids[n], c) == *before.Available(w.ids[n], c));
    }
  }
}

}  // namespace
}  // namespace gpuslice::sched
