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
  int line = 0;                              // 1-based line of the entry in the file, 0 unknown
};

struct MigPartedConfig {
  std::map<std::string, std::vector<MigConfigEntry>, std::less<>> configs;
};

// Parses and validates the document structure: `version` must be "v1"; unknown fields,
// negative or non-integer counts, all-zero mig-devices, mig-devices on a disabled entry, bad
// device lists and malformed PCI ids are errors (kInvalidArgument, message with the line).
// Inputs over 1 MiB or nested deeper than any config needs are refused before parsing.
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
  bool matched = false;      // some entry of the config applies to this GPU
  bool mig_enabled = false;
  Layout placements;         // explicit starts, sorted by (start, profile)
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
// have; kResourceExhausted when the profiles do not fit together.
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
