// ClusterSpec: the simulator's cluster file — which nodes and GPUs exist, in which mode, and the
// teams with their quotas (DESIGN.md §4 "GPU modes", "Teams", "Units"; §7).
//
// The file is YAML with two top-level fields, `nodes` (required) and `teams` (optional):
//
//   nodes:
//     - {count: 776, gpus: 8, model: A100-SXM4-80GB}          # mode: dynamic (MIG default)
//     - {count: 4, gpus: 8, model: H100-80GB, mode: whole}
//     - {count: 2, gpus: 8, model: A100-40GB,
//        mode: "static:../mig-parted/gpu-operator-catalogue.yaml:all-balanced"}
//     - {name: gpu-a, count: 1, gpus: 4, model: A30}            # nodes gpu-a-1 ...
//   teams:
//     - {name: nlp, quota_mgpu: 200000, borrowing_limit_mgpu: 100000, cohort: research}
//     - {name: vision, quota_mgpu: {A100-80GB: 100000, H100-80GB: 20000}, cohort: research,
//        lending_limit_mgpu: 0, weight: 2}
//
// Node groups:
//  * `count` nodes (1..100000) of `gpus` GPUs each (1..16) of one `model`, resolved through the
//    built-in catalog (any model name, SKU name or alias; unknown names get the closest ones).
//  * `mode`: `dynamic` (slices cut on demand), `whole` (MIG off, one job per GPU), `cordoned`,
//    `draining`, or `static:FILE:CONFIG` (the mig-parted config CONFIG of FILE, split at the
//    last ':'; a relative FILE is resolved against the cluster file's directory). A MIG model
//    defaults to `dynamic`. A model without MIG defaults to `whole` and refuses `dynamic` and
//    `static:` (cordoned and draining are about scheduling, not partitioning, so they are
//    allowed). A static config is parsed and planned for the group's GPUs at load time; every
//    GPU of the node must get a definite state from it (an unmatched GPU is an error).
//  * `name`: prefix of the node names (default `node`; letters, digits, '-', '_', '.', starting
//    with a letter or digit, at most 48 characters). Nodes are named `<prefix>-<n>`, n counting
//    from 1 across all groups with that prefix in file order, zero-padded to the width of that
//    prefix's node count (777 nodes: node-001 … node-777). Names are unique by construction.
//  * At most 1,000,000 GPUs in all.
//
// Teams (a team is a Kueue ClusterQueue; amounts are milli-GPU, 1000 = one whole GPU):
//  * `name`: unique; `cohort`: optional name of the cohort whose members share idle quota
//    (names as for node prefixes; a cohort may not share a name with a team).
//  * `quota_mgpu`: the nominal quota, required. A number applies to every GPU class (catalog
//    model) in the cluster; a map `{MODEL: mGPU, ...}` gives it per class, and the team then
//    has quota (and may borrow) only for the classes it lists. Map keys resolve through the
//    catalog, must name models the cluster has, and two keys may not resolve to one class.
//  * `borrowing_limit_mgpu`, `lending_limit_mgpu`: optional, a number (every class of the team)
//    or a map over classes the team has quota for; absent means no limit. Both need a cohort,
//    and a lending limit may not exceed the nominal quota (Kueue's validation rules).
//  * `weight`: fair-share weight, an integer 0..1000000, default 1.
//  Amounts are integers 0..10^12 (sched::kMaxQuotaMilliGpu).
//
// Integers are plain decimal YAML scalars ("8", not "'8'" or "0x8"). Unknown fields, duplicate
// keys, wrong types, out-of-range numbers, duplicate names, unknown models and bad modes are
// errors that name the entry (counting from 1) and the YAML line: "node group 3 (line 5): ...",
// "team 2 'vision' (line 9): ...". kNotFound for unknown models, classes or mig-parted configs
// and missing files, kInvalidArgument for everything else malformed (PlanConfig's own codes
// pass through for a static layout that does not fit). Nothing partial is returned on error.
// The text is checked by mig/yaml_guard.h before yaml-cpp sees it (1 MiB, nesting depth).
//
// The spec is plain data, independent of the scheduler: the simulator builds its cluster
// (ExpandNodes) and its QuotaTree (teams) from it.
// Thread-safety: plain functions over values. The GpuModel pointers point into
// mig::Catalog::BuiltIn(), which lives for the whole program.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/units.h"
#include "mig/catalog.h"
#include "mig/mig_parted.h"

