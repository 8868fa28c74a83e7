#include "cli/mig_commands.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>

#include "api/mig_json.h"
#include "cli/table.h"
#include "common/read_file.h"
#include "common/units.h"
#include "mig/catalog.h"
#include "mig/layout.h"
#include "mig/mig_parted.h"
#include "mig/yaml_guard.h"

namespace gpuslice::cli {
namespace {

using nlohmann::json;

constexpr int kExitNo = 1;     // a well-formed question answered "no"
constexpr int kExitUsage = 2;  // bad input

// Dumps for people and scripts. Messages echo user input, which may not be UTF-8: replace
// invalid bytes rather than throw.
std::string Dump(const json& j) {
  return j.dump(2, ' ', false, json::error_handler_t::replace);
}

int ExitFor(const Error& e) {
  return e.code == ErrorCode::kResourceExhausted || e.code == ErrorCode::kFailedPrecondition ? kExitNo
                                                                                             : kExitUsage;
}

// `mig check`: every reason a named layout is not legal is a "no" (exit 1); only a profile the
// model does not have is bad input (exit 2).
int CheckExit(const Error& e) {
  return e.code == ErrorCode::kNotFound ? kExitUsage : kExitNo;
}

int Report(const Error& e, const MigOptions& o, std::ostream& out, std::ostream& err) {
  if (o.json) {
    out << Dump({{"error", {{"code", ErrorCodeName(e.code)}, {"message", e.message}}}}) << '\n';
  } else {
    err << "gpuslice: " << e.message << '\n';
  }
  return ExitFor(e);
}

std::string Opt(const std::optional<int>& v) {
  return v ? std::to_string(*v) : "?";
}

std::string StartsText(const mig::Profile& p) {
  return fmt::format("{{{}}}:{}", fmt::join(p.starts, ","), p.size_units);
}

std::string EnginesText(const mig::Profile& p) {
  if (!p.media_engines) return "?";
  const mig::MediaEngines& e = *p.media_engines;
  return fmt::format("{}/{}/{}/{}", e.decoders, e.encoders, e.jpeg, e.ofa);
}

// A GPU model with its geometry, for commands that work on one model.
struct ModelGeometry {
  mig::ResolvedGpu gpu;
  std::unique_ptr<mig::Geometry> geometry;
};

Result<ModelGeometry> LoadGeometry(const std::string& name) {
  if (name.empty())
    return Fail(ErrorCode::kInvalidArgument, "--gpu MODEL is required (see `gpuslice mig gpus`)");
  Result<mig::ResolvedGpu> gpu = mig::Catalog::BuiltIn().Resolve(name);
  if (!gpu) return Fail(gpu.error());
  Result<mig::Geometry> g = mig::Geometry::Build(*gpu->model);
  if (!g) return Fail(g.error());
  return ModelGeometry{*gpu, std::make_unique<mig::Geometry>(std::move(*g))};
}

std::string ModelTitle(const mig::ResolvedGpu& gpu) {
  const mig::GpuModel& m = *gpu.model;
  std::string title = m.name;
  if (gpu.sku != nullptr && gpu.sku->name != m.name) title += fmt::format(" ({})", gpu.sku->name);
  if (!m.mig_capable) return title + ": no MIG";
  return fmt::format("{}: {} memory units, {} compute slices{}", title, m.memory_units, m.compute_slices,
                     m.placements == mig::Provenance::kInferred ? ", placements inferred" : "");
}

// One letter per instance over the unit grid: "aabbcccc", '.' for a free unit.
std::string UnitMap(const mig::Geometry& g, const mig::Layout& layout) {
  std::string map(static_cast<std::size_t>(g.model().memory_units), '.');
  char letter = 'a';
  for (const mig::Placement& p : layout) {
    const int size = g.model().profiles[static_cast<std::size_t>(p.profile)].size_units;
    for (int u = p.start; u < p.start + size; ++u) map[static_cast<std::size_t>(u)] = letter;
    letter = letter == 'z' ? 'a' : static_cast<char>(letter + 1);
  }
  return map;
}

}  // namespace

int RunMigGpus(const MigOptions& o, std::ostream& out, std::ostream&) {
  const auto models = mig::Catalog::BuiltIn().models();
  if (o.json) {
    json list = json::array();
    for (const mig::GpuModel& m : models) list.push_back(api::ModelToJson(m, /*with_profiles=*/false));
    out << Dump({{"count", models.size()}, {"gpus", std::move(list)}}) << '\n';
    return 0;
  }
  Table t({"MODEL", "ARCH", "MIG", "GRID", "PROFILES", "PCI IDS", "PLACEMENTS", "UNKNOWN"});
  for (const mig::GpuModel& m : models) {
    std::vector<std::string> ids;
    for (std::uint32_t id : m.pci_ids) ids.push_back(fmt::format("0x{:08X}", id));
    int unknown = 0;
    std::vector<std::string> kinds;
    for (const mig::Profile& p : m.profiles) {
      for (std::string_view f : p.UnknownFields()) {
        ++unknown;
        if (std::find(kinds.begin(), kinds.end(), f) == kinds.end()) kinds.emplace_back(f);
      }
    }
    t.AddRow({m.name, std::string(mig::ArchitectureName(m.architecture)), m.mig_capable ? "yes" : "no",
              m.mig_capable ? fmt::format("{}u/{}c", m.memory_units, m.compute_slices) : "-",
              m.mig_capable ? std::to_string(m.profiles.size()) : "-",
              ids.empty() ? "-" : fmt::format("{}", fmt::join(ids, ",")),
              m.mig_capable ? std::string(mig::ProvenanceName(m.placements)) : "-",
              unknown == 0 ? "-" : fmt::format("{} ({})", unknown, fmt::join(kinds, ", "))});
  }
  out << t.Render();
  out << "\nGRID: memory units / compute slices. PLACEMENTS inferred: starts not captured on that model's\n"
         "hardware, taken from a sibling with the same profile ids and fractions. UNKNOWN: catalog facts "
         "the\n"
         "reference does not confirm; `gpuslice mig profiles --gpu MODEL` shows them as '?'.\n";
  return 0;
}

int RunMigProfiles(const MigOptions& o, std::ostream& out, std::ostream& err) {
  if (o.gpu.empty()) return Report({ErrorCode::kInvalidArgument, "--gpu MODEL is required"}, o, out, err);
  Result<mig::ResolvedGpu> gpu = mig::Catalog::BuiltIn().Resolve(o.gpu);
  if (!gpu) return Report(gpu.error(), o, out, err);
  const mig::GpuModel& m = *gpu->model;
  if (o.json) {
    out << Dump(api::ModelToJson(m, /*with_profiles=*/true)) << '\n';
    return 0;
  }
  out << ModelTitle(*gpu) << '\n';
  if (!m.mig_capable) {
    out << m.name << " has no MIG: gpuslice schedules it as whole GPUs only.\n";
    return 0;
  }
  Table t({"PROFILE", "ID", "SLICES", "UNITS", "MEMORY", "SMS", "CE", "DEC/ENC/JPG/OFA", "MAX", "PLACEMENTS",
           "COST"});
  for (const mig::Profile& p : m.profiles) {
    t.AddRow({p.name, Opt(p.device_profile_id), std::to_string(p.compute_slices),
              std::to_string(p.size_units), p.memory ? FormatMemory(*p.memory) : "?", Opt(p.sm_count),
              Opt(p.copy_engines), EnginesText(p), std::to_string(p.max_count), StartsText(p),
              fmt::format("{} mGPU", m.Cost(p).value())});
  }
  out << t.Render();
  if (!m.notes.empty()) out << "\nNote: " << m.notes << '\n';
  return 0;
}

int RunMigLayouts(const MigOptions& o, std::ostream& out, std::ostream& err) {
  Result<ModelGeometry> mg = LoadGeometry(o.gpu);
  if (!mg) return Report(mg.error(), o, out, err);
  const mig::Geometry& g = *mg->geometry;
  mig::EnumerateOptions options;
  options.maximal_only = o.maximal;
  for (const std::string& name : o.profiles) {
    const int q = g.model().ProfileIndex(name);
    if (q < 0) {
      std::vector<std::string> known;
      for (const mig::Profile& p : g.model().profiles) known.push_back(p.name);
      return Report({ErrorCode::kNotFound, fmt::format("{} has no profile '{}' (profiles: {})",
                                                       g.model().name, name, fmt::join(known, ", "))},
                    o, out, err);
    }
    options.profiles.push_back(q);
  }
  const std::vector<mig::Layout> layouts = g.Enumerate(options);
  const std::size_t shown =
      o.limit ? std::min<std::size_t>(layouts.size(), static_cast<std::size_t>(std::max(*o.limit, 0)))
              : layouts.size();
  if (o.json) {
    json list = json::array();
    for (std::size_t i = 0; i < shown; ++i) list.push_back(api::LayoutToJson(g, layouts[i]));
    out << Dump({{"gpu", g.model().name},
                 {"maximal", o.maximal},
                 {"count", layouts.size()},
                 {"layouts", std::move(list)}})
        << '\n';
    return 0;
  }
  out << ModelTitle(mg->gpu) << '\n';
  Table t({"#", "UNITS", "SLICES", "INSTANCES"});
  for (std::size_t i = 0; i < shown; ++i) {
    int slices = 0;
    for (const mig::Placement& p : layouts[i])
      slices += g.model().profiles[static_cast<std::size_t>(p.profile)].compute_slices;
    t.AddRow({std::to_string(i + 1), UnitMap(g, layouts[i]),
              fmt::format("{}/{}", slices, g.model().compute_slices), g.Describe(layouts[i])});
  }
  out << t.Render();
  out << fmt::format("{} {}layout{}{}\n", layouts.size(), o.maximal ? "maximal " : "",
                     layouts.size() == 1 ? "" : "s",
                     shown < layouts.size() ? fmt::format(" ({} shown)", shown) : "");
  return 0;
}

int RunMigCheck(const MigOptions& o, std::ostream& out, std::ostream& err) {
  Result<ModelGeometry> mg = LoadGeometry(o.gpu);
  if (!mg) return Report(mg.error(), o, out, err);
  const mig::Geometry& g = *mg->geometry;
  if (o.specs.empty()) {
    return Report({ErrorCode::kInvalidArgument, "give at least one instance, as PROFILE or PROFILE@START"}, o,
                  out, err);
  }
  std::vector<mig::PlacementSpec> specs;
  for (const std::string& s : o.specs) {
    Result<mig::PlacementSpec> spec = mig::ParsePlacementSpec(s);
    if (!spec) return Report(spec.error(), o, out, err);
    specs.push_back(std::move(*spec));
  }
  Result<mig::Layout> layout = mig::ResolvePlacementSpecs(g, specs);
  if (!layout) {
    if (o.json) {
      out << Dump({{"gpu", g.model().name}, {"valid", false}, {"reason", layout.error().message}}) << '\n';
      return CheckExit(layout.error());
    }
    err << "invalid on " << g.model().name << ": " << layout.error().message << '\n';
    return CheckExit(layout.error());
  }
  if (o.json) {
    out << Dump({{"gpu", g.model().name}, {"valid", true}, {"placements", api::LayoutToJson(g, *layout)}})
        << '\n';
    return 0;
  }
  out << "valid on " << ModelTitle(mg->gpu) << '\n';
  out << "  " << UnitMap(g, *layout) << "  " << g.Describe(*layout) << '\n';
  return 0;
}

int RunMigResolve(const MigOptions& o, std::ostream& out, std::ostream& err) {
  Result<ModelGeometry> mg = LoadGeometry(o.gpu);
  if (!mg) return Report(mg.error(), o, out, err);
  const mig::Geometry& g = *mg->geometry;
  mig::SizeRequest request;
  if (!o.memory.empty()) {
    Result<MiB> mem = ParseMemory(o.memory);
    if (!mem) return Report(mem.error(), o, out, err);
    request.memory = *mem;
  }
  request.compute_slices = o.compute;
  if (o.media == "some") {
    request.media = mig::SizeRequest::Media::kAtLeastOne;
  } else if (o.media == "all") {
    request.media = mig::SizeRequest::Media::kAll;
  } else if (o.media != "any") {
    return Report(
        {ErrorCode::kInvalidArgument, fmt::format("--media must be any, some or all, not '{}'", o.media)}, o,
        out, err);
  }
  request.gfx = o.gfx;
  Result<int> q = g.ResolveSize(request);
  if (!q) return Report(q.error(), o, out, err);
  const mig::Profile& p = g.model().profiles[static_cast<std::size_t>(*q)];
  if (o.json) {
    out << Dump({{"gpu", g.model().name}, {"profile", api::ProfileToJson(g.model(), p)}}) << '\n';
    return 0;
  }
  out << fmt::format("{} on {}: {} compute slice{}, {}, {} milli-GPU\n", p.name, g.model().name,
                     p.compute_slices, p.compute_slices == 1 ? "" : "s",
                     p.memory ? FormatMemory(*p.memory) : "memory unknown", g.model().Cost(p).value());
  return 0;
}

namespace {

// "A100-SXM4-40GB:8,H100-80GB:2" -> GPUs 0..9 of one node.
Result<std::vector<mig::PlanGpu>> ParseGpuList(const std::string& text) {
  constexpr int kMaxGpus = 1024;
  std::vector<mig::PlanGpu> gpus;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::string name = item;
    int count = 1;
    if (const auto colon = item.rfind(':'); colon != std::string::npos) {
      name = item.substr(0, colon);
      const std::string n = item.substr(colon + 1);
      if (n.empty() || n.size() > 4 || n.find_first_not_of("0123456789") != std::string::npos ||
          (count = std::stoi(n)) < 1 || count > kMaxGpus) {
        return Fail(ErrorCode::kInvalidArgument, "'{}': the count after ':' must be 1 to {}", item, kMaxGpus);
      }
    }
    Result<mig::ResolvedGpu> gpu = mig::Catalog::BuiltIn().Resolve(name);
    if (!gpu) return Fail(gpu.error());
    for (int i = 0; i < count; ++i) {
      if (gpus.size() >= static_cast<std::size_t>(kMaxGpus)) {
        return Fail(ErrorCode::kInvalidArgument, "at most {} GPUs per plan", kMaxGpus);
      }
      gpus.push_back({static_cast<int>(gpus.size()), *gpu});
    }
  }
  if (gpus.empty()) return Fail(ErrorCode::kInvalidArgument, "--gpu needs MODEL[:COUNT][,MODEL...]");
  return gpus;
}

}  // namespace

