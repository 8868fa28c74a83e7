// NVIDIA mig-parted `version: v1` configs: parse, validate, and expand to concrete placements.
//
// gpuslice reads mig-parted's schema unchanged so existing catalogues (the GPU Operator's
// `all-balanced` / `all-<profile>`, HyperPod's `mixed-…`) work as they are (DESIGN.md §3):
//
//   version: v1
//   mig-configs:
//     <name>:
//       - device-filter: "0x20B010DE" | ["0x20B010DE", ...]   # optional
//         devices: all | [0, 1, ...]                           # required
//         mig-enabled: true | false                            # required
//         mig-devices: {"1g.5gb": 7, ...}                      # required iff enabled
//
// Unlike mig-parted, which tries creation orders until the driver accepts one, expansion here
// yields explicit starts, so applying a plan never depends on creation order.
//
// Where gpuslice and mig-parted (NVIDIA/mig-parted: api/spec/v1/spec.go, helpers.go,
// pkg/types/device.go, cmd/nvidia-mig-parted/{apply,assert}/, pkg/mig/config/config.go) meet:
//  * Several entries applying to one GPU: mig-parted walks entries in file order and applies each
//    to every GPU it matches, clearing the GPU each time, so when they agree on mig-enabled the
//    last entry's layout stays (its `assert` also keeps the last entry's verdict). Here too: the
//    last applying entry wins, and every applying entry must still fit (mig-parted would fail on
//    an earlier one). Entries that disagree on mig-enabled make mig-parted's apply fail ("MIG
//    mode is currently enabled, but the configuration specifies it should be disabled"); here
//    they are an error naming both entries.
//  * GPUs without MIG: like mig-parted, an entry with `devices: all` passes over them (the GPU is
//    unmatched unless another entry names it), a disabled entry naming one is fine, and an
//    enabled entry naming one by index is an error (kFailedPrecondition).
//  * device-filter: "0x" + 8 hex digits, any case. mig-parted v0.15's ":0xSSSSVVVV" subsystem
//    qualifier is refused with an error that says so: a GPU here carries no subsystem id, and
//    ignoring the qualifier would widen the filter to GPUs mig-parted leaves alone.
//  * "Nc." prefixes ("1c.3g.20gb"): each count is one GPU instance holding one N-slice compute
//    instance (N one of NVML's CI sizes 1,2,3,4,6,7,8 and at most the GI's slices). mig-parted
//    instead packs consecutive compute instances of one GI profile into a shared GI while they
//    fit, so "1c.3g.20gb: 3" is one 3g GI there and three (over the maximum of 2) here.
//  * Booleans are YAML 1.1's (true/false/yes/no/on/off/y/n, as go-yaml v2 reads them); counts and
//    GPU indices are unquoted decimal integers (mig-parted's JSON step refuses "7"); counts of 0
//    are allowed beside non-zero ones and ignored; `mig-devices: {}` on an enabled entry means
//    MIG mode with no instances (GPU Operator's `all-enabled`). Duplicate keys are refused.
//
// The input is untrusted: every problem is a precise error (with the YAML line where known),
// never a crash; nothing partial is returned on error.
// Thread-safety: plain functions over values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "mig/catalog.h"
#include "mig/layout.h"

namespace gpuslice::mig {

// One "profile: count" line of mig-devices, in file order. `profile` is as written; it may
// carry a compute-instance prefix ("1c.3g.20gb") and media attributes ("1g.5gb+me").
struct MigDeviceCount {
  std::string profile;
  int count = 0;
};

struct MigConfigEntry {
  std::vector<std::uint32_t> device_filter;  // empty: every device type
  std::optional<std::vector<int>> devices;   // nullopt: "all"
  bool mig_enabled = false;
  std::vector<MigDeviceCount> mig_devices;
  int line = 0;  // 1-based line of the entry in the file, 0 unknown
};

struct MigPartedConfig {
  std::map<std::string, std::vector<MigConfigEntry>, std::less<>> configs;
};

// Parses and validates the document structure: `version` must be "v1"; unknown fields,
// negative or non-integer counts, all-zero mig-devices, mig-devices on a disabled entry, bad
// device lists and malformed PCI ids are errors (kInvalidArgument). Messages say where:
// "config 'x', entry 2 (line 9): line 12: count for '1g.5gb' must be ..." (entries count from 1).
// Refused before yaml-cpp sees the text: over 1 MiB, brackets nested over 32 deep, lines
// nested over 40 columns (yaml-cpp recurses per level). Alias expansion is bounded, counts are
// at most 64 and GPU indices at most 1023. Profile names are checked for mig-parted's syntax
// here and against a model only by PlanConfig.
Result<MigPartedConfig> ParseMigPartedConfig(std::string_view yaml);

// A GPU of a node, as the plan sees it: its index on the node and what it is.
struct PlanGpu {
  int index = 0;
  ResolvedGpu gpu;
};

// What one GPU gets from a config.
struct GpuPlan {
  int index = 0;
  ResolvedGpu gpu;
  bool matched = false;  // some entry of the config applies to this GPU
  bool mig_enabled = false;
  Layout placements;  // explicit starts, sorted by (start, profile)
  // Per placement, the compute-instance size requested with an "Nc." prefix (0: whole GI).
  std::vector<int> compute_instance_slices;
};

// Expands config `name` for the given GPUs. For each GPU, the entries whose `devices` include its
// index and whose `device-filter` (if any) matches its PCI id apply; a GPU no entry applies to is
// returned with matched = false and left as it is (mig-parted's behaviour). Errors name the
// config, the GPU index and model, and what does not fit, e.g.
//   config 'all-1g.10gb', GPU 0 (A100-40GB): 7 x 1g.10gb exceeds the profile's maximum of 4
//   (on this model 1g.10gb is the double-memory 1-slice profile)
// kNotFound for an unknown config name (listing the known ones) or a profile the model does not
// have; kResourceExhausted when the profiles do not fit together; kInvalidArgument for entries
// that disagree on mig-enabled or a bad GPU list (duplicate index, no model). When the config
// has several entries, the failing one is named after the GPU: "config 'x', GPU 2 (A100-40GB):
// entry 3 (line 14): ...". Plans come back in the order of `gpus`.
Result<std::vector<GpuPlan>> PlanConfig(const MigPartedConfig& config, std::string_view name,
                                        std::span<const PlanGpu> gpus);

// A placement as written on a command line: "3g.20gb@4", "1g.5gb" (start chosen by the engine),
// "1g.5gb+me@6". Errors (kInvalidArgument) for empty names, bad or negative starts, junk.
struct PlacementSpec {
  std::string profile;
  std::optional<int> start;
};
Result<PlacementSpec> ParsePlacementSpec(std::string_view text);

// Resolves specs against a model: explicit starts are kept (and checked), missing ones are
// chosen by Geometry::Arrange. Returns the layout sorted by (start, profile). Errors as
// Geometry::Validate / Arrange, or kNotFound for a profile name the model does not have.
Result<Layout> ResolvePlacementSpecs(const Geometry& geometry, std::span<const PlacementSpec> specs);

}  // namespace gpuslice::mig