namespace gpuslice::sim {

inline constexpr int kMaxNodesPerGroup = 100'000;
inline constexpr int kMaxGpusPerNode = 16;
inline constexpr std::int64_t kMaxClusterGpus = 1'000'000;
inline constexpr std::int64_t kMaxTeamMilliGpu = 1'000'000'000'000;  // as sched::kMaxQuotaMilliGpu
inline constexpr std::int64_t kMaxTeamWeight = 1'000'000;

enum class GpuMode { kDynamic, kWhole, kCordoned, kDraining, kStatic };
// "dynamic", "whole", "cordoned", "draining", "static".
std::string_view GpuModeName(GpuMode mode);

// A static layout: mig-parted config `config` of `file`, planned for GPUs 0..gpus-1 of a node.
struct StaticLayout {
  std::string file;                 // as written in the cluster file
  std::string path;                 // resolved against the cluster file's directory
  std::string config;               // config name
  std::vector<mig::GpuPlan> plans;  // one per GPU of a node, index 0..gpus-1, all matched
};

struct NodeGroupSpec {
  std::string name_prefix = "node";
  int count = 0;  // nodes
  int gpus = 0;   // per node
  const mig::GpuModel* model = nullptr;
  const mig::Sku* sku = nullptr;  // when the name picked one SKU of the model ("A100-SXM4-80GB")
  GpuMode mode = GpuMode::kDynamic;
  std::optional<StaticLayout> layout;  // set iff mode == kStatic
  int line = 0;                        // 1-based line of the entry in the file, 0 unknown
};

// A team's quota for one GPU class (catalog model), in milli-GPU.
struct ClassQuotaSpec {
  const mig::GpuModel* gpu_class = nullptr;
  MilliGpu nominal{0};
  std::optional<MilliGpu> borrowing_limit;  // nullopt: no limit
  std::optional<MilliGpu> lending_limit;    // nullopt: no limit
};

struct TeamSpec {
  std::string name;
  std::string cohort;                  // empty: none (the team never borrows or lends)
  std::vector<ClassQuotaSpec> quotas;  // in the order of ClusterSpec::GpuClasses()
  std::int64_t weight = 1;
  int line = 0;
};

struct ClusterSpec {
  std::vector<NodeGroupSpec> groups;  // in file order
  std::vector<TeamSpec> teams;        // in file order

  // The GPU models of the cluster, each once, in order of first appearance.
  std::vector<const mig::GpuModel*> GpuClasses() const;
};

// One node of the expanded cluster. Static plans stay in the group (`group` indexes groups).
struct NodeSpec {
  std::string name;
  const mig::GpuModel* model = nullptr;
  const mig::Sku* sku = nullptr;
  GpuMode mode = GpuMode::kDynamic;
  int gpus = 0;
  int group = 0;
};

// Every node, group by group in file order, named as described above.
std::vector<NodeSpec> ExpandNodes(const ClusterSpec& spec);

struct ModelTotals {
  const mig::GpuModel* model = nullptr;
  std::int64_t nodes = 0;
  std::int64_t gpus = 0;
};

struct ClusterTotals {
  std::int64_t nodes = 0;
  std::int64_t gpus = 0;
  std::vector<ModelTotals> per_model;  // in the order of GpuClasses()
};
ClusterTotals Totals(const ClusterSpec& spec);

// Reads a file the cluster file refers to (a static layout's mig-parted file). Errors as the
// reader sees fit; they are reported with the node group that named the file.
using ReadFileFn = std::function<Result<std::string>(const std::string& path)>;

// Parses a cluster file. `base_dir` resolves relative static-layout paths (empty: as written);
// `read_file` is the only I/O, called at most once per distinct path.
Result<ClusterSpec> ParseClusterSpec(std::string_view yaml, const std::string& base_dir,
                                     const ReadFileFn& read_file);

// Reads `path` (at most 1 MiB) and parses it with base_dir = its directory, reading static
// layouts from disk. Errors start with the path.
Result<ClusterSpec> ReadClusterSpecFile(const std::string& path);

}  // namespace gpuslice::sim
