// Tests of the built-in catalog: its consistency, name and PCI-id resolution, and spot checks of
// every model against reference/mig-facts.md §2.4/§2.5. The expected figures below are copied
// from the reference tables (GiB converted by hand: nearest multiple of 64 MiB to GiB x 1024),
// not from catalog_data.cc.
#include "mig/catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "mig/catalog_data.h"

namespace gpuslice::mig {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

const GpuModel* FindModel(std::string_view name) {
  for (const GpuModel& m : Catalog::BuiltIn().models()) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::vector<std::string> ProfileNames(const GpuModel& m) {
  std::vector<std::string> out;
  for (const Profile& p : m.profiles) out.push_back(p.name);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Consistency

TEST(CatalogTest, BuiltInTablePassesCheck) {
  const std::vector<GpuModel> models = BuiltInModels();
  const Result<void> ok = Catalog::Check(models);
  // Catalog::BuiltIn() aborts on a broken table; report the problem as a failure first.
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(Catalog::BuiltIn().models().size(), models.size());
}

TEST(CatalogTest, HoldsEveryModelOfTheReference) {
  std::vector<std::string> names;
  for (const GpuModel& m : Catalog::BuiltIn().models()) names.push_back(m.name);
  EXPECT_THAT(names, UnorderedElementsAreArray<std::string>(
                         {"A30",       "A100-40GB",  "A100-80GB",    "H100-80GB",    "H100-94GB",
                          "H100-96GB", "H200-141GB", "GH200-144GB",  "B200",         "GB200",
                          "B300",      "GB300",      "RTX-PRO-6000", "RTX-PRO-5000", "RTX-PRO-4500",
                          "A10G",      "L4",         "L40S",         "T4",           "V100"}));
}

TEST(CatalogTest, GridSizesAndComputeSlices) {
  // §2.5: 8 units on the 7-slice GPUs, 4 on A30, 12 on RTX PRO 6000; RTX PRO 5000/4500 have an
  // inferred 2-unit grid (1g = half the GPU, §2.4).
  const std::vector<std::tuple<std::string, int, int>> want = {
      {"A30", 4, 4},           {"A100-40GB", 8, 7},    {"A100-80GB", 8, 7},   {"H100-80GB", 8, 7},
      {"H100-94GB", 8, 7},     {"H100-96GB", 8, 7},    {"H200-141GB", 8, 7},  {"GH200-144GB", 8, 7},
      {"B200", 8, 7},          {"GB200", 8, 7},        {"B300", 8, 7},        {"GB300", 8, 7},
      {"RTX-PRO-6000", 12, 4}, {"RTX-PRO-5000", 2, 2}, {"RTX-PRO-4500", 2, 2}};
  for (const auto& [name, units, slices] : want) {
    const GpuModel* m = FindModel(name);
    ASSERT_NE(m, nullptr) << name;
    EXPECT_TRUE(m->mig_capable) << name;
    EXPECT_EQ(m->memory_units, units) << name;
    EXPECT_EQ(m->compute_slices, slices) << name;
  }
}

TEST(CatalogTest, PlacementProvenance) {
  // Captured -lgipp: A30, A100-40GB (N3), H100-80GB (P4), H100 NVL (P2), RTX PRO 6000 (P3).
  const std::set<std::string> captured = {"A30", "A100-40GB", "H100-80GB", "H100-94GB", "RTX-PRO-6000"};
  for (const GpuModel& m : Catalog::BuiltIn().models()) {
    if (!m.mig_capable) continue;
    EXPECT_EQ(m.placements, captured.contains(m.name) ? Provenance::kCaptured : Provenance::kInferred)
        << m.name;
    if (m.placements == Provenance::kInferred) {
      EXPECT_FALSE(m.notes.empty()) << m.name;
    }
  }
}

TEST(CatalogTest, ModelsWithoutMig) {
  for (const char* name : {"A10G", "L4", "L40S", "T4", "V100"}) {
    const GpuModel* m = FindModel(name);
    ASSERT_NE(m, nullptr) << name;
    EXPECT_FALSE(m->mig_capable) << name;
    EXPECT_TRUE(m->profiles.empty()) << name;
    EXPECT_EQ(m->memory_units, 0) << name;
    EXPECT_EQ(m->FullProfile(), nullptr) << name;
    EXPECT_THAT(m->notes, HasSubstr("No MIG")) << name;
    EXPECT_FALSE(m->memory.has_value()) << name << ": the reference has no number for it";
  }
}

// Properties every MIG model must have, whatever the numbers.
TEST(CatalogTest, ProfilesAreOrderedAndNamedConsistently) {
  for (const GpuModel& m : Catalog::BuiltIn().models()) {
    if (!m.mig_capable) continue;
    SCOPED_TRACE(m.name);
    for (std::size_t i = 1; i < m.profiles.size(); ++i) {
      const Profile& a = m.profiles[i - 1];
      const Profile& b = m.profiles[i];
      EXPECT_LT(std::tie(a.compute_slices, a.size_units, a.name),
                std::tie(b.compute_slices, b.size_units, b.name));
    }
    int double_memory = 0;
    for (const Profile& p : m.profiles) {
      SCOPED_TRACE(p.name);
      // "<g>g.<GB>gb[attr]" (§2.7): the g of the name is the compute slice count.
      EXPECT_EQ(p.name.substr(0, p.name.find('g')), std::to_string(p.compute_slices));
      const std::size_t attr = p.name.find_first_of("+-");
      const std::string suffix = attr == std::string::npos ? "" : p.name.substr(attr);
      const MediaAttr want_media = suffix == "+me"       ? MediaAttr::kMe
                                   : suffix == "+me.all" ? MediaAttr::kMeAll
                                   : suffix == "-me"     ? MediaAttr::kNoMe
                                                         : MediaAttr::kDefault;
      EXPECT_EQ(p.media, want_media);
      EXPECT_EQ(p.gfx, suffix == "+gfx");
      EXPECT_LE(p.max_count, static_cast<int>(p.starts.size()));
      if (p.memory) {
        EXPECT_EQ(p.memory->value() % 64, 0) << "MIG memory is a multiple of 64 MiB";
      }
      if (p.double_memory) {
        ++double_memory;
        EXPECT_EQ(p.compute_slices, 1);
        EXPECT_EQ(p.size_units, 2);
      }
    }
    EXPECT_EQ(double_memory, m.memory_units == 8 ? 1 : 0);
    const Profile* full = m.FullProfile();
    ASSERT_NE(full, nullptr);
    EXPECT_EQ(full->compute_slices, m.compute_slices);
  }
}

TEST(CatalogTest, PciIdsAreUniqueNvidiaIdsAndIncludeTheSkus) {
  std::set<std::uint32_t> seen;
  for (const GpuModel& m : Catalog::BuiltIn().models()) {
    for (const Sku& s : m.skus) {
      if (!s.pci_id) continue;
      EXPECT_THAT(m.pci_ids, ::testing::Contains(*s.pci_id)) << m.name;
    }
    for (const std::uint32_t id : m.pci_ids) {
      EXPECT_EQ(id & 0xFFFFu, 0x10DEu) << m.name;
      EXPECT_TRUE(seen.insert(id).second) << m.name << " repeats an id";
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Catalog::Check on broken tables

GpuModel TinyModel(std::string name) {
  GpuModel m{.name = std::move(name), .memory_units = 2, .compute_slices = 2};
  Profile p;
  p.name = "1g.1gb";
  p.compute_slices = 1;
  p.size_units = 1;
  p.max_count = 2;
  p.starts = {0, 1};
  m.profiles = {p};
  m.skus = {{"NVIDIA " + m.name, std::nullopt}};
  return m;
}

TEST(CatalogCheckTest, AcceptsATinyModel) {
  const std::vector<GpuModel> models = {TinyModel("X1")};
  EXPECT_TRUE(Catalog::Check(models).has_value());
}

TEST(CatalogCheckTest, RejectsNamesThatCollideAfterNormalization) {
  GpuModel a = TinyModel("X1");
  GpuModel b = TinyModel("X2");
  b.aliases = {"nvidia x-1"};
  const std::vector<GpuModel> models = {a, b};
  const Result<void> r = Catalog::Check(models);
  ASSERT_FALSE(r.has_value());
  EXPECT_THAT(r.error().message, HasSubstr("used twice"));
}

TEST(CatalogCheckTest, RejectsStartsOutsideTheGridOrUnsorted) {
  GpuModel m = TinyModel("X1");
  m.profiles[0].starts = {0, 2};  // 2 + 1 > 2 units
  EXPECT_FALSE(Catalog::Check(std::vector<GpuModel>{m}).has_value());
  m.profiles[0].starts = {1, 0};
  EXPECT_FALSE(Catalog::Check(std::vector<GpuModel>{m}).has_value());
}

TEST(CatalogCheckTest, RejectsModelsWithoutSkuOrNonMigWithProfiles) {
  GpuModel no_sku = TinyModel("X1");
  no_sku.skus.clear();
  EXPECT_FALSE(Catalog::Check(std::vector<GpuModel>{no_sku}).has_value());
  GpuModel no_mig = TinyModel("X1");
  no_mig.mig_capable = false;
  EXPECT_FALSE(Catalog::Check(std::vector<GpuModel>{no_mig}).has_value());
}

// ---------------------------------------------------------------------------------------------
// Resolution

struct ResolveCase {
  std::string input;
  std::string model;
  std::string sku;  // "" = resolves to the model, not one SKU
};

TEST(CatalogResolveTest, NamesSkusAndAliases) {
  const std::vector<ResolveCase> cases = {
      {"NVIDIA A100-SXM4-40GB", "A100-40GB", "NVIDIA A100-SXM4-40GB"},
      {"A100-SXM4-40GB", "A100-40GB", "NVIDIA A100-SXM4-40GB"},
      {"a100 sxm4 40gb", "A100-40GB", "NVIDIA A100-SXM4-40GB"},
      {"a100-40gb", "A100-40GB", ""},
      {"A100_40GB", "A100-40GB", ""},
      {"A100-PCIE-40GB", "A100-40GB", "NVIDIA A100-PCIE-40GB"},
      {"NVIDIA A100-SXM4-80GB", "A100-80GB", "NVIDIA A100-SXM4-80GB"},
      {"A100-PCIE-80GB", "A100-80GB", "NVIDIA A100-PCIE-80GB"},
      {"a100-80gb", "A100-80GB", ""},
      {"A30", "A30", "NVIDIA A30"},
      {"h100-80gb", "H100-80GB", ""},
      {"NVIDIA H100 80GB HBM3", "H100-80GB", "NVIDIA H100 80GB HBM3"},
      {"H100-SXM5-80GB", "H100-80GB", ""},
      {"H100", "H100-80GB", ""},
      {"NVIDIA H100 NVL", "H100-94GB", "NVIDIA H100 NVL"},
      {"H100-94GB", "H100-94GB", ""},
      {"H20", "H100-96GB", "H20"},
      {"h100-96gb", "H100-96GB", ""},
      {"H200-141GB", "H200-141GB", ""},
      {"NVIDIA H200", "H200-141GB", ""},
      {"GH200-144GB", "GH200-144GB", ""},
      {"GH200 144G HBM3e", "GH200-144GB", "GH200 144G HBM3e"},
      {"B200", "B200", "NVIDIA B200"},
      {"NVIDIA GB200", "GB200", "NVIDIA GB200"},
      {"B300", "B300", "NVIDIA B300"},
      {"gb300", "GB300", "NVIDIA GB300"},
      {"NVIDIA RTX PRO 6000 Blackwell Server Edition", "RTX-PRO-6000",
       "NVIDIA RTX PRO 6000 Blackwell Server Edition"},
      {"rtx-pro-6000", "RTX-PRO-6000", ""},
      {"RTX PRO 5000", "RTX-PRO-5000", ""},
      {"RTX_PRO_4500", "RTX-PRO-4500", ""},
      {"NVIDIA A10G", "A10G", "NVIDIA A10G"},
      {"Tesla T4", "T4", ""},
      {"l40s", "L40S", "NVIDIA L40S"},
  };
  for (const ResolveCase& c : cases) {
    const Result<ResolvedGpu> r = Catalog::BuiltIn().Resolve(c.input);
    ASSERT_TRUE(r.has_value()) << c.input << ": " << r.error().message;
    ASSERT_NE(r->model, nullptr) << c.input;
    EXPECT_EQ(r->model->name, c.model) << c.input;
    if (c.sku.empty()) {
      EXPECT_EQ(r->sku, nullptr) << c.input;
    } else {
      ASSERT_NE(r->sku, nullptr) << c.input;
      EXPECT_EQ(r->sku->name, c.sku) << c.input;
    }
  }
}

TEST(CatalogResolveTest, UnknownNameSuggestsTheClosest) {
  const Result<ResolvedGpu> r = Catalog::BuiltIn().Resolve("A200-40GB");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(r.error().message, HasSubstr("A200-40GB"));
  EXPECT_THAT(r.error().message, HasSubstr("A100-40GB"));
}

TEST(CatalogResolveTest, EmptyNameIsInvalid) {
  for (const char* empty : {"", "  ", "NVIDIA", "-_-"}) {
    const Result<ResolvedGpu> r = Catalog::BuiltIn().Resolve(empty);
    ASSERT_FALSE(r.has_value()) << empty;
    // "NVIDIA" alone is not stripped (nothing would be left) and names no model.
    EXPECT_TRUE(r.error().code == ErrorCode::kInvalidArgument || r.error().code == ErrorCode::kNotFound)
        << empty;
  }
  EXPECT_EQ(Catalog::BuiltIn().Resolve("").error().code, ErrorCode::kInvalidArgument);
}

TEST(CatalogResolveTest, PciIds) {
  const Catalog& c = Catalog::BuiltIn();
  // SKU ids from the go-nvml mock device list (§5) and the GPU operator's device filters.
  const std::vector<ResolveCase> cases = {
      {"0x20B010DE", "A100-40GB", "NVIDIA A100-SXM4-40GB"},
      {"0x20F110DE", "A100-40GB", "NVIDIA A100-PCIE-40GB"},
      {"0x20B210DE", "A100-80GB", "NVIDIA A100-SXM4-80GB"},
      {"0x20B510DE", "A100-80GB", "NVIDIA A100-PCIE-80GB"},
      {"0x20B710DE", "A30", "NVIDIA A30"},
      {"0x233010DE", "H100-80GB", "NVIDIA H100 80GB HBM3"},
      {"0x234210DE", "H100-96GB", ""},
      {"0x233D10DE", "H100-96GB", ""},
      {"0x20B610DE", "H100-96GB", ""},
      {"0x232910DE", "H100-96GB", ""},
      {"0x233510DE", "H200-141GB", ""},
      {"0x233B10DE", "H200-141GB", ""},
      {"0x234810DE", "GH200-144GB", "GH200 144G HBM3e"},
      {"0x290110DE", "B200", "NVIDIA B200"},
      {"0x294110DE", "GB200", "NVIDIA GB200"},
      {"0x318210DE", "B300", "NVIDIA B300"},
      {"0x31C210DE", "GB300", "NVIDIA GB300"},
      {"0x2BB510DE", "RTX-PRO-6000", "NVIDIA RTX PRO 6000 Blackwell Server Edition"},
  };
  for (const ResolveCase& k : cases) {
    const auto id = static_cast<std::uint32_t>(std::stoul(k.input, nullptr, 16));
    const Result<ResolvedGpu> r = c.ResolvePciId(id);
    ASSERT_TRUE(r.has_value()) << k.input << ": " << r.error().message;
    EXPECT_EQ(r->model->name, k.model) << k.input;
    if (k.sku.empty()) {
      EXPECT_EQ(r->sku, nullptr) << k.input;
    } else {
      ASSERT_NE(r->sku, nullptr) << k.input;
      EXPECT_EQ(r->sku->name, k.sku) << k.input;
    }
  }
}

TEST(CatalogResolveTest, MockOnlyPciIdsAreNotInTheCatalog) {
  // §7.8: the go-nvml mocks use 0x2333 (H200) and 0x2B00 (B200); real device filters differ.
  for (const std::uint32_t id : {0x233310DEu, 0x2B0010DEu, 0x12345678u}) {
    const Result<ResolvedGpu> r = Catalog::BuiltIn().ResolvePciId(id);
    ASSERT_FALSE(r.has_value()) << std::hex << id;
    EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  }
}

TEST(CatalogResolveTest, MatchesPciId) {
  const Catalog& c = Catalog::BuiltIn();
  const ResolvedGpu sxm = *c.Resolve("NVIDIA A100-SXM4-40GB");
  EXPECT_TRUE(Catalog::MatchesPciId(sxm, 0x20B010DE));
  EXPECT_FALSE(Catalog::MatchesPciId(sxm, 0x20F110DE)) << "a known SKU matches only its own id";
  const ResolvedGpu model = *c.Resolve("A100-40GB");
  EXPECT_TRUE(Catalog::MatchesPciId(model, 0x20B010DE));
  EXPECT_TRUE(Catalog::MatchesPciId(model, 0x20F110DE));
  EXPECT_FALSE(Catalog::MatchesPciId(model, 0x20B210DE)) << "that is the 80GB SXM4";
  const ResolvedGpu h200 = *c.Resolve("H200-141GB");
  EXPECT_TRUE(Catalog::MatchesPciId(h200, 0x233510DE));
  EXPECT_TRUE(Catalog::MatchesPciId(h200, 0x233B10DE));
  EXPECT_FALSE(Catalog::MatchesPciId(h200, 0x233310DE));
  // A SKU without an id falls back to the model's ids.
  const ResolvedGpu h20 = *c.Resolve("H20");
  ASSERT_NE(h20.sku, nullptr);
  EXPECT_TRUE(Catalog::MatchesPciId(h20, 0x234210DE));
  EXPECT_FALSE(Catalog::MatchesPciId(ResolvedGpu{}, 0x20B010DE));
}

// ---------------------------------------------------------------------------------------------
// Spot checks against the reference tables (§2.4), placement lists per §2.5.

const std::vector<int> kFirst7 = {0, 1, 2, 3, 4, 5, 6};
const std::vector<int> kEvens = {0, 2, 4, 6};

struct Expected {
  std::string model;
  std::string profile;
  std::optional<int> id;
  int size = 0;
  int max = 0;
  std::vector<int> starts;
  std::optional<int> sms;
  std::optional<std::int64_t> mib;
  std::optional<int> ce;
  std::optional<std::array<int, 4>> engines;  // DEC/ENC/JPG/OFA
};

constexpr std::nullopt_t kUnknown = std::nullopt;
using E4 = std::array<int, 4>;

void CheckRows(const std::vector<Expected>& rows) {
  for (const Expected& e : rows) {
    SCOPED_TRACE(e.model + " " + e.profile);
    const GpuModel* m = FindModel(e.model);
    ASSERT_NE(m, nullptr);
    const Profile* p = m->FindProfile(e.profile);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->device_profile_id, e.id);
    EXPECT_EQ(p->size_units, e.size);
    EXPECT_EQ(p->max_count, e.max);
    EXPECT_EQ(p->starts, e.starts);
    EXPECT_EQ(p->sm_count, e.sms);
    EXPECT_EQ(p->memory ? std::optional<std::int64_t>(p->memory->value()) : std::nullopt, e.mib);
    EXPECT_EQ(p->copy_engines, e.ce);
    std::optional<E4> engines;
    if (p->media_engines) {
      const MediaEngines& x = *p->media_engines;
      engines = E4{x.decoders, x.encoders, x.jpeg, x.ofa};
    }
    EXPECT_EQ(engines, e.engines);
  }
}

TEST(CatalogReferenceTest, A30) {
  const GpuModel& m = *FindModel("A30");
  EXPECT_THAT(ProfileNames(m), ElementsAre("1g.6gb", "1g.6gb+me", "2g.12gb", "2g.12gb+me", "4g.24gb"));
  // GiB 5.81 -> 5952, 11.69 -> 11968, 23.44 -> 24000. 1g.6gb: lgip's DEC 1 wins over the guide.
  CheckRows({
      {"A30", "1g.6gb", 14, 1, 4, {0, 1, 2, 3}, 14, 5952, 1, E4{1, 0, 0, 0}},
      {"A30", "1g.6gb+me", 21, 1, 1, {0, 1, 2, 3}, 14, 5952, 1, E4{1, 0, 1, 1}},
      {"A30", "2g.12gb", 5, 2, 2, {0, 2}, 28, 11968, 2, E4{2, 0, 0, 0}},
      {"A30", "2g.12gb+me", 6, 2, 1, {0, 2}, 28, 11968, 2, E4{2, 0, 1, 1}},
      {"A30", "4g.24gb", 0, 4, 1, {0}, 56, 24000, 4, E4{4, 0, 1, 1}},
  });
  EXPECT_EQ(m.FullProfile()->name, "4g.24gb");
}

TEST(CatalogReferenceTest, A100_40GB) {
  EXPECT_THAT(ProfileNames(*FindModel("A100-40GB")),
              ElementsAre("1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"));
  // GiB 4.75 -> 4864, 9.62 -> 9856, 19.50 -> 19968, 39.25 -> 40192 (= the go-nvml mock's MemMB).
  CheckRows({
      {"A100-40GB", "1g.5gb", 19, 1, 7, kFirst7, 14, 4864, 1, E4{0, 0, 0, 0}},
      {"A100-40GB", "1g.5gb+me", 20, 1, 1, kFirst7, 14, 4864, 1, E4{1, 0, 1, 1}},
      {"A100-40GB", "1g.10gb", 15, 2, 4, kEvens, 14, 9856, 1, E4{1, 0, 0, 0}},
      {"A100-40GB", "2g.10gb", 14, 2, 3, {0, 2, 4}, 28, 9856, 2, E4{1, 0, 0, 0}},
      {"A100-40GB", "3g.20gb", 9, 4, 2, {0, 4}, 42, 19968, 3, E4{2, 0, 0, 0}},
      {"A100-40GB", "4g.20gb", 5, 4, 1, {0}, 56, 19968, 4, E4{2, 0, 0, 0}},
      {"A100-40GB", "7g.40gb", 0, 8, 1, {0}, 98, 40192, 7, E4{5, 0, 1, 1}},
  });
  EXPECT_TRUE(FindModel("A100-40GB")->FindProfile("1g.10gb")->double_memory);
  EXPECT_FALSE(FindModel("A100-40GB")->FindProfile("2g.10gb")->double_memory);
}

TEST(CatalogReferenceTest, A100_80GB) {
  // Names and IDs per §2.4 note; GiB 9.50 -> 9728, 19.50 -> 19968, 39.25 -> 40192,
  // 78.75 -> 80640; placements assumed identical to A100-40GB.
  CheckRows({
      {"A100-80GB", "1g.10gb", 19, 1, 7, kFirst7, 14, 9728, 1, E4{0, 0, 0, 0}},
      {"A100-80GB", "1g.10gb+me", 20, 1, 1, kFirst7, 14, 9728, 1, E4{1, 0, 1, 1}},
      {"A100-80GB", "1g.20gb", 15, 2, 4, kEvens, 14, 19968, 1, E4{1, 0, 0, 0}},
      {"A100-80GB", "2g.20gb", 14, 2, 3, {0, 2, 4}, 28, 19968, 2, E4{1, 0, 0, 0}},
      {"A100-80GB", "3g.40gb", 9, 4, 2, {0, 4}, 42, 40192, 3, E4{2, 0, 0, 0}},
      {"A100-80GB", "4g.40gb", 5, 4, 1, {0}, 56, 40192, 4, E4{2, 0, 0, 0}},
      {"A100-80GB", "7g.80gb", 0, 8, 1, {0}, 98, 80640, 7, E4{5, 0, 1, 1}},
  });
  EXPECT_TRUE(FindModel("A100-80GB")->FindProfile("1g.20gb")->double_memory);
}

TEST(CatalogReferenceTest, H100_80GB) {
  // GiB 9.75 -> 9984, 19.62 -> 20096, 39.50 -> 40448, 79.25 -> 81152. SMs not 16 x g.
  CheckRows({
      {"H100-80GB", "1g.10gb", 19, 1, 7, kFirst7, 16, 9984, 1, E4{1, 0, 1, 0}},
      {"H100-80GB", "1g.10gb+me", 20, 1, 1, kFirst7, 16, 9984, 1, E4{1, 0, 1, 1}},
      {"H100-80GB", "1g.20gb", 15, 2, 4, kEvens, 26, 20096, 1, E4{1, 0, 1, 0}},
      {"H100-80GB", "2g.20gb", 14, 2, 3, {0, 2, 4}, 32, 20096, 2, E4{2, 0, 2, 0}},
      {"H100-80GB", "3g.40gb", 9, 4, 2, {0, 4}, 60, 40448, 3, E4{3, 0, 3, 0}},
      {"H100-80GB", "4g.40gb", 5, 4, 1, {0}, 64, 40448, 4, E4{4, 0, 4, 0}},
      {"H100-80GB", "7g.80gb", 0, 8, 1, {0}, 132, 81152, 8, E4{7, 0, 7, 1}},
  });
  EXPECT_TRUE(FindModel("H100-80GB")->FindProfile("1g.20gb")->double_memory);
}

TEST(CatalogReferenceTest, H100_94GB) {
  // GiB 10.75 -> 11008 (the GFD label example), 21.62 -> 22144, 46.38 -> 47488, 93.12 -> 95360.
  CheckRows({
      {"H100-94GB", "1g.12gb", 19, 1, 7, kFirst7, 16, 11008, 1, E4{1, 0, 1, 0}},
      {"H100-94GB", "1g.12gb+me", 20, 1, 1, kFirst7, 16, 11008, 1, E4{1, 0, 1, 1}},
      {"H100-94GB", "1g.24gb", 15, 2, 4, kEvens, 26, 22144, 1, E4{1, 0, 1, 0}},
      {"H100-94GB", "2g.24gb", 14, 2, 3, {0, 2, 4}, 32, 22144, 2, E4{2, 0, 2, 0}},
      {"H100-94GB", "3g.47gb", 9, 4, 2, {0, 4}, 60, 47488, 3, E4{3, 0, 3, 0}},
      {"H100-94GB", "4g.47gb", 5, 4, 1, {0}, 64, 47488, 4, E4{4, 0, 4, 0}},
      {"H100-94GB", "7g.94gb", 0, 8, 1, {0}, 132, 95360, 8, E4{7, 0, 7, 1}},
  });
}

TEST(CatalogReferenceTest, H100_96GB_IsKnownOnlyByNamesAndCounts) {
  const GpuModel& m = *FindModel("H100-96GB");
  EXPECT_THAT(ProfileNames(m),
              ElementsAre("1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.48gb", "4g.48gb", "7g.96gb"));
  std::vector<int> max;
  for (const Profile& p : m.profiles) {
    max.push_back(p.max_count);
    EXPECT_EQ(p.UnknownFields().size(), 5u) << p.name;
    EXPECT_FALSE(p.device_profile_id.has_value()) << p.name;
  }
  EXPECT_THAT(max, ElementsAre(7, 1, 4, 3, 2, 1, 1));
  EXPECT_THAT(m.pci_ids,
              UnorderedElementsAreArray<std::uint32_t>({0x234210DE, 0x233D10DE, 0x20B610DE, 0x232910DE}));
  for (const Sku& s : m.skus) EXPECT_FALSE(s.pci_id.has_value()) << s.name;
}

TEST(CatalogReferenceTest, H200_141GB) {
  // GiB 16.00 -> 16384, 32.25 -> 33024, 69.50 -> 71168; 7g.141gb SMs and GiB UNCONFIRMED.
  CheckRows({
      {"H200-141GB", "1g.18gb", 19, 1, 7, kFirst7, 16, 16384, 1, E4{1, 0, 1, 0}},
      {"H200-141GB", "1g.18gb+me", 20, 1, 1, kFirst7, 16, 16384, 1, E4{1, 0, 1, 1}},
      {"H200-141GB", "1g.35gb", 15, 2, 4, kEvens, 26, 33024, 1, E4{1, 0, 1, 0}},
      {"H200-141GB", "2g.35gb", 14, 2, 3, {0, 2, 4}, 32, 33024, 2, E4{2, 0, 2, 0}},
      {"H200-141GB", "3g.71gb", 9, 4, 2, {0, 4}, 60, 71168, 3, E4{3, 0, 3, 0}},
      {"H200-141GB", "4g.71gb", 5, 4, 1, {0}, 64, 71168, 4, E4{4, 0, 4, 0}},
      {"H200-141GB", "7g.141gb", 0, 8, 1, {0}, kUnknown, kUnknown, 8, E4{7, 0, 7, 1}},
  });
  EXPECT_THAT(FindModel("H200-141GB")->FindProfile("7g.141gb")->UnknownFields(),
              ElementsAre("memory", "sm_count"));
}

TEST(CatalogReferenceTest, GH200_144GB) {
  // 1g.18gb 17.50 GiB -> 17920, 1g.36gb 35.25 GiB -> 36096; 3g/4g/7g IDs UNCONFIRMED.
  CheckRows({
      {"GH200-144GB", "1g.18gb", 19, 1, 7, kFirst7, 16, 17920, kUnknown, kUnknown},
      {"GH200-144GB", "1g.18gb+me", 20, 1, 1, kFirst7, kUnknown, kUnknown, kUnknown, kUnknown},
      {"GH200-144GB", "1g.36gb", 15, 2, 4, kEvens, 26, 36096, kUnknown, kUnknown},
      {"GH200-144GB", "2g.36gb", 14, 2, 3, {0, 2, 4}, 32, kUnknown, kUnknown, kUnknown},
      {"GH200-144GB", "3g.72gb", kUnknown, 4, 2, {0, 4}, kUnknown, kUnknown, kUnknown, kUnknown},
      {"GH200-144GB", "4g.72gb", kUnknown, 4, 1, {0}, kUnknown, kUnknown, kUnknown, kUnknown},
      {"GH200-144GB", "7g.144gb", kUnknown, 8, 1, {0}, kUnknown, kUnknown, kUnknown, kUnknown},
  });
}

TEST(CatalogReferenceTest, B200) {
  // 22.00 GiB -> 22528 (first driver), 44.25 -> 45312; CE from lgip (2g: 4) else the guide.
  CheckRows({
      {"B200", "1g.23gb", 19, 1, 7, kFirst7, 18, 22528, 2, kUnknown},
      {"B200", "1g.23gb+me", 20, 1, 1, kFirst7, 18, 22528, 2, kUnknown},
      {"B200", "1g.45gb", 15, 2, 4, kEvens, 30, 45312, 2, kUnknown},
      {"B200", "2g.45gb", 14, 2, 3, {0, 2, 4}, 36, 45312, 4, kUnknown},
      {"B200", "3g.90gb", 9, 4, 2, {0, 4}, kUnknown, kUnknown, 6, kUnknown},
      {"B200", "4g.90gb", 5, 4, 1, {0}, kUnknown, kUnknown, 8, kUnknown},
      {"B200", "7g.180gb", 0, 8, 1, {0}, kUnknown, kUnknown, 16, kUnknown},
  });
  EXPECT_TRUE(FindModel("B200")->FindProfile("1g.45gb")->double_memory);
}

TEST(CatalogReferenceTest, GB200) {
  // 1g.23gb 22.00 GiB -> 22528; 1g.47gb 45.50 GiB -> 46592, 32 SM; 2g.47gb 38 SM, CE 4.
  CheckRows({
      {"GB200", "1g.23gb", 19, 1, 7, kFirst7, 18, 22528, kUnknown, kUnknown},
      {"GB200", "1g.23gb+me", 20, 1, 1, kFirst7, kUnknown, kUnknown, kUnknown, kUnknown},
      {"GB200", "1g.47gb", 15, 2, 4, kEvens, 32, 46592, kUnknown, kUnknown},
      {"GB200", "2g.47gb", 14, 2, 3, {0, 2, 4}, 38, kUnknown, 4, kUnknown},
      {"GB200", "3g.93gb", 9, 4, 2, {0, 4}, kUnknown, kUnknown, kUnknown, kUnknown},
      {"GB200", "4g.93gb", 5, 4, 1, {0}, kUnknown, kUnknown, kUnknown, kUnknown},
      {"GB200", "7g.186gb", 0, 8, 1, {0}, kUnknown, kUnknown, kUnknown, kUnknown},
  });
}

TEST(CatalogReferenceTest, B300AndGB300AreKnownOnlyByNamesAndCounts) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> want = {
      {"B300", {"1g.34gb", "1g.34gb+me", "1g.67gb", "2g.67gb", "3g.135gb", "4g.135gb", "7g.269gb"}},
      {"GB300", {"1g.35gb", "1g.35gb+me", "1g.70gb", "2g.70gb", "3g.139gb", "4g.139gb", "7g.278gb"}},
  };
  for (const auto& [name, profiles] : want) {
    const GpuModel& m = *FindModel(name);
    EXPECT_THAT(ProfileNames(m), ElementsAreArray(profiles));
    std::vector<int> max;
    for (const Profile& p : m.profiles) {
      max.push_back(p.max_count);
      EXPECT_EQ(p.UnknownFields().size(), 5u) << name << " " << p.name;
    }
    EXPECT_THAT(max, ElementsAre(7, 1, 4, 3, 2, 1, 1)) << name;
    EXPECT_TRUE(m.profiles[2].double_memory) << name;
  }
}

TEST(CatalogReferenceTest, RtxPro6000On12Units) {
  const GpuModel& m = *FindModel("RTX-PRO-6000");
  const std::vector<int> q = {0, 3, 6, 9};
  // 1g.24gb 23.62 GiB -> 24192; 4g.96gb 95.12 GiB -> 97408; other memory figures not captured.
  CheckRows({
      {"RTX-PRO-6000", "1g.24gb", 14, 3, 4, q, 46, 24192, 1, E4{1, 1, 1, 0}},
      {"RTX-PRO-6000", "1g.24gb+me", 21, 3, 1, q, 46, kUnknown, 1, E4{1, 1, 1, 1}},
      {"RTX-PRO-6000", "1g.24gb+gfx", 47, 3, 4, q, 46, kUnknown, 1, E4{1, 1, 1, 0}},
      {"RTX-PRO-6000", "1g.24gb+me.all", 65, 3, 1, q, 46, kUnknown, 1, E4{4, 4, 4, 1}},
      {"RTX-PRO-6000", "1g.24gb-me", 67, 3, 4, q, 46, kUnknown, 1, E4{0, 0, 0, 0}},
      {"RTX-PRO-6000", "2g.48gb", 5, 6, 2, {0, 6}, 94, kUnknown, 2, E4{2, 2, 2, 0}},
      {"RTX-PRO-6000", "2g.48gb+gfx", 35, 6, 2, {0, 6}, 94, kUnknown, 2, E4{2, 2, 2, 0}},
      {"RTX-PRO-6000", "2g.48gb+me.all", 64, 6, 1, {0, 6}, 94, kUnknown, 2, E4{4, 4, 4, 1}},
      {"RTX-PRO-6000", "2g.48gb-me", 66, 6, 2, {0, 6}, 94, kUnknown, 2, E4{0, 0, 0, 0}},
      {"RTX-PRO-6000", "4g.96gb", 0, 12, 1, {0}, 188, 97408, 4, E4{4, 4, 4, 1}},
      {"RTX-PRO-6000", "4g.96gb+gfx", 32, 12, 1, {0}, 188, kUnknown, 4, E4{4, 4, 4, 1}},
  });
  // §2.3: the IDs in catalog order.
  std::vector<int> ids;
  for (const Profile& p : m.profiles) ids.push_back(p.device_profile_id.value_or(-1));
  EXPECT_THAT(ids, UnorderedElementsAreArray({14, 21, 47, 65, 67, 5, 35, 64, 66, 0, 32}));
  EXPECT_EQ(m.profiles.size(), 11u);
  EXPECT_EQ(m.FullProfile()->name, "4g.96gb");
  EXPECT_EQ(m.FindProfile("1g.24gb+me.all")->media, MediaAttr::kMeAll);
  EXPECT_EQ(m.FindProfile("2g.48gb-me")->media, MediaAttr::kNoMe);
  EXPECT_TRUE(m.FindProfile("4g.96gb+gfx")->gfx);
}

TEST(CatalogReferenceTest, RtxPro5000And4500OnAnInferredGrid) {
  const GpuModel& m5 = *FindModel("RTX-PRO-5000");
  EXPECT_THAT(ProfileNames(m5), ElementsAre("1g.24gb", "1g.24gb+gfx", "1g.24gb+me", "1g.24gb+me.all",
                                            "1g.24gb-me", "2g.48gb", "2g.48gb+gfx"));
  const GpuModel& m45 = *FindModel("RTX-PRO-4500");
  EXPECT_THAT(ProfileNames(m45), ElementsAre("1g.16gb", "1g.16gb+gfx", "1g.16gb+me.all", "1g.16gb-me",
                                             "2g.32gb", "2g.32gb+gfx"));
  // Max counts from N2: 1g x2 (+me, +me.all x1), 2g x1.
  CheckRows({
      {"RTX-PRO-5000", "1g.24gb", kUnknown, 1, 2, {0, 1}},
      {"RTX-PRO-5000", "1g.24gb+me", kUnknown, 1, 1, {0, 1}},
      {"RTX-PRO-5000", "1g.24gb+gfx", kUnknown, 1, 2, {0, 1}},
      {"RTX-PRO-5000", "1g.24gb+me.all", kUnknown, 1, 1, {0, 1}},
      {"RTX-PRO-5000", "1g.24gb-me", kUnknown, 1, 2, {0, 1}},
      {"RTX-PRO-5000", "2g.48gb", kUnknown, 2, 1, {0}},
      {"RTX-PRO-5000", "2g.48gb+gfx", kUnknown, 2, 1, {0}},
      {"RTX-PRO-4500", "1g.16gb", kUnknown, 1, 2, {0, 1}},
      {"RTX-PRO-4500", "1g.16gb+gfx", kUnknown, 1, 2, {0, 1}},
      {"RTX-PRO-4500", "1g.16gb+me.all", kUnknown, 1, 1, {0, 1}},
      {"RTX-PRO-4500", "1g.16gb-me", kUnknown, 1, 2, {0, 1}},
      {"RTX-PRO-4500", "2g.32gb", kUnknown, 2, 1, {0}},
      {"RTX-PRO-4500", "2g.32gb+gfx", kUnknown, 2, 1, {0}},
  });
  EXPECT_THAT(m5.notes, HasSubstr("inferred"));
  EXPECT_THAT(m45.notes, HasSubstr("inferred"));
}

TEST(CatalogReferenceTest, IdsOfTheSevenSliceFamily) {
  // §2.3: 1g=19, 1g+me=20, 1g double=15, 2g=14, 3g=9, 4g=5, 7g=0 on A100/H100/H200/B200/GB200.
  for (const char* name :
       {"A100-40GB", "A100-80GB", "H100-80GB", "H100-94GB", "H200-141GB", "B200", "GB200"}) {
    std::vector<int> ids;
    for (const Profile& p : FindModel(name)->profiles) ids.push_back(p.device_profile_id.value());
    EXPECT_THAT(ids, ElementsAre(19, 20, 15, 14, 9, 5, 0)) << name;
  }
}

}  // namespace
}  // namespace gpuslice::mig
