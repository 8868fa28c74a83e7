// QuotaTree: the team quota tree and Kueue's capacity arithmetic (DESIGN.md §4 "Teams";
// reference/placement-and-quota.md §2.1–2.3, §2.7).
//
// Nodes are cohorts (inner nodes, Kueue Cohorts; they may hold their own nominal quota) and teams
// (leaves, Kueue ClusterQueues). A node without a parent is a root: a flat setup is teams under
// one cohort, and a team without a cohort is a root of its own and can never borrow. Resources are
// GPU classes ("A100-80GB"), interned to dense ClassIds; every amount is integer milli-GPU.
// Per node and class there is a ClassQuota: nominal, optional borrowing limit (how far the
// node's usage may exceed its subtree quota), optional lending limit (how much of its unused
// subtree quota its parent may hand to others).
//
// The arithmetic is Kueue's resource_node.go (§2.2), for node x and class c:
//   localQuota(x)   = max(0, SubtreeQuota(x) − lendingLimit(x)) if set, else 0 (never lent)
//   SubtreeQuota(x) = nominal(x) + Σ_children (SubtreeQuota(child) − localQuota(child))
//   Usage(team)     = what its admitted requests hold
//   Usage(cohort)   = Σ_children max(0, Usage(child) − localQuota(child))  (spill-over)
//   LocalAvailable  = max(0, localQuota(x) − Usage(x))
//   available(root) = SubtreeQuota − Usage;  else available(x) = LocalAvailable(x) +
//       min(available(parent), cap), cap = (SubtreeQuota − localQuota) − max(0, Usage −
//       localQuota) + borrowingLimit when a borrowing limit is set (no cap otherwise)
//   potentialAvailable(root) = SubtreeQuota; else localQuota(x) + potentialAvailable(parent),
//       capped at SubtreeQuota(x) + borrowingLimit(x) when set
// A root's lending and borrowing limits do not affect its available/potentialAvailable (there is
// no parent), as in Kueue; they take effect if the root is later moved under a cohort.
// available may be negative after a quota cut: admitted work is never evicted by a quota change.
//
// Caching: SubtreeQuota and Usage are stored per node and class. Admit/Release/Charge move
// usage incrementally up the path (the spill delta max(0, U'−L) − max(0, U−L) at each level).
// Quota and structure changes (SetQuota, SetParent) recompute SubtreeQuota and Usage of every
// node on the affected root paths from their children, bottom-up: O(depth · fan-out) per
// class, exact, no lazy state. available and potentialAvailable are computed on demand by
// walking to the root (O(depth)).
//
// A team uses, and borrows, only the classes it has a quota entry for (even nominal 0), as a
// Kueue ClusterQueue borrows only flavors it lists; CheckFit answers NoFit for other classes.
// The arithmetic queries (Available, …) report the formulas regardless.
//
// NoFit reasons restate the same arithmetic with this tree's numbers (the team's nominal and
// usage, then each cohort on its path: what it has left, or the borrowing limit that caps the
// draw), so a person can redo the sum; FitResult also carries the numbers as data.
//
// Errors: every call that takes an id, a name or an amount validates it and answers a Result
// error (kNotFound, kInvalidArgument, kAlreadyExists, …); nothing asserts on input. Amounts
// are limited to kMaxQuotaMilliGpu per entry, so sums over millions of nodes stay in int64.
//
// Thread-safety: none. A QuotaTree is a plain value (copyable, e.g. as a per-cycle snapshot);
// callers serialize access. Pure: no I/O, clock or threads.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/ids.h"
#include "common/units.h"