int RunMigPlan(const MigOptions& o, std::ostream& out, std::ostream& err) {
  if (o.file.empty() || o.config.empty()) {
    return Report({ErrorCode::kInvalidArgument, "plan needs -f FILE and -c CONFIG"}, o, out, err);
  }
  Result<std::vector<mig::PlanGpu>> gpus = ParseGpuList(o.gpu);
  if (!gpus) return Report(gpus.error(), o, out, err);
  Result<std::string> text = ReadFile(o.file, mig::kMaxYamlInputBytes + 1);
  if (!text) return Report(text.error(), o, out, err);
  Result<mig::MigPartedConfig> config = mig::ParseMigPartedConfig(*text);
  if (!config) return Report(config.error().WithContext(o.file), o, out, err);
  Result<std::vector<mig::GpuPlan>> plans = mig::PlanConfig(*config, o.config, *gpus);
  if (!plans) return Report(plans.error(), o, out, err);
  if (o.json) {
    json list = json::array();
    for (const mig::GpuPlan& p : *plans) list.push_back(api::GpuPlanToJson(p));
    out << Dump({{"config", o.config}, {"gpus", std::move(list)}}) << '\n';
    return 0;
  }
  out << fmt::format("config '{}' from {} on {} GPU{}\n", o.config, o.file, plans->size(),
                     plans->size() == 1 ? "" : "s");
  Table t({"GPU", "MODEL", "MIG", "UNITS", "INSTANCES"});
  for (const mig::GpuPlan& p : *plans) {
    if (!p.matched) {
      t.AddRow(
          {std::to_string(p.index), p.gpu.model->name, "-", "", "untouched: no entry of the config applies"});
      continue;
    }
    if (!p.mig_enabled) {
      t.AddRow({std::to_string(p.index), p.gpu.model->name, "off", "", "MIG disabled (whole GPU)"});
      continue;
    }
    Result<mig::Geometry> g = mig::Geometry::Build(*p.gpu.model);
    if (!g) return Report(g.error(), o, out, err);
    t.AddRow({std::to_string(p.index), p.gpu.model->name, "on", UnitMap(*g, p.placements),
              p.placements.empty() ? "(no instances)" : g->Describe(p.placements)});
  }
  out << t.Render();
  return 0;
}

