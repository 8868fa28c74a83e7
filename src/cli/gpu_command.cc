#include "cli/gpu_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "cli/client_commands.h"
#include "cli/table.h"
#include "common/units.h"
#include "gpu/nvml_backend.h"
#include "gpu/sim_backend.h"

namespace gpuslice::cli {
namespace {

using gpu::GpuBackend;
using gpu::GpuError;
using gpu::GpuErrorKind;
using gpu::GpuResult;
using nlohmann::json;

constexpr int kExitUnavailable = 1;
constexpr int kExitUsage = 2;

std::string Dump(const json& j) {
  return j.dump(2, ' ', false, json::error_handler_t::replace);
}

int ExitFor(const GpuError& e) {
  switch (e.kind) {
    case GpuErrorKind::kInvalidArgument:
    case GpuErrorKind::kNotFound:
    case GpuErrorKind::kState: return kExitUsage;
    default: return kExitUnavailable;
  }
}

int Report(const GpuError& e, const GpuInspectOptions& o, std::ostream& out, std::ostream& err) {
  if (o.json) {
    out << Dump({{"error",
                  {{"code", ErrorCodeName(e.error.code)},
                   {"kind", gpu::GpuErrorKindName(e.kind)},
                   {"message", e.error.message}}}})
        << '\n';
  } else {
    err << "gpuslice gpu inspect: " << e.error.message << '\n';
  }
  return ExitFor(e);
}

GpuResult<std::unique_ptr<GpuBackend>> OpenBackend(const GpuInspectOptions& o) {
  if (o.backend == "nvml") {
    GpuResult<std::unique_ptr<gpu::NvmlBackend>> b =
        gpu::NvmlBackend::Open({.library_path = o.nvml_library, .read_only = true});
    if (!b) return gpu::GpuFail(b.error());
    return std::unique_ptr<GpuBackend>(std::move(*b));
  }
  if (o.backend == "sim") {
    if (o.sim_gpus.empty() && o.sim_state.empty()) {
      return gpu::GpuFail(GpuErrorKind::kInvalidArgument,
                          "--backend sim needs --sim-gpus SPEC or --sim-state FILE");
    }
    GpuResult<std::unique_ptr<gpu::SimBackend>> b =
        gpu::SimBackend::Open({.gpus = o.sim_gpus, .state_file = o.sim_state, .read_only = true});
    if (!b) return gpu::GpuFail(b.error());
    return std::unique_ptr<GpuBackend>(std::move(*b));
  }
  return gpu::GpuFail(GpuErrorKind::kInvalidArgument, "--backend is nvml or sim, not '{}'", o.backend);
}

json ProfileJson(const gpu::GpuProfile& p) {
  json placements = json::array();
  for (const gpu::UnitRange& r : p.placements) placements.push_back({{"start", r.start}, {"size", r.size}});
  return {{"id", p.profile_id},
          {"name", p.name},
          {"compute_slices", p.compute_slices},
          {"max_count", p.max_count},
          {"memory_mib", p.memory.value()},
          {"sm_count", p.sm_count},
          {"copy_engines", p.copy_engines},
          {"decoders", p.decoders},
          {"encoders", p.encoders},
          {"jpeg", p.jpeg},
          {"ofa", p.ofa},
          {"placements", std::move(placements)}};
}

json ProcessJson(const gpu::GpuProcess& p) {
  return {{"pid", p.pid},
          {"memory_used_mib", p.memory_used.value()},
          {"gpu_instance_id", p.gpu_instance_id < 0 ? json(nullptr) : json(p.gpu_instance_id)},
          {"compute_instance_id", p.compute_instance_id < 0 ? json(nullptr) : json(p.compute_instance_id)}};
}

json InstanceJson(GpuBackend& b, int index, const gpu::Instance& in,
                  const std::vector<gpu::GpuProcess>& procs, json& errors) {
  json j = {
      {"gpu_instance_id", in.gpu_instance_id},
      {"compute_instance_id", in.compute_instance_id < 0 ? json(nullptr) : json(in.compute_instance_id)},
      {"profile_id", in.profile_id},
      {"profile", in.profile},
      {"start", in.placement.start},
      {"size", in.placement.size},
      {"mig_uuid", in.mig_uuid.empty() ? json(nullptr) : json(in.mig_uuid)},
      {"memory_used_mib", nullptr},
      {"memory_total_mib", nullptr},
      {"activity_percent", nullptr},
      {"activity_note", ""}};
  if (GpuResult<gpu::InstanceUsage> u = b.Usage(index, in.gpu_instance_id); u) {
    j["memory_used_mib"] = u->memory_used.value();
    j["memory_total_mib"] = u->memory_total.value();
    if (u->activity_percent) j["activity_percent"] = *u->activity_percent;
    j["activity_note"] = u->activity_note;
  } else {
    errors.push_back(
        fmt::format("usage of GPU instance {}: {}", in.gpu_instance_id, u.error().error.message));
  }
  json list = json::array();
  for (const gpu::GpuProcess& p : procs) {
    if (p.gpu_instance_id == in.gpu_instance_id) list.push_back(ProcessJson(p));
  }
  j["processes"] = std::move(list);
  return j;
}

// Everything the backend tells about one GPU; what it cannot tell goes to "errors".
json GpuJson(GpuBackend& b, const gpu::GpuInfo& g) {
  json errors = json::array();
  json j = {{"index", g.index},
            {"name", g.name},
            {"uuid", g.uuid},
            {"pci_bus_id", g.pci_bus_id},
            {"pci_device_id", fmt::format("0x{:08X}", g.pci_device_id)},
            {"memory_mib", g.memory_total.value()},
            {"mig_capable", g.mig_capable},
            {"mig", {{"current", g.mig.current}, {"pending", g.mig.pending}}},
            {"health", {{"state", gpu::HealthStateName(g.health.state)}, {"detail", g.health.detail}}},
            {"memory_units", nullptr},
            {"profiles", json::array()},
            {"instances", json::array()},
            {"processes", json::array()}};
  const bool lost = g.health.state == gpu::HealthState::kLost;
  if (g.mig_capable && !lost) {
    if (GpuResult<gpu::GpuGeometry> geo = b.Geometry(g.index); geo) {
      j["memory_units"] = geo->memory_units;
      for (const gpu::GpuProfile& p : geo->profiles) j["profiles"].push_back(ProfileJson(p));
    } else {
      errors.push_back("profiles: " + geo.error().error.message);
    }
  }
  std::vector<gpu::GpuProcess> procs;
  if (!lost) {
    if (GpuResult<std::vector<gpu::GpuProcess>> p = b.Processes(g.index); p) {
      procs = std::move(*p);
    } else if (p.error().kind != GpuErrorKind::kNotSupported) {
      errors.push_back("processes: " + p.error().error.message);
    }
  }
  if (g.mig_capable && g.mig.current && !lost) {
    if (GpuResult<std::vector<gpu::Instance>> all = b.Instances(g.index); all) {
      for (const gpu::Instance& in : *all)
        j["instances"].push_back(InstanceJson(b, g.index, in, procs, errors));
    } else {
      errors.push_back("instances: " + all.error().error.message);
    }
  }
  for (const gpu::GpuProcess& p : procs) {
    if (p.gpu_instance_id < 0) j["processes"].push_back(ProcessJson(p));
  }
  j["errors"] = std::move(errors);
  return j;
}

// Activity from GPM (NvmlBackend on Hopper and later) is measured between two samples >= 100 ms
// apart, and inspect runs once: a first Usage of every instance takes the first samples, and one
// wait covers them all, so the report's Usage calls measure. Backends that answer at once (the
// sim) or cannot measure (Ampere) ask for no wait, and none is made.
void StartActivityMeasurement(GpuBackend& b, const std::vector<gpu::GpuInfo>& gpus) {
  constexpr std::chrono::milliseconds kMaxWait{1000};  // whatever a backend asks for
  constexpr std::chrono::milliseconds kMargin{10};     // a sleep is no exact clock
  std::chrono::milliseconds wait{0};
  for (const gpu::GpuInfo& g : gpus) {
    if (!g.mig_capable || !g.mig.current || g.health.state == gpu::HealthState::kLost) continue;
    GpuResult<std::vector<gpu::Instance>> all = b.Instances(g.index);
    if (!all) continue;  // the report says why
    for (const gpu::Instance& in : *all) {
      if (GpuResult<gpu::InstanceUsage> u = b.Usage(g.index, in.gpu_instance_id); u)
        wait = std::max(wait, u->activity_retry_after);
    }
  }
  if (wait > std::chrono::milliseconds(0)) std::this_thread::sleep_for(std::min(wait, kMaxWait) + kMargin);
}

std::string Mib(const json& v) {
  return v.is_number() ? FormatMemory(MiB(v.get<std::int64_t>())) : "?";
}

std::string MigText(const json& g) {
  if (!g["mig_capable"].get<bool>()) return "no MIG";
  const bool current = g["mig"]["current"].get<bool>(), pending = g["mig"]["pending"].get<bool>();
  std::string s = current ? "MIG on" : "MIG off";
  if (current != pending) s += fmt::format(" (pending {} after a GPU reset)", pending ? "on" : "off");
  return s;
}

void PrintGpu(const json& g, std::ostream& out) {
  out << fmt::format("GPU {}: {}  {}  {}  {}  {}  health {}\n", g["index"].get<int>(),
                     g["name"].get<std::string>(), g["uuid"].get<std::string>(),
                     g["pci_bus_id"].get<std::string>(), Mib(g["memory_mib"]), MigText(g),
                     g["health"]["state"].get<std::string>());
  if (const std::string detail = g["health"]["detail"].get<std::string>(); !detail.empty()) {
    out << "  " << detail << '\n';
  }
  if (!g["profiles"].empty()) {
    Table t({"  PROFILE", "ID", "SLICES", "MEMORY", "MAX", "PLACEMENTS"});
    for (const json& p : g["profiles"]) {
      std::string starts;
      for (const json& r : p["placements"])
        starts += (starts.empty() ? "" : ",") + std::to_string(r["start"].get<int>());
      const int size = p["placements"].empty() ? 0 : p["placements"][0]["size"].get<int>();
      t.AddRow({"  " + p["name"].get<std::string>(), std::to_string(p["id"].get<int>()),
                std::to_string(p["compute_slices"].get<int>()), Mib(p["memory_mib"]),
                std::to_string(p["max_count"].get<int>()), fmt::format("{{{}}}:{}", starts, size)});
    }
    out << t.Render();
  }
  if (!g["instances"].empty()) {
    Table t({"  GI", "CI", "PROFILE", "PLACEMENT", "MIG UUID", "MEMORY USED", "ACTIVITY", "PROCESSES"});
    for (const json& in : g["instances"]) {
      std::string pids;
      for (const json& p : in["processes"])
        pids += (pids.empty() ? "" : ",") + std::to_string(p["pid"].get<std::uint32_t>());
      t.AddRow(
          {"  " + std::to_string(in["gpu_instance_id"].get<int>()),
           in["compute_instance_id"].is_null() ? "-" : std::to_string(in["compute_instance_id"].get<int>()),
           in["profile"].get<std::string>(),
           fmt::format("{}:{}", in["start"].get<int>(), in["size"].get<int>()),
           in["mig_uuid"].is_null() ? "-" : in["mig_uuid"].get<std::string>(),
           fmt::format("{} / {}", Mib(in["memory_used_mib"]), Mib(in["memory_total_mib"])),
           in["activity_percent"].is_null() ? "n/a" : fmt::format("{}%", in["activity_percent"].get<int>()),
           pids.empty() ? "-" : pids});
    }
    out << t.Render();
  } else if (g["mig_capable"].get<bool>() && g["mig"]["current"].get<bool>()) {
    out << "  no MIG instances\n";
  }
  for (const json& p : g["processes"]) {
    out << fmt::format("  process {} (whole GPU): {}\n", p["pid"].get<std::uint32_t>(),
                       Mib(p["memory_used_mib"]));
  }
  for (const json& e : g["errors"]) out << "  error: " << e.get<std::string>() << '\n';
}

}  // namespace

int RunGpuInspect(const GpuInspectOptions& o, std::ostream& out, std::ostream& err) {
  GpuResult<std::unique_ptr<GpuBackend>> backend = OpenBackend(o);
  if (!backend) return Report(backend.error(), o, out, err);
  GpuResult<std::vector<gpu::GpuInfo>> gpus = (*backend)->ListGpus();
  if (!gpus) return Report(gpus.error(), o, out, err);
  StartActivityMeasurement(**backend, *gpus);
  json list = json::array();
  for (const gpu::GpuInfo& g : *gpus) list.push_back(GpuJson(**backend, g));
  if (o.json) {
    out << Dump(
               {{"backend", (*backend)->kind()}, {"read_only", true}, {"count", list.size()}, {"gpus", list}})
        << '\n';
    return 0;
  }
  out << fmt::format("{} GPU{} ({} backend, read-only)\n", list.size(), list.size() == 1 ? "" : "s",
                     (*backend)->kind());
  for (const json& g : list) {
    out << '\n';
    PrintGpu(g, out);
  }
  return 0;
}

// `gpuslice gpu fault`: faults and a power cycle for simulated GPUs, through their state file, so a
// running agent (which re-reads the file) meets them as it would meet a failing driver.
struct GpuFaultOptions {
  std::string sim_state;
  int fail_creates = 0;
  int busy_destroys = 0;
  std::vector<int> lose;
  bool reboot = false;
};

int RunGpuFault(const GpuFaultOptions& o, std::ostream& out, std::ostream& err) {
  if (o.fail_creates < 0 || o.busy_destroys < 0) {
    err << "gpuslice gpu fault: --fail-creates and --busy-destroys must be >= 0\n";
    return 2;
  }
  if (!std::filesystem::exists(o.sim_state)) {
    err << "gpuslice gpu fault: no simulated-GPU state file " << o.sim_state
        << " (an agent with --backend sim --sim-state FILE creates it)\n";
    return 2;
  }
  auto sim = gpu::SimBackend::Open({.state_file = o.sim_state});
  if (!sim) {
    err << "gpuslice gpu fault: " << sim.error().error.message << '\n';
    return 2;
  }
  if (o.reboot) {
    if (auto r = (*sim)->Reboot(); !r) {
      err << "gpuslice gpu fault: " << r.error().error.message << '\n';
      return 1;
    }
    out << "power-cycled: instances and processes are gone; MIG mode as the architecture keeps it\n";
  }
  if (o.fail_creates == 0 && o.busy_destroys == 0 && o.lose.empty()) return 0;
  gpu::SimFaults faults{
      .fail_creates = o.fail_creates, .busy_destroys = o.busy_destroys, .lose_gpus = o.lose};
  if (auto r = (*sim)->InjectFaults(faults); !r) {
    err << "gpuslice gpu fault: " << r.error().error.message << '\n';
    return r.error().kind == gpu::GpuErrorKind::kNotFound ? 2 : 1;
  }
  out << fmt::format(
      "armed: the next {} instance creation(s) fail with insufficient resources, the next {} "
      "destroy(s) with in use",
      o.fail_creates, o.busy_destroys);
  for (const int g : o.lose) out << fmt::format("; GPU {} is lost", g);
  out << '\n';
  return 0;
}

void AddGpuFault(CLI::App* gpu, int* exit_code) {
  auto opts = std::make_shared<GpuFaultOptions>();
  CLI::App* fault = gpu->add_subcommand(
      "fault",
      "Simulated GPUs only: make the next creates or destroys fail, lose a GPU, or power-cycle, through the "
      "state file an agent runs on (gpuslice agent --backend sim --sim-state FILE)");
  fault->add_option("--sim-state", opts->sim_state, "The simulated GPUs' state file")->required();
  fault->add_option("--fail-creates", opts->fail_creates,
                    "The next N instance creations fail (NVML_ERROR_INSUFFICIENT_RESOURCES); replaces what "
                    "was armed");
  fault->add_option("--busy-destroys", opts->busy_destroys,
                    "The next N instance destroys fail (NVML_ERROR_IN_USE); replaces what was armed");
  fault->add_option("--lose", opts->lose, "Mark this GPU index lost (NVML_ERROR_GPU_IS_LOST; repeatable)");
  fault->add_flag("--reboot", opts->reboot, "Power-cycle the simulated node first");
  fault->callback([opts, exit_code] { *exit_code = RunGpuFault(*opts, std::cout, std::cerr); });
}

void AddGpuCommands(CLI::App& app, int* exit_code) {
  CLI::App* gpu = app.add_subcommand(
      "gpu", "GPUs: look at this machine's through a GPU backend (inspect), or set a cluster GPU's mode");
  gpu->require_subcommand(1);
  auto opts = std::make_shared<GpuInspectOptions>();
  CLI::App* inspect = gpu->add_subcommand(
      "inspect", "Read-only report: GPUs, MIG mode, profiles, placements, instances and their processes");
  inspect->add_option("--backend", opts->backend, "nvml (default: the NVIDIA driver) or sim (simulated GPUs)")
      ->check(CLI::IsMember({"nvml", "sim"}));
  inspect->add_option("--sim-gpus", opts->sim_gpus, "Simulated GPUs, e.g. A100-SXM4-80GB:2,H100-80GB:1");
  inspect->add_option("--sim-state", opts->sim_state, "SimBackend state file (read, never written)");
  inspect->add_option("--nvml-library", opts->nvml_library,
                      "NVML library to load (default: $GPUSLICE_NVML_LIBRARY, else libnvidia-ml.so.1)");
  inspect->add_flag("--json", opts->json, "Print JSON (shape in docs/cli-json.md)");
  inspect->callback([opts, exit_code] { *exit_code = RunGpuInspect(*opts, std::cout, std::cerr); });
  AddGpuSetMode(gpu, exit_code);
  AddGpuFault(gpu, exit_code);
}

}  // namespace gpuslice::cli