namespace gpuslice::sched {

// Dense ids handed out by one QuotaTree: value() − 1 is the index. Id 0 is "none".
using ClassId = Id<struct GpuClassIdTag>;
using QuotaNodeId = Id<struct QuotaNodeIdTag>;

inline constexpr std::int64_t kMaxQuotaMilliGpu = 1'000'000'000'000;  // 10^9 GPUs per entry
inline constexpr std::int64_t kMaxFairShareWeight = 1'000'000;

struct ClassQuota {
  MilliGpu nominal{0};
  std::optional<MilliGpu> borrowing_limit;  // unset: may borrow whatever the parent can give
  std::optional<MilliGpu> lending_limit;    // unset: all unused quota may be lent
  friend bool operator==(const ClassQuota&, const ClassQuota&) = default;
};

struct ClassAmount {
  ClassId gpu_class;
  MilliGpu amount{0};
};
// Amounts of the same class are added; zero amounts need nothing and are ignored.
using QuotaRequest = std::vector<ClassAmount>;

enum class FitMode {
  kFit,           // within the team's own nominal quota
  kFitBorrowing,  // fits, but only with capacity from the cohort (see borrow_level)
  kNoFit,         // does not fit now; see reason and preemption_can_help
};
std::string_view FitModeName(FitMode mode);

// The verdict for one class of a request (amounts in mGPU, taken before the request).
struct ClassFit {
  ClassId gpu_class;
  FitMode mode = FitMode::kFit;
  MilliGpu request{0};
  MilliGpu available{0};            // available(team)
  MilliGpu potential_available{0};  // potentialAvailable(team)
  MilliGpu nominal{0};              // the team's nominal quota
  MilliGpu usage{0};                // the team's usage
  bool has_quota = true;            // the team has an entry for the class
  int borrow_level = 0;             // height of the lowest subtree that fits (0: own quota)
};

struct FitResult {
  FitMode mode = FitMode::kFit;
  int borrow_level = 0;  // max over classes; > 0 exactly when mode is kFitBorrowing
  // kNoFit only: every class is ≤ potentialAvailable, so evicting enough work somewhere in the
  // tree would make room (whether policy allows that is the preemption code's business).
  bool preemption_can_help = false;
  // kNoFit only: every short class is ≤ the team's nominal: the team would not borrow after
  // preempting its own work and reclaiming what it lent (Kueue's "val ≤ nominal").
  bool within_nominal = false;
  std::string reason;  // kNoFit only: one sentence per short class, with the numbers
  std::vector<ClassFit> classes;
};

// Dominant resource share of a node (§2.7), kept as an exact fraction:
//   borrowed_c = max(0, Usage_c (+ request) − SubtreeQuota_c), lendable_c = potentialAvailable
//   (parent, c), DRS = max_c 1000 · borrowed_c / lendable_c (classes with lendable 0 skipped; ties
//   to the smaller class name), weighted share = DRS / weight, +∞ when weight 0 and borrowing.
// A root's share is 0. Lower shares are admitted first, higher ones preempted first. Each GPU
// class is its own resource here (Kueue would sum flavors of one resource name; mGPU of
// different classes are not interchangeable, so they are not summed).
struct DominantShare {
  bool borrowing = false;  // usage exceeds subtree quota on some class
  ClassId dominant;        // class giving the maximum ratio; none when the ratio is 0
  MilliGpu borrowed{0};    // on the dominant class
  MilliGpu lendable{0};    // on the dominant class
  std::int64_t weight = 1;

  bool infinite() const { return weight == 0 && borrowing; }
  // ceil(1000 · borrowed / lendable): Kueue's unweighted ratio, rounded up.
  std::int64_t RatioMilli() const;
  // ceil(RatioMilli-exact / weight), Kueue's status weightedShare; INT64_MAX when infinite().
  std::int64_t WeightedShare() const;
  // The weighted share as a double (+inf when infinite()); for sort keys only.
  double SortKey() const;
  // Exact order by weighted share; two infinite shares are ordered by their unweighted ratio.
  friend std::weak_ordering operator<=>(const DominantShare& a, const DominantShare& b);
  friend bool operator==(const DominantShare& a, const DominantShare& b) { return (a <=> b) == 0; }
};

// A declarative node, as a config file would list it; see QuotaTree::Build.
struct QuotaNodeSpec {
  std::string name;
  bool team = true;
  std::string parent;  // a cohort's name; empty: a root
  std::int64_t weight = 1;
  std::map<std::string, ClassQuota> quotas;  // by class name
};

class QuotaTree {
 public:
  // Builds a tree from specs in any order (parents may come after children). Errors:
  // kAlreadyExists for a duplicate name, kNotFound for an unknown parent, kInvalidArgument for
  // a team used as a parent, a cycle of cohorts (named in the message) or a bad amount/weight.
  static Result<QuotaTree> Build(std::span<const QuotaNodeSpec> specs);