void AddMigCommands(CLI::App& app, int* exit_code) {
  CLI::App* mig = app.add_subcommand(
      "mig", "Inspect MIG geometry: GPU models, profiles, legal layouts, mig-parted configs");
  mig->require_subcommand(1);
  auto opts = std::make_shared<MigOptions>();
  auto add = [&](const char* name, const char* help,
                 int (*run)(const MigOptions&, std::ostream&, std::ostream&)) {
    CLI::App* c = mig->add_subcommand(name, help);
    c->add_flag("--json", opts->json, "Print JSON (shapes in docs/cli-json.md)");
    c->callback([opts, run, exit_code] { *exit_code = run(*opts, std::cout, std::cerr); });
    return c;
  };
  add("gpus", "List the GPU models gpuslice knows, and which of their facts are unknown", RunMigGpus);

  CLI::App* profiles = add("profiles", "List every MIG profile of a GPU model", RunMigProfiles);
  profiles->add_option("--gpu", opts->gpu, "GPU model, SKU or alias (e.g. A100-SXM4-40GB, h100-80gb)")
      ->required();

  CLI::App* layouts = add("layouts", "Enumerate the legal MIG layouts of one GPU", RunMigLayouts);
  layouts->add_option("--gpu", opts->gpu, "GPU model, SKU or alias")->required();
  layouts->add_flag("--maximal", opts->maximal, "Only layouts to which no further instance can be added");
  layouts->add_option("--profiles", opts->profiles, "Use only these profiles (comma-separated)")
      ->delimiter(',');
  layouts->add_option("--limit", opts->limit, "Show at most N layouts (the count is still the total)");

  CLI::App* check =
      add("check", "Check that instances fit one GPU; a missing @START is chosen for you", RunMigCheck);
  check->add_option("--gpu", opts->gpu, "GPU model, SKU or alias")->required();
  check->add_option("instances", opts->specs, "PROFILE[@START] ... e.g. 3g.20gb@4 2g.10gb@0 1g.5gb")
      ->required();

  CLI::App* resolve = add("resolve", "Find the smallest profile that holds a size request", RunMigResolve);
  resolve->add_option("--gpu", opts->gpu, "GPU model, SKU or alias")->required();
  resolve->add_option("--memory", opts->memory, "At least this much memory: 20GiB, 512MiB, 40GB");
  resolve->add_option("--compute", opts->compute, "At least this many compute slices")
      ->check(CLI::Range(0, 64));
  resolve->add_option("--media", opts->media, "Media engines needed: any (default), some, all");
  resolve->add_flag("--gfx", opts->gfx, "Needs a graphics-capable (+gfx) profile");

  CLI::App* plan = add("plan", "Expand a mig-parted config into explicit placements per GPU", RunMigPlan);
  plan->add_option("-f,--file", opts->file, "mig-parted config file (version: v1)")->required();
  plan->add_option("-c,--config", opts->config, "Name of the config under mig-configs")->required();
  plan->add_option("--gpu", opts->gpu, "The node's GPUs in index order: MODEL[:COUNT][,MODEL[:COUNT]...]")
      ->required();
}

}  // namespace gpuslice::cli
