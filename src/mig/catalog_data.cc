// The built-in GPU catalog. Every number is copied from reference/mig-facts.md: §2.3/§2.4
// (profile ids and tables), §2.5 (placement layout), §5 and the GPU-operator device filters
// (PCI ids). The source tags of the reference (N2, P1, P4, G5 ...) are named beside each model.
// A fact the reference gives no number for, or marks UNCONFIRMED, is std::nullopt — never
// guessed.
//
// Memory rule. nvidia-smi -lgip prints an instance's memory in GiB with two decimals ("9.62").
// MIG instance memory is a whole number of 1/16 GiB (64 MiB), so the MiB figure is the multiple
// of 64 MiB nearest to GiB x 1024: 9.62 -> 9856, 5.81 -> 5952, 4.75 -> 4864 (Lgip() below).
// Where the reference gives two figures from different drivers or captures, the first (older)
// one is used and the other is named in the model's notes. Where it gives none, memory is
// unknown. The go-nvml mock's MemMB figures are not used (the mocks are API fixtures, §5.4).
//
// Placements. Captured (-lgipp) for A30, A100-40GB, H100-80GB, H100-94GB and RTX PRO 6000. The
// other 7-slice models get the verified 8-unit layout of §2.5 — the reference says "assumed
// identical to A100-40GB" (A100-80GB) or "expected identical to H100" (the rest) — and carry
// Provenance::kInferred. RTX PRO 5000/4500 have no published grid: they get the smallest grid
// consistent with their published fractions (2 units, 2 compute slices), also kInferred.
//
// Engines. CE and DEC/ENC/JPG/OFA come from the tables; where the guide's table (N2) and an
// nvidia-smi capture disagree, the capture wins and the notes say so. MediaEngines is
// all-or-nothing: when one of its four counts is unknown the whole field is unknown.
//
// GPU memory (GpuModel::memory) is unknown for every model: the reference gives marketed sizes
// ("80GB", §2.1) whose unit and usable share differ from what NVML reports; the agent reads it.
#include "mig/catalog_data.h"

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gpuslice::mig {
namespace {

constexpr std::nullopt_t kUnknown = std::nullopt;
using Eng = MediaEngines;  // {decoders, encoders, jpeg, ofa}

// MiB of a MIG instance from the GiB figure nvidia-smi -lgip prints (exactly two decimals): the
// multiple of 64 MiB nearest to GiB x 1024, i.e. round(hundredths x 16 / 100) x 64. No ties can
// occur (16 x hundredths is never an odd multiple of 50). consteval: a malformed figure does not
// compile.
consteval MiB Lgip(std::string_view gib) {
  std::int64_t hundredths = 0;
  int decimals = -1;
  for (const char c : gib) {
    if (c == '.' && decimals < 0) {
      decimals = 0;
      continue;
    }
    if (c < '0' || c > '9') throw "Lgip: not a GiB figure";
    hundredths = hundredths * 10 + (c - '0');
    if (decimals >= 0) ++decimals;
  }
  if (decimals != 2) throw "Lgip: nvidia-smi prints exactly two decimals";
  return MiB((hundredths * 16 + 50) / 100 * 64);
}
static_assert(Lgip("9.62") == MiB(9856));
static_assert(Lgip("5.81") == MiB(5952));
static_assert(Lgip("4.75") == MiB(4864));

// What the reference tables say about one profile, in their column order.
struct Facts {
  std::string_view name;
  std::optional<int> id;  // nvidia-smi "ID" (NVML info.id)
  std::optional<MiB> memory;
  std::optional<int> sm_count;
  std::optional<int> copy_engines;
  std::optional<MediaEngines> media_engines;
};

// Where a profile may go (-lgipp "{starts}:size") and how many fit.
struct Shape {
  int size_units = 0;
  int max_count = 0;
  std::vector<int> starts;
};

[[noreturn]] void BadName(std::string_view name) {
  std::fprintf(stderr, "gpuslice: catalog profile name '%.*s' is malformed\n", static_cast<int>(name.size()),
               name.data());
  std::abort();
}

// Builds a profile; compute slices and the media/gfx attribute are read from the name
// ("<g>g.<GB>gb[+me|+me.all|+gfx|-me]", §2.7) so that they cannot disagree with it.
Profile MakeProfile(const Facts& f, Shape shape, bool double_memory = false) {
  Profile p;
  p.name = std::string(f.name);
  const std::size_t g = f.name.find('g');
  if (g == 0 || g == std::string_view::npos) BadName(f.name);
  for (const char c : f.name.substr(0, g)) {
    if (c < '0' || c > '9') BadName(f.name);
    p.compute_slices = p.compute_slices * 10 + (c - '0');
  }
  const std::size_t attr = f.name.find_first_of("+-");
  const std::string_view suffix = attr == std::string_view::npos ? std::string_view() : f.name.substr(attr);
  if (suffix == "+me") {
    p.media = MediaAttr::kMe;
  } else if (suffix == "+me.all") {
    p.media = MediaAttr::kMeAll;
  } else if (suffix == "-me") {
    p.media = MediaAttr::kNoMe;
  } else if (suffix == "+gfx") {
    p.gfx = true;
  } else if (!suffix.empty()) {
    BadName(f.name);
  }
  p.size_units = shape.size_units;
  p.max_count = shape.max_count;
  p.starts = std::move(shape.starts);
  p.double_memory = double_memory;
  p.device_profile_id = f.id;
  p.memory = f.memory;
  p.sm_count = f.sm_count;
  p.copy_engines = f.copy_engines;
  p.media_engines = f.media_engines;
  return p;
}

// The 8-unit layout of the 7-slice GPUs (§2.5, verified on A100-40GB N3, H100-80GB P4, H100 NVL
// P2), in catalog order: 1g, 1g+me, 1g with double memory (NVML _1_SLICE_REV2), 2g, 3g, 4g, 7g.
// Max counts 7/1/4/3/2/1/1 are those of every 7-slice model in §2.4.
std::vector<Profile> EightUnitProfiles(const std::array<Facts, 7>& f) {
  const std::vector<int> first7 = {0, 1, 2, 3, 4, 5, 6};
  return {
      MakeProfile(f[0], {1, 7, first7}),
      MakeProfile(f[1], {1, 1, first7}),
      MakeProfile(f[2], {2, 4, {0, 2, 4, 6}}, /*double_memory=*/true),
      MakeProfile(f[3], {2, 3, {0, 2, 4}}),
      MakeProfile(f[4], {4, 2, {0, 4}}),
      MakeProfile(f[5], {4, 1, {0}}),
      MakeProfile(f[6], {8, 1, {0}}),
  };
}

// All PCI ids of a model: those its SKUs carry, then `extra` (ids known only for the model).
std::vector<std::uint32_t> PciIds(const std::vector<Sku>& skus, std::vector<std::uint32_t> extra = {}) {
  std::vector<std::uint32_t> out;
  for (const Sku& s : skus) {
    if (s.pci_id) out.push_back(*s.pci_id);
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

// A30 24GB — §2.4 A30 table: N2; IDs, SMs, GiB and -lgipp from P4. PCI id: go-nvml mock (§5).
GpuModel A30() {
  GpuModel m{.name = "A30", .architecture = Architecture::kAmpere, .memory_units = 4, .compute_slices = 4};
  m.profiles = {
      //           name           id  memory         SMs CE  DEC/ENC/JPG/OFA      size max starts
      MakeProfile({"1g.6gb", 14, Lgip("5.81"), 14, 1, Eng{1, 0, 0, 0}}, {1, 4, {0, 1, 2, 3}}),
      MakeProfile({"1g.6gb+me", 21, Lgip("5.81"), 14, 1, Eng{1, 0, 1, 1}}, {1, 1, {0, 1, 2, 3}}),
      MakeProfile({"2g.12gb", 5, Lgip("11.69"), 28, 2, Eng{2, 0, 0, 0}}, {2, 2, {0, 2}}),
      MakeProfile({"2g.12gb+me", 6, Lgip("11.69"), 28, 2, Eng{2, 0, 1, 1}}, {2, 1, {0, 2}}),
      MakeProfile({"4g.24gb", 0, Lgip("23.44"), 56, 4, Eng{4, 0, 1, 1}}, {4, 1, {0}}),
  };
  m.skus = {{"NVIDIA A30", 0x20B710DE}};
  m.pci_ids = PciIds(m.skus);
  m.notes =
      "1g.6gb: the MIG guide prints DEC/ENC/JPG/OFA 0/0/0/0 but nvidia-smi -lgip shows 1 NVDEC; "
      "the -lgip figure is used. PCI id from the go-nvml mock device list.";
  return m;
}

// A100 40GB — §2.4 A100 40GB table: N2; -lgip and -lgipp verbatim in N3. PCI ids: go-nvml mock
// devices (§5), matching the reference's device filters.
GpuModel A100_40GB() {
  GpuModel m{
      .name = "A100-40GB", .architecture = Architecture::kAmpere, .memory_units = 8, .compute_slices = 7};
  m.profiles = EightUnitProfiles({{
      //  name         id  memory         SMs CE  DEC/ENC/JPG/OFA
      {"1g.5gb", 19, Lgip("4.75"), 14, 1, Eng{0, 0, 0, 0}},
      {"1g.5gb+me", 20, Lgip("4.75"), 14, 1, Eng{1, 0, 1, 1}},
      {"1g.10gb", 15, Lgip("9.62"), 14, 1, Eng{1, 0, 0, 0}},
      {"2g.10gb", 14, Lgip("9.62"), 28, 2, Eng{1, 0, 0, 0}},
      {"3g.20gb", 9, Lgip("19.50"), 42, 3, Eng{2, 0, 0, 0}},
      {"4g.20gb", 5, Lgip("19.50"), 56, 4, Eng{2, 0, 0, 0}},
      {"7g.40gb", 0, Lgip("39.25"), 98, 7, Eng{5, 0, 1, 1}},
  }});
  m.skus = {{"NVIDIA A100-SXM4-40GB", 0x20B010DE}, {"NVIDIA A100-PCIE-40GB", 0x20F110DE}};
  m.pci_ids = PciIds(m.skus);
  m.notes =
      "1g.10gb (R525+) is the double-memory 1g profile: the MIG guide prints its memory fraction "
      "as 1/8, but it occupies 2 placement units. AWS ml.p4d.24xlarge carries this model.";
  return m;
}

// A100 80GB — §2.4 "A100 80GB": same structure as A100-40GB (N2); IDs, SMs, GiB from P4.
GpuModel A100_80GB() {
  GpuModel m{
      .name = "A100-80GB", .architecture = Architecture::kAmpere, .memory_units = 8, .compute_slices = 7};
  m.profiles = EightUnitProfiles({{
      //  name         id  memory         SMs CE  DEC/ENC/JPG/OFA
      {"1g.10gb", 19, Lgip("9.50"), 14, 1, Eng{0, 0, 0, 0}},
      {"1g.10gb+me", 20, Lgip("9.50"), 14, 1, Eng{1, 0, 1, 1}},
      {"1g.20gb", 15, Lgip("19.50"), 14, 1, Eng{1, 0, 0, 0}},
      {"2g.20gb", 14, Lgip("19.50"), 28, 2, Eng{1, 0, 0, 0}},
      {"3g.40gb", 9, Lgip("39.25"), 42, 3, Eng{2, 0, 0, 0}},
      {"4g.40gb", 5, Lgip("39.25"), 56, 4, Eng{2, 0, 0, 0}},
      {"7g.80gb", 0, Lgip("78.75"), 98, 7, Eng{5, 0, 1, 1}},
  }});
  m.skus = {{"NVIDIA A100-SXM4-80GB", 0x20B210DE}, {"NVIDIA A100-PCIE-80GB", 0x20B510DE}};
  m.pci_ids = PciIds(m.skus);
  m.placements = Provenance::kInferred;
  m.notes =
      "Placements assumed identical to A100-40GB (no 80GB -lgipp capture). Engine counts and max "
      "counts follow the A100 table, which the MIG guide shares between 40GB and 80GB; "
      "nvidia-smi shows no NVDEC on 1g.10gb (the go-nvml mock says 1). AWS ml.p4de.24xlarge.";
  return m;
}

// H100 80GB (SXM5, PCIe) — §2.4 H100 80GB table: N2; -lgip/-lgipp P4.
GpuModel H100_80GB() {
  GpuModel m{
      .name = "H100-80GB", .architecture = Architecture::kHopper, .memory_units = 8, .compute_slices = 7};
  m.profiles = EightUnitProfiles({{
      //  name         id  memory         SMs  CE  DEC/ENC/JPG/OFA
      {"1g.10gb", 19, Lgip("9.75"), 16, 1, Eng{1, 0, 1, 0}},
      {"1g.10gb+me", 20, Lgip("9.75"), 16, 1, Eng{1, 0, 1, 1}},
      {"1g.20gb", 15, Lgip("19.62"), 26, 1, Eng{1, 0, 1, 0}},
      {"2g.20gb", 14, Lgip("19.62"), 32, 2, Eng{2, 0, 2, 0}},
      {"3g.40gb", 9, Lgip("39.50"), 60, 3, Eng{3, 0, 3, 0}},
      {"4g.40gb", 5, Lgip("39.50"), 64, 4, Eng{4, 0, 4, 0}},
      {"7g.80gb", 0, Lgip("79.25"), 132, 8, Eng{7, 0, 7, 1}},
  }});
  m.skus = {{"NVIDIA H100 80GB HBM3", 0x233010DE}};
  m.pci_ids = PciIds(m.skus);
  m.aliases = {"H100", "H100-SXM5-80GB", "H100-PCIE-80GB"};
  m.notes =
      "Memory from one -lgip capture (9.75/19.62/39.50/79.25 GiB); another driver prints "
      "9.62/19.50/39.25 GiB. SM counts are not proportional to slices. Only the SXM5 SKU's PCI "
      "id is known. AWS ml.p5.48xlarge.";
  return m;
}

// H100 94GB (H100 NVL) — §2.4: IDs and SMs as listed, GiB from P4, fractions and engines the
// same as H100-80GB (N2), -lgipp printed by P2.
GpuModel H100_94GB() {
  GpuModel m{
      .name = "H100-94GB", .architecture = Architecture::kHopper, .memory_units = 8, .compute_slices = 7};
  m.profiles = EightUnitProfiles({{
      //  name         id  memory         SMs  CE  DEC/ENC/JPG/OFA
      {"1g.12gb", 19, Lgip("10.75"), 16, 1, Eng{1, 0, 1, 0}},
      {"1g.12gb+me", 20, Lgip("10.75"), 16, 1, Eng{1, 0, 1, 1}},
      {"1g.24gb", 15, Lgip("21.62"), 26, 1, Eng{1, 0, 1, 0}},
      {"2g.24gb", 14, Lgip("21.62"), 32, 2, Eng{2, 0, 2, 0}},
      {"3g.47gb", 9, Lgip("46.38"), 60, 3, Eng{3, 0, 3, 0}},
      {"4g.47gb", 5, Lgip("46.38"), 64, 4, Eng{4, 0, 4, 0}},
      {"7g.94gb", 0, Lgip("93.12"), 132, 8, Eng{7, 0, 7, 1}},
  }});
  m.skus = {{"NVIDIA H100 NVL", std::nullopt}};
  m.notes = "H100 NVL and 94GB SXM5/PCIe. No PCI id in the reference.";
  return m;
}

// H100 96GB (H100 on GH200) and H20 96GB — §2.4: names and max counts (N2); IDs, SMs,
// placements UNCONFIRMED. PCI ids: G5's device filter for the group.
GpuModel H100_96GB() {
  GpuModel m{
      .name = "H100-96GB", .architecture = Architecture::kHopper, .memory_units = 8, .compute_slices = 7};
  m.profiles = EightUnitProfiles({{
      {"1g.12gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"1g.12gb+me", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"1g.24gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"2g.24gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"3g.48gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"4g.48gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"7g.96gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
  }});
  m.skus = {{"GH200 96GB", std::nullopt}, {"H20", std::nullopt}, {"PG506-96GB", std::nullopt}};
  m.pci_ids = {0x234210DE, 0x233D10DE, 0x20B610DE, 0x232910DE};
  m.placements = Provenance::kInferred;
  m.notes =
      "Covers H100 96GB on GH200, H20 and PG506-96GB. Profile IDs, SMs, memory and engines are "
      "unknown; placements expected identical to H100. The PCI ids are the GPU operator's device "
      "filter for the whole group; which id is which SKU is not known.";
  return m;
}

// H200 141GB (SXM5, NVL) — §2.4 H200 table: N2; P1 mig-parted#120; G10. PCI ids: the GPU
// operator's H200 device filter (reference/peers.md), not the go-nvml mock's 0x233310DE.
GpuModel H200_141GB() {
  GpuModel m{
      .name = "H200-141GB", .architecture = Architecture::kHopper, .memory_units = 8, .compute_slices = 7};
  m.profiles = EightUnitProfiles({{
      //  name         id  memory         SMs       CE  DEC/ENC/JPG/OFA
      {"1g.18gb", 19, Lgip("16.00"), 16, 1, Eng{1, 0, 1, 0}},
      {"1g.18gb+me", 20, Lgip("16.00"), 16, 1, Eng{1, 0, 1, 1}},
      {"1g.35gb", 15, Lgip("32.25"), 26, 1, Eng{1, 0, 1, 0}},
      {"2g.35gb", 14, Lgip("32.25"), 32, 2, Eng{2, 0, 2, 0}},
      {"3g.71gb", 9, Lgip("69.50"), 60, 3, Eng{3, 0, 3, 0}},
      {"4g.71gb", 5, Lgip("69.50"), 64, 4, Eng{4, 0, 4, 0}},
      {"7g.141gb", 0, kUnknown, kUnknown, 8, Eng{7, 0, 7, 1}},
  }});
  m.skus = {{"H200-SXM5-141GB", std::nullopt}, {"H200 NVL", std::nullopt}};
  m.pci_ids = {0x233510DE, 0x233B10DE};
  m.aliases = {"H200"};
  m.placements = Provenance::kInferred;
  m.notes =
      "Placements expected identical to H100 (no -lgipp capture). 7g.141gb SMs and memory "
      "unknown. The PCI ids are the GPU operator's H200 device filter; which is SXM5 and which "
      "NVL is not known (the go-nvml mock's 0x233310DE is not used). AWS ml.p5e/p5en.48xlarge.";
  return m;
}

// GH200 144G HBM3e — §2.4: G5 comment and device id; P1 mig-parted#139 for the 1g/2g figures.
GpuModel GH200_144GB() {
  GpuModel m{
      .name = "GH200-144GB", .architecture = Architecture::kHopper, .memory_units = 8, .compute_slices = 7};
  m.profiles = EightUnitProfiles({{
      //  name         id        memory         SMs       CE        DEC/ENC/JPG/OFA
      {"1g.18gb", 19, Lgip("17.50"), 16, kUnknown, kUnknown},
      {"1g.18gb+me", 20, kUnknown, kUnknown, kUnknown, kUnknown},
      {"1g.36gb", 15, Lgip("35.25"), 26, kUnknown, kUnknown},
      {"2g.36gb", 14, kUnknown, 32, kUnknown, kUnknown},
      {"3g.72gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"4g.72gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"7g.144gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
  }});
  m.skus = {{"GH200 144G HBM3e", 0x234810DE}};
  m.pci_ids = PciIds(m.skus);
  m.placements = Provenance::kInferred;
  m.notes =
      "3g/4g/7g known only by name and max count (GPU operator catalogue); the capture gives "
      "memory and SMs for 1g.18gb and 1g.36gb and SMs for 2g.36gb only. Engines unknown. "
      "Placements expected identical to H100.";
  return m;
}

// B200 180GB — §2.4 B200 table: N2; P1 gpu-operator#1242/#1351, mig-parted#166/#187; IDs G10.
// PCI id: the GPU operator's device filter, not the go-nvml mock's 0x2B0010DE.
GpuModel B200() {
  GpuModel m{
      .name = "B200", .architecture = Architecture::kBlackwell, .memory_units = 8, .compute_slices = 7};
  m.profiles = EightUnitProfiles({{
      //  name         id  memory         SMs       CE  DEC/ENC/JPG/OFA
      {"1g.23gb", 19, Lgip("22.00"), 18, 2, kUnknown},
      {"1g.23gb+me", 20, Lgip("22.00"), 18, 2, kUnknown},
      {"1g.45gb", 15, Lgip("44.25"), 30, 2, kUnknown},
      {"2g.45gb", 14, Lgip("44.25"), 36, 4, kUnknown},
      {"3g.90gb", 9, kUnknown, kUnknown, 6, kUnknown},
      {"4g.90gb", 5, kUnknown, kUnknown, 8, kUnknown},
      {"7g.180gb", 0, kUnknown, kUnknown, 16, kUnknown},
  }});
  m.skus = {{"NVIDIA B200", 0x290110DE}};
  m.pci_ids = PciIds(m.skus);
  m.aliases = {"B200-180GB"};
  m.placements = Provenance::kInferred;
  m.notes =
      "1g.23gb memory 22.00 GiB as first captured (20.50 GiB on a later driver). 3g/4g/7g SMs "
      "and memory unknown. CE: -lgip figures where captured (2g.45gb: 4; the MIG guide says 3), "
      "the guide's 6/8/16 for 3g/4g/7g. Media engines unknown: the guide has no NVENC column and "
      "its NVDEC/JPEG/OFA disagree with -lgip (2g.45gb shows 2 NVDEC, 2 JPEG). Placements "
      "expected identical to H100. AWS ml.p6-b200.48xlarge.";
  return m;
}

// GB200 186GB — not in N2; §2.4 from G5, G10, P1 gpu-operator#1303, mig-parted#227.
GpuModel GB200() {
  GpuModel m{
      .name = "GB200", .architecture = Architecture::kBlackwell, .memory_units = 8, .compute_slices = 7};
  m.profiles = EightUnitProfiles({{
      //  name         id  memory         SMs       CE        DEC/ENC/JPG/OFA
      {"1g.23gb", 19, Lgip("22.00"), 18, kUnknown, kUnknown},
      {"1g.23gb+me", 20, kUnknown, kUnknown, kUnknown, kUnknown},
      {"1g.47gb", 15, Lgip("45.50"), 32, kUnknown, kUnknown},
      {"2g.47gb", 14, kUnknown, 38, 4, kUnknown},
      {"3g.93gb", 9, kUnknown, kUnknown, kUnknown, kUnknown},
      {"4g.93gb", 5, kUnknown, kUnknown, kUnknown, kUnknown},
      {"7g.186gb", 0, kUnknown, kUnknown, kUnknown, kUnknown},
  }});
  m.skus = {{"NVIDIA GB200", 0x294110DE}};
  m.pci_ids = PciIds(m.skus);
  m.aliases = {"GB200-186GB"};
  m.placements = Provenance::kInferred;
  m.notes =
      "The 1g profile is named 1g.23gb (22.00 GiB) in one capture and by AWS, 1g.24gb (20.00 "
      "GiB) on HGX GB200; the catalog uses 1g.23gb. The PCI id is the GPU operator's HGX GB200 "
      "device filter. Placements expected identical to H100. AWS ml.p6e-gb200.36xlarge.";
  return m;
}

// B300 — not in N1/N2; §2.4 from G5 (device id) and S6 (names, max counts).
GpuModel B300() {
  GpuModel m{
      .name = "B300", .architecture = Architecture::kBlackwell, .memory_units = 8, .compute_slices = 7};
  m.profiles = EightUnitProfiles({{
      {"1g.34gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"1g.34gb+me", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"1g.67gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"2g.67gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"3g.135gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"4g.135gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"7g.269gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
  }});
  m.skus = {{"NVIDIA B300", 0x318210DE}};
  m.pci_ids = PciIds(m.skus);
  m.placements = Provenance::kInferred;
  m.notes =
      "Known only by profile names and max counts (GPU operator, HyperPod: \"288GB HBM3e, ~269GB "
      "usable\"). IDs, SMs, memory and engines unknown; placements expected identical to H100. "
      "AWS ml.p6-b300.48xlarge.";
  return m;
}

// GB300 — not in N1/N2; §2.4 from G5 (device id, names, max counts).
GpuModel GB300() {
  GpuModel m{
      .name = "GB300", .architecture = Architecture::kBlackwell, .memory_units = 8, .compute_slices = 7};
  m.profiles = EightUnitProfiles({{
      {"1g.35gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"1g.35gb+me", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"1g.70gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"2g.70gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"3g.139gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"4g.139gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
      {"7g.278gb", kUnknown, kUnknown, kUnknown, kUnknown, kUnknown},
  }});
  m.skus = {{"NVIDIA GB300", 0x31C210DE}};
  m.pci_ids = PciIds(m.skus);
  m.placements = Provenance::kInferred;
  m.notes =
      "Known only by profile names and max counts (GPU operator catalogue). IDs, SMs, memory and "
      "engines unknown; placements expected identical to H100.";
  return m;
}

// RTX PRO 6000 Blackwell 96GB — §2.4 table: N2; IDs G10/P1; SMs, GiB and -lgipp P3 (12 units).
GpuModel RtxPro6000() {
  GpuModel m{.name = "RTX-PRO-6000",
             .architecture = Architecture::kBlackwell,
             .memory_units = 12,
             .compute_slices = 4};
  const std::vector<int> quarters = {0, 3, 6, 9};
  m.profiles = {
      //           name              id  memory         SMs  CE  DEC/ENC/JPG/OFA     size max starts
      MakeProfile({"1g.24gb", 14, Lgip("23.62"), 46, 1, Eng{1, 1, 1, 0}}, {3, 4, quarters}),
      MakeProfile({"1g.24gb+gfx", 47, kUnknown, 46, 1, Eng{1, 1, 1, 0}}, {3, 4, quarters}),
      MakeProfile({"1g.24gb+me", 21, kUnknown, 46, 1, Eng{1, 1, 1, 1}}, {3, 1, quarters}),
      MakeProfile({"1g.24gb+me.all", 65, kUnknown, 46, 1, Eng{4, 4, 4, 1}}, {3, 1, quarters}),
      MakeProfile({"1g.24gb-me", 67, kUnknown, 46, 1, Eng{0, 0, 0, 0}}, {3, 4, quarters}),
      MakeProfile({"2g.48gb", 5, kUnknown, 94, 2, Eng{2, 2, 2, 0}}, {6, 2, {0, 6}}),
      MakeProfile({"2g.48gb+gfx", 35, kUnknown, 94, 2, Eng{2, 2, 2, 0}}, {6, 2, {0, 6}}),
      MakeProfile({"2g.48gb+me.all", 64, kUnknown, 94, 2, Eng{4, 4, 4, 1}}, {6, 1, {0, 6}}),
      MakeProfile({"2g.48gb-me", 66, kUnknown, 94, 2, Eng{0, 0, 0, 0}}, {6, 2, {0, 6}}),
      MakeProfile({"4g.96gb", 0, Lgip("95.12"), 188, 4, Eng{4, 4, 4, 1}}, {12, 1, {0}}),
      MakeProfile({"4g.96gb+gfx", 32, kUnknown, 188, 4, Eng{4, 4, 4, 1}}, {12, 1, {0}}),
  };
  m.skus = {{"NVIDIA RTX PRO 6000 Blackwell Server Edition", 0x2BB510DE},
            {"NVIDIA RTX PRO 6000 Blackwell Workstation Edition", std::nullopt},
            {"NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition", std::nullopt}};
  m.pci_ids = PciIds(m.skus);
  m.aliases = {"RTX PRO 6000 Blackwell"};
  m.notes =
      "1g.24gb memory 23.62 GiB as first captured (23.12 GiB in another capture); memory is known "
      "only for 1g.24gb and 4g.96gb. Workstation and Max-Q editions need --gpumode=compute and a "
      "minimum vBIOS; only the Server Edition's PCI id is known.";
  return m;
}

// RTX PRO 5000 Blackwell 48GB — latest N2: names, fractions (1g = 1/2 of memory and SMs), max
// counts. IDs and placements UNCONFIRMED; the 2-unit grid is inferred from the fractions.
GpuModel RtxPro5000() {
  GpuModel m{.name = "RTX-PRO-5000",
             .architecture = Architecture::kBlackwell,
             .memory_units = 2,
             .compute_slices = 2};
  const Shape half1 = {1, 1, {0, 1}};
  const Shape half2 = {1, 2, {0, 1}};
  const Shape whole = {2, 1, {0}};
  m.profiles = {
      MakeProfile({"1g.24gb"}, half2),     MakeProfile({"1g.24gb+gfx"}, half2),
      MakeProfile({"1g.24gb+me"}, half1),  MakeProfile({"1g.24gb+me.all"}, half1),
      MakeProfile({"1g.24gb-me"}, half2),  MakeProfile({"2g.48gb"}, whole),
      MakeProfile({"2g.48gb+gfx"}, whole),
  };
  m.skus = {{"NVIDIA RTX PRO 5000 Blackwell", std::nullopt}};
  m.placements = Provenance::kInferred;
  m.notes =
      "The MIG guide gives only names, fractions and max counts: starts are in an inferred 2-unit "
      "grid (1g = half the GPU), not in NVML's placement units. IDs, SMs, memory and engines "
      "unknown. An older version of the guide listed 1g.12gb/2g.24gb-me/4g.48gb instead.";
  return m;
}

// RTX PRO 4500 Blackwell 32GB — latest N2 only: names, max counts. Grid inferred as for 5000.
GpuModel RtxPro4500() {
  GpuModel m{.name = "RTX-PRO-4500",
             .architecture = Architecture::kBlackwell,
             .memory_units = 2,
             .compute_slices = 2};
  const Shape half1 = {1, 1, {0, 1}};
  const Shape half2 = {1, 2, {0, 1}};
  const Shape whole = {2, 1, {0}};
  m.profiles = {
      MakeProfile({"1g.16gb"}, half2),        MakeProfile({"1g.16gb+gfx"}, half2),
      MakeProfile({"1g.16gb+me.all"}, half1), MakeProfile({"1g.16gb-me"}, half2),
      MakeProfile({"2g.32gb"}, whole),        MakeProfile({"2g.32gb+gfx"}, whole),
  };
  m.skus = {{"NVIDIA RTX PRO 4500 Blackwell", std::nullopt}};
  m.placements = Provenance::kInferred;
  m.notes =
      "The MIG guide (newer version only) gives names and max counts; the fractions are taken to "
      "be those of RTX PRO 5000 (two 1g halves). Starts are in an inferred 2-unit grid, not in "
      "NVML's placement units. IDs, SMs, memory and engines unknown.";
  return m;
}

// A GPU without MIG: whole-GPU scheduling only; its memory comes from NVML.
GpuModel NoMig(std::string name, Architecture arch, std::string sku, std::string arch_note,
               std::vector<std::string> aliases = {}) {
  GpuModel m{.name = std::move(name), .architecture = arch, .mig_capable = false};
  m.skus = {{std::move(sku), std::nullopt}};
  m.aliases = std::move(aliases);
  m.notes = "No MIG: schedulable as a whole GPU only. " + std::move(arch_note);
  return m;
}

}  // namespace

std::vector<GpuModel> BuiltInModels() {
  std::vector<GpuModel> models;
  models.push_back(A30());
  models.push_back(A100_40GB());
  models.push_back(A100_80GB());
  models.push_back(H100_80GB());
  models.push_back(H100_94GB());
  models.push_back(H100_96GB());
  models.push_back(H200_141GB());
  models.push_back(GH200_144GB());
  models.push_back(B200());
  models.push_back(GB200());
  models.push_back(B300());
  models.push_back(GB300());
  models.push_back(RtxPro6000());
  models.push_back(RtxPro5000());
  models.push_back(RtxPro4500());
  // GPUs without MIG: names and architecture only; they are scheduled as whole GPUs.
  models.push_back(NoMig("A10G", Architecture::kAmpere, "NVIDIA A10G", "Ampere (GA102)."));
  models.push_back(NoMig("L4", Architecture::kAda, "NVIDIA L4", "Ada Lovelace."));
  models.push_back(NoMig("L40S", Architecture::kAda, "NVIDIA L40S", "Ada Lovelace."));
  models.push_back(NoMig("T4", Architecture::kTuring, "NVIDIA T4", "Turing.",
                         {"Tesla T4"}));  // the name NVML reports for it
  models.push_back(NoMig("V100", Architecture::kVolta, "NVIDIA V100", "Volta."));
  return models;
}

}  // namespace gpuslice::mig
