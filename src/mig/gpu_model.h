// GpuModel and Profile: what one kind of NVIDIA GPU looks like to MIG (DESIGN.md §3).
//
// A MIG-capable GPU model has a placement grid of `memory_units` units (4 on A30, 8 on
// A100/H100/H200/B200, 12 on RTX PRO 6000), `compute_slices` compute slices (4 or 7), and a set
// of GPU-instance profiles. A profile occupies `size_units` contiguous units starting at one of
// its allowed start units. Every number here comes from reference/mig-facts.md; numbers the
// reference marks UNCONFIRMED are std::nullopt ("unknown"), never guessed.
//
// Placements (allowed starts) are the one exception that is filled in where the reference only
// says "expected identical to H100": scheduling needs them. Such models carry
// `placements == Provenance::kInferred` and the CLI shows it; on real hardware the agent reads
// the geometry from NVML and that wins.
//
// Models live in the built-in Catalog (catalog.h) and are immutable; hand out `const GpuModel&`.
// Thread-safety: immutable after construction; safe to share.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/units.h"

namespace gpuslice::mig {

// Largest placement grid of any model (RTX PRO 6000: 12 units). Occupancy masks fit in 16 bits.
inline constexpr int kMaxMemoryUnits = 16;
// Most profiles any model has (RTX PRO 6000: 11).
inline constexpr int kMaxProfiles = 16;

// MIG exists from Ampere on; the older ones appear only for GPUs without MIG.
enum class Architecture { kVolta, kTuring, kAmpere, kAda, kHopper, kBlackwell };
std::string_view ArchitectureName(Architecture arch);

// How a profile uses the GPU's media engines (NVDEC, NVENC, NVJPG, OFA); the suffix of its name.
enum class MediaAttr {
  kDefault,  // no suffix: the profile's default share of media engines
  kMe,       // "+me": at least one media engine; at most one +me/+me.all instance per GPU
  kMeAll,    // "+me.all": all media engines; every other instance must then be "-me"
  kNoMe,     // "-me": no media engines
};

// Where a fact came from. kCaptured: printed by nvidia-smi/NVML for this model (or the MIG user
// guide's table for it). kInferred: derived from a sibling model with the same ids, fractions
// and counts, as the reference says to expect; not seen on this model's hardware.
enum class Provenance { kCaptured, kInferred };
std::string_view ProvenanceName(Provenance p);

struct MediaEngines {
  int decoders = 0;  // NVDEC
  int encoders = 0;  // NVENC
  int jpeg = 0;      // NVJPG
  int ofa = 0;       // optical flow accelerators
};

struct Profile {
  std::string name;         // "1g.10gb", "1g.5gb+me", "2g.48gb-me", "1g.24gb+gfx"
  int compute_slices = 0;   // the "g" of the name
  int size_units = 0;       // placement units occupied (the ":size" of -lgipp)
  int max_count = 0;        // max instances of this profile on one GPU
  std::vector<int> starts;  // allowed start units, ascending (the "{...}" of -lgipp)
  MediaAttr media = MediaAttr::kDefault;
  bool gfx = false;            // "+gfx": graphics-capable (RTX PRO Blackwell)
  bool double_memory = false;  // the 1-slice profile with twice the memory (NVML _1_SLICE_REV2)

  // Facts that may be unknown for some models (UNCONFIRMED in the reference).
  std::optional<int> device_profile_id;  // NVML info.id / nvidia-smi "ID" (19, 15, 14, 9, 5, 0 ...)
  std::optional<MiB> memory;             // usable memory of the instance
  std::optional<int> sm_count;           // streaming multiprocessors
  std::optional<int> copy_engines;
  std::optional<MediaEngines> media_engines;

  // Names of the optional facts above that are unknown, e.g. {"device_profile_id", "sm_count"}.
  std::vector<std::string_view> UnknownFields() const;
};

// One marketed SKU of a model: its name as NVML reports it and its PCI device id.
struct Sku {
  std::string name;                     // "NVIDIA A100-SXM4-40GB"
  std::optional<std::uint32_t> pci_id;  // PCI device+vendor id as mig-parted writes it: 0x20B010DE
};

struct GpuModel {
  std::string name;  // canonical catalog name, e.g. "A100-40GB"
  Architecture architecture = Architecture::kAmpere;
  bool mig_capable = true;             // false for A10G, L4, L40S, T4, V100 ...: whole GPU only
  int memory_units = 0;                // placement grid size U (0 when not MIG-capable)
  int compute_slices = 0;              // C
  std::optional<MiB> memory;           // marketed memory of the whole GPU, when the reference gives it
  std::vector<Profile> profiles;       // ordered by compute slices, then size, then name
  std::vector<Sku> skus;               // at least one
  std::vector<std::uint32_t> pci_ids;  // every PCI id known for the model (the SKUs' and ids the
                                       // reference gives for the model without naming the SKU)
  std::vector<std::string> aliases;    // further names that resolve to this model ("a100-40gb")
  Provenance placements = Provenance::kCaptured;
  std::string notes;  // caveats for people (naming drift, inferred data)

  // The profile with this exact name, or nullptr. Names are matched case-insensitively.
  const Profile* FindProfile(std::string_view profile_name) const;
  // Index of the profile in `profiles`, or -1.
  int ProfileIndex(std::string_view profile_name) const;
  // The profile occupying the whole GPU with default media (7g.80gb, 4g.24gb ...), or nullptr.
  const Profile* FullProfile() const;
  // Cost of a profile in milli-GPU: ceil(1000 * max(compute/C, units/U)) (DESIGN.md §4).
  MilliGpu Cost(const Profile& profile) const;
};

// Normalises a GPU name for alias matching: lower case, "nvidia" prefix and spaces, '_' and '-'
// removed. "NVIDIA A100-SXM4-40GB", "a100 sxm4 40gb" -> "a100sxm440gb".
std::string NormalizeGpuName(std::string_view name);

}  // namespace gpuslice::mig
