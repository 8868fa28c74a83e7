// The Alibaba GPU cluster trace v2023 ("openb", Weng et al., ATC '23) and its mapping onto MIG.
//
// The trace (../shared/alibaba-gpu-v2023/csv) holds pod lists and node lists as CSV written by
// pandas: no quoting, ',' separators, '\n' line ends. Pod lists come in two layouts, told apart by
// the header, which must be exactly one of
//   name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time
//   name,cpu_milli,memory_mib,num_gpu,gpu_milli                      (the multigpu* variants)
// Node lists have the header `sn,cpu_milli,memory_mib,gpu,model`.
//
// The parsers are pure functions of the text; the *File helpers read a file first. Every error is
// kInvalidArgument (kNotFound / kPermissionDenied for a file that cannot be opened) and says
// where: "line 5, column 5 (gpu_milli): 1001 is out of range 0..1000"; the file helpers prefix
// the path. CRLF line ends, a UTF-8 byte-order mark and a missing final newline are accepted;
// blank lines, quoted fields and stray whitespace are not (pandas writes none of them).
//
// MapPod (below) is the one documented rule that turns a pod's GPU request into MIG slices.
//
// Thread-safety: plain values and pure functions; safe to use from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "mig/layout.h"

namespace gpuslice::sim {

// Ranges a row must respect; the trace's own values are far inside them.
inline constexpr int kMaxPodGpus = 8;                                 // README: num_gpu is 0..8
inline constexpr int kMilliPerGpu = 1000;                             // gpu_milli is 0..1000
inline constexpr std::int64_t kMaxCpuMilli = 100'000'000;             // 100k cores
inline constexpr std::int64_t kMaxMemoryMib = std::int64_t{1} << 32;  // 4 PiB
inline constexpr int kMaxNodeGpus = 64;                               // gpus on one node
inline constexpr std::int64_t kMaxTimeSeconds = 1'000'000'000'000;    // ~31,700 years

// One row of a pod list. Times are seconds from the start of the trace.
struct TracePod {
  std::string name;  // "openb-pod-0017"
  std::int64_t cpu_milli = 0;
  std::int64_t memory_mib = 0;
  int num_gpu = 0;    // 0..8 GPUs
  int gpu_milli = 0;  // 0..1000: the share of each GPU; < 1000 only for GPU-sharing pods
  // Allowed GPU types ("V100M16", "G2"), from gpu_spec split on '|' with repeats dropped (the
  // trace has "V100M16|V100M32|V100M32"); empty when the field is blank or "nan" (any type).
  std::vector<std::string> gpu_spec;
  std::string qos;    // "LS", "BE", "Burstable", "Guaranteed"; empty in the 5-column layout
  std::string phase;  // "Running", "Succeeded", "Failed", "Pending"; empty in the 5-column layout
  // Empty fields and the 5-column layout give nullopt; Pending pods have no scheduled_time.
  std::optional<std::int64_t> creation_time;
  std::optional<std::int64_t> deletion_time;   // >= creation_time when both are present
  std::optional<std::int64_t> scheduled_time;  // may be 0 for pods created at time 0

  friend bool operator==(const TracePod&, const TracePod&) = default;
};

// One row of a node list.
struct TraceNode {
  std::string name;  // the "sn" column: "openb-node-0227"
  std::int64_t cpu_milli = 0;
  std::int64_t memory_mib = 0;
  int gpus = 0;       // 0..64
  std::string model;  // "V100M32", "G2" (undisclosed type); empty (blank or "nan") iff gpus == 0