  // --- Setup -------------------------------------------------------------------------------
  // Interns a GPU class; returns the existing id when the name is known. kInvalidArgument for
  // an empty name.
  Result<ClassId> AddClass(std::string_view name);
  Result<ClassId> FindClass(std::string_view name) const;  // kNotFound
  // New node under `parent` (a cohort; none = root). Names are unique across teams and cohorts.
  // Errors: kInvalidArgument (empty name, parent is a team), kAlreadyExists, kNotFound.
  Result<QuotaNodeId> AddCohort(std::string_view name, QuotaNodeId parent = {});
  Result<QuotaNodeId> AddTeam(std::string_view name, QuotaNodeId cohort = {});
  Result<QuotaNodeId> Find(std::string_view name) const;  // kNotFound
  // Moves a node (with its usage) under another cohort, or makes it a root. Errors: kNotFound,
  // kInvalidArgument when the parent is a team or the move would make a cycle.
  Result<void> SetParent(QuotaNodeId node, QuotaNodeId parent);
  // Sets (creates) the node's entry for a class. kInvalidArgument for a negative or too large
  // amount. Existing usage stays: available may turn negative.
  Result<void> SetQuota(QuotaNodeId node, ClassId gpu_class, const ClassQuota& quota);
  Result<void> SetWeight(QuotaNodeId node, std::int64_t weight);  // 0 ≤ weight ≤ max

  // --- Structure ---------------------------------------------------------------------------
  int class_count() const { return static_cast<int>(class_names_.size()); }
  int node_count() const { return static_cast<int>(nodes_.size()); }
  // These take ids from this tree; an invalid id gives "" / false / {}.
  std::string_view class_name(ClassId gpu_class) const;
  std::string_view name(QuotaNodeId node) const;
  bool is_team(QuotaNodeId node) const;
  QuotaNodeId parent(QuotaNodeId node) const;
  std::vector<QuotaNodeId> children(QuotaNodeId node) const;
  std::int64_t weight(QuotaNodeId node) const;
  // The node's own entry; nullopt when it has none for the class.
  std::optional<ClassQuota> quota(QuotaNodeId node, ClassId gpu_class) const;

  // --- Arithmetic (§2.2); kNotFound for an unknown node or class -----------------------------
  Result<MilliGpu> SubtreeQuota(QuotaNodeId node, ClassId gpu_class) const;
  Result<MilliGpu> LocalQuota(QuotaNodeId node, ClassId gpu_class) const;
  Result<MilliGpu> Usage(QuotaNodeId node, ClassId gpu_class) const;
  Result<MilliGpu> LocalAvailable(QuotaNodeId node, ClassId gpu_class) const;
  Result<MilliGpu> Available(QuotaNodeId node, ClassId gpu_class) const;
  Result<MilliGpu> PotentialAvailable(QuotaNodeId node, ClassId gpu_class) const;
  // Usage > SubtreeQuota (for a team: its nominal).
  Result<bool> IsBorrowing(QuotaNodeId node, ClassId gpu_class) const;