  friend bool operator==(const TraceNode&, const TraceNode&) = default;
};

enum class PodLayout {
  kFull,      // 11 columns, with gpu_spec, qos, phase and times
  kMultiGpu,  // 5 columns: name,cpu_milli,memory_mib,num_gpu,gpu_milli
};

// The layout the header line of `csv` names. Errors name the unknown and missing columns, or say
// that the known columns are out of order.
Result<PodLayout> DetectPodLayout(std::string_view csv);

// Parses a pod list of either layout. Errors: an empty text, a header that is neither layout, a
// row with the wrong number of fields, a value that is not an integer or out of range, blank
// lines, quotes. At least the header line is needed; a header alone gives no pods.
Result<std::vector<TracePod>> ParseAlibabaPods(std::string_view csv);

// Parses a node list (`sn,cpu_milli,memory_mib,gpu,model`), with the same rules.
Result<std::vector<TraceNode>> ParseAlibabaNodes(std::string_view csv);

// Reads and parses a file; errors start with the path.
Result<std::vector<TracePod>> ReadAlibabaPodsFile(const std::string& path);
Result<std::vector<TraceNode>> ReadAlibabaNodesFile(const std::string& path);

// ---------------------------------------------------------------------------------------------
// Mapping a pod onto MIG.
//
// The trace's GPUs are whole GPUs shared by time or memory slicing (gpu_milli = the fraction of
// one GPU a sharing pod asked for). On a MIG GPU of model M (C compute slices, whole-GPU profile
// F = M.FullProfile() with memory F.mem) a pod becomes:
//   * num_gpu == 0                     -> kNone: no GPU (gpu_milli is ignored; it is 0 in the trace)
//   * gpu_milli == 1000                -> kGang of num_gpu instances of F (num_gpu == 1 included:
//                                         a gang of one whole GPU)
//   * num_gpu >= 1, gpu_milli < 1000   -> one instance (kSlice when num_gpu == 1, else a kGang of
//                                         num_gpu such instances, gpu_milli being the share of
//                                         each GPU; the trace has no such multi-GPU pods) of the
//                                         profile Geometry::ResolveSize picks for
//       kByCompute: at least ceil(gpu_milli * C / 1000) compute slices (at least 1)
//       kByMemory:  at least ceil(gpu_milli * F.mem / 1000) MiB of instance memory
// ResolveSize picks the cheapest such profile (milli-GPU cost, then units), default-media first.
//
// Worked examples (A100-40GB: C = 7, 7g.40gb has 39.25 GiB = 40192 MiB):
//   gpu_milli 220, kByCompute: ceil(220 * 7 / 1000) = ceil(1.54) = 2 slices  -> 2g.10gb
//   gpu_milli 220, kByMemory:  ceil(220 * 40192 / 1000) = 8843 MiB (8.6 GiB)  -> 1g.10gb (9.62 GiB)
//   gpu_milli 500, kByCompute: ceil(3.5) = 4 slices                          -> 4g.20gb
//   num_gpu 8, gpu_milli 1000                                                -> kGang of 8 x 7g.40gb
// Memory mode ignores compute and compute mode ignores memory: the trace gives one number.
enum class MapMode { kByCompute, kByMemory };

struct PodDemand {
  enum class Kind { kNone, kSlice, kGang };
  Kind kind = Kind::kNone;
  int profile = -1;   // index into the geometry's model profiles; -1 for kNone
  int gang_size = 0;  // instances of `profile`: 0 for kNone, 1 for kSlice, num_gpu for kGang

  friend bool operator==(const PodDemand&, const PodDemand&) = default;
};

// The rule above. Errors: kInvalidArgument for a pod outside the parser's ranges; kUnimplemented
// when the model has no whole-GPU profile or (kByMemory) its memory is unknown.
Result<PodDemand> MapPod(const TracePod& pod, const mig::Geometry& geometry, MapMode mode);

// ---------------------------------------------------------------------------------------------
// Summaries for tests and reports.

// Facts of a pod list that do not depend on a GPU model.
struct PodListSummary {
  std::int64_t pods = 0;
  std::int64_t cpu_only = 0;                               // num_gpu == 0
  std::int64_t sharing = 0;                                // num_gpu >= 1 and gpu_milli < 1000
  std::int64_t whole = 0;                                  // num_gpu >= 1 and gpu_milli == 1000
  std::array<std::int64_t, kMaxPodGpus + 1> by_num_gpu{};  // pods per num_gpu
  std::int64_t with_gpu_spec = 0;                          // pods constrained to some GPU types
  std::int64_t gpu_milli_total = 0;                        // sum of num_gpu * gpu_milli
};
PodListSummary SummarizePods(std::span<const TracePod> pods);

// Where a pod list lands on one MIG model under one mode.
struct MappingSummary {
  std::int64_t pods = 0;
  std::int64_t none = 0;                                      // kNone pods
  std::vector<std::int64_t> slice_pods;                       // kSlice pods per profile index
  std::vector<std::int64_t> instances;                        // instances per profile index, gangs included
  std::array<std::int64_t, kMaxPodGpus + 1> gangs_by_size{};  // kGang pods per gang size
  std::int64_t cost_milli_total = 0;                          // sum of instance costs (DESIGN.md §4)
};
// Errors: the first MapPod error, prefixed with the pod's name.
Result<MappingSummary> SummarizeMapping(std::span<const TracePod> pods, const mig::Geometry& geometry,
                                        MapMode mode);

// "2g.10gb 1234, 3g.20gb 56, ..." over the profiles with instances, in profile order; for reports.
std::string DescribeInstances(const MappingSummary& summary, const mig::Geometry& geometry);

}  // namespace gpuslice::sim