  // --- Admission -------------------------------------------------------------------------------
  // Kueue's fitsResourceQuota per class (§2.3): request > potentialAvailable → NoFit;
  // request ≤ available → Fit or FitBorrowing; otherwise NoFit. Errors: kNotFound (unknown team
  // or class), kInvalidArgument (a cohort, a negative or too large amount).
  Result<FitResult> CheckFit(QuotaNodeId team, const QuotaRequest& request) const;
  // Adds the request to the team's usage when CheckFit says it fits. kResourceExhausted with
  // the fit reason when it does not; then nothing changes.
  Result<FitResult> Admit(QuotaNodeId team, const QuotaRequest& request);
  // Returns usage. kFailedPrecondition (nothing changes) when it exceeds the team's usage.
  Result<void> Release(QuotaNodeId team, const QuotaRequest& request);
  // Adds usage without a fit check: re-charging work admitted earlier (after a restart, or
  // across a quota cut). May leave available negative.
  Result<void> Charge(QuotaNodeId team, const QuotaRequest& request);

  // --- Fair sharing (§2.7) -----------------------------------------------------------------
  // The node's dominant share; with `team` set (the node itself or a team below it), as if
  // `request` were admitted to that team first. kInvalidArgument when team is not below node.
  Result<DominantShare> Share(QuotaNodeId node, QuotaNodeId team = {},
                              const QuotaRequest& request = {}) const;

 private:
  struct Entry {
    bool defined = false;
    ClassQuota quota;
  };
  struct Node {
    std::string name;
    bool team = true;
    int parent = -1;
    std::vector<int> children;
    std::int64_t weight = 1;
    std::vector<Entry> entries;               // per class
    std::vector<std::int64_t> subtree_quota;  // per class, cached
    std::vector<std::int64_t> usage;          // per class; cached for cohorts

    const Entry& entry(int c) const { return entries[static_cast<std::size_t>(c)]; }
    std::int64_t sq(int c) const { return subtree_quota[static_cast<std::size_t>(c)]; }
    std::int64_t u(int c) const { return usage[static_cast<std::size_t>(c)]; }
  };
  // A request folded per class index (zero amounts dropped), in first-appearance order.
  using Folded = std::vector<std::pair<int, std::int64_t>>;

  Node& At(int n) { return nodes_[static_cast<std::size_t>(n)]; }
  const Node& At(int n) const { return nodes_[static_cast<std::size_t>(n)]; }
  const std::string& ClassName(int c) const { return class_names_[static_cast<std::size_t>(c)]; }
  Result<int> NodeIndex(QuotaNodeId node) const;
  Result<int> ClassIndex(ClassId gpu_class) const;
  Result<int> TeamIndex(QuotaNodeId team) const;
  Result<std::pair<int, int>> Resolve(QuotaNodeId node, ClassId gpu_class) const;
  Result<Folded> Fold(const QuotaRequest& request) const;
  Result<QuotaNodeId> AddNode(std::string_view name, bool team, QuotaNodeId parent);

  // Unchecked arithmetic on indices.
  std::int64_t LocalQuotaAt(int n, int c) const;
  std::int64_t LocalAvailableAt(int n, int c) const;
  std::int64_t BorrowCapAt(int n, int c) const;  // the cap of available(); needs a limit
  std::int64_t AvailableAt(int n, int c) const;
  std::int64_t PotentialAt(int n, int c) const;
  int Height(int n) const;
  int BorrowLevel(int team, int c, std::int64_t val) const;
  void AddUsageAt(int n, int c, std::int64_t delta);
  void RecomputeNode(int n);
  void RecomputePath(int n);
  ClassFit FitClass(int team, int c, std::int64_t val) const;
  std::string ExplainNoFit(int team, const ClassFit& fit) const;
  std::string ExplainShort(int team, int c, std::int64_t val) const;
  std::string ExplainBeyondPotential(int team, int c, std::int64_t val) const;
  DominantShare ShareAt(int n, int team, const Folded& request) const;
  std::int64_t UsageWith(int n, int c, int team, std::int64_t val) const;

  std::vector<std::string> class_names_;
  std::map<std::string, int, std::less<>> class_index_;
  std::vector<Node> nodes_;
  std::map<std::string, int, std::less<>> node_index_;
};

}  // namespace gpuslice::sched
