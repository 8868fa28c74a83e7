// SimState: the simulated hardware behind SimBackend, and its state file (DESIGN.md §5).
//
// The state is what a real node's driver would remember: per GPU its model (from the gpuslice
// catalog), UUID, PCI bus id, MIG mode (current and pending), whether it is lost, its instances
// (GI id, profile, start, CI id, MIG UUID) and the synthetic processes attached to them; plus the
// seed and counter from which UUIDs are drawn and the pending fault injections. SimBackend keeps
// it in a JSON file so the "hardware" outlives an agent restart.
//
// The file format (version 1):
//
//   {"format": "gpuslice-sim-state", "version": 1, "seed": 1, "uuid_counter": 3,
//    "faults": {"fail_creates": 0, "fail_create_error": "insufficient-resources",
//               "busy_destroys": 0},
//    "gpus": [{"model": "A100-80GB", "sku": "NVIDIA A100-SXM4-80GB",
//              "uuid": "GPU-…", "pci_bus_id": "00000000:10:00.0",
//              "mig": {"current": true, "pending": true}, "lost": false,
//              "instances": [{"gpu_instance_id": 1, "profile_id": 9, "start": 4,
//                             "compute_instance_id": 0, "mig_uuid": "MIG-…"}],
//              "processes": [{"pid": 4242, "gpu_instance_id": 1, "compute_instance_id": 0,
//                             "memory_mib": 1024, "activity_percent": 50}]}]}
//
// ParseSimState trusts nothing: unknown or missing fields, wrong types, out-of-range numbers,
// unknown models or profiles, starts the profile does not allow, overlapping instances, duplicate
// ids and processes on instances that do not exist are errors (kInvalidArgument) naming the
// place: "gpus[1].instances[0]: start 3 is not an allowed start of 3g.40gb (allowed: 0, 4)".
//
// Simulated geometry comes from the catalog (mig::Geometry). Where the catalog does not know a
// profile's device id, the sim uses 100 + the profile's catalog index; where it does not know an
// instance's memory, the sim derives it from the profile name's "<N>gb" (N GiB); a GPU's memory is
// its full profile's memory, and a nominal 16 GiB for a GPU without MIG (the catalog knows no
// memory sizes; this number is synthetic and only bounds the memory of simulated processes).
//
// Thread-safety: plain values and functions; SimGeometryFor is safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/units.h"
#include "gpu/gpu_backend.h"
#include "gpu/gpu_error.h"
#include "mig/catalog.h"
#include "mig/layout.h"

namespace gpuslice::gpu {

inline constexpr int kSimMaxGpus = 64;
inline constexpr int kSimMaxProcessesPerGpu = 1024;
inline constexpr std::size_t kSimMaxStateBytes = 4 << 20;

struct SimInstance {
  int gpu_instance_id = 0;
  int profile_id = 0;
  int start = 0;
  int compute_instance_id = -1;  // -1: no CI yet
  std::string mig_uuid;          // set with the CI
};

struct SimProcess {
  std::uint32_t pid = 0;
  int gpu_instance_id = -1;  // -1: whole GPU (MIG off)
  int compute_instance_id = -1;
  MiB memory_used;
  int activity_percent = 0;  // 0..100: share of time its instance's SMs are busy because of it
};

struct SimGpu {
  const mig::GpuModel* model = nullptr;  // into mig::Catalog::BuiltIn()
  const mig::Sku* sku = nullptr;         // one of model->skus
  std::string uuid;
  std::string pci_bus_id;
  MigMode mig;
  bool lost = false;
  std::vector<SimInstance> instances;  // ascending start
  std::vector<SimProcess> processes;
};

// Fault injection. Counters count down as faults fire and are kept in the state file, so a test
// can arm them in one process and see them fire in another (the agent, the fake NVML library).
struct SimFaults {
  int fail_creates = 0;  // the next N GPU-instance creations fail with fail_create_error
  GpuErrorKind fail_create_error = GpuErrorKind::kInsufficientResources;
  int busy_destroys = 0;       // the next N destroys fail with kInUse
  std::vector<int> lose_gpus;  // GPUs to mark lost (applied at once, not stored)
  friend bool operator==(const SimFaults&, const SimFaults&) = default;
};

struct SimState {
  std::uint64_t seed = 1;
  std::uint64_t uuid_counter = 0;  // MIG UUIDs drawn so far
  SimFaults faults;
  std::vector<SimGpu> gpus;
};

// A fresh state from a spec "MODEL[:COUNT][,MODEL[:COUNT]…]" ("A100-SXM4-80GB:2,H100-80GB:1"),
// names resolved through the catalog. MIG-capable GPUs start with MIG mode `mig_enabled`.
// Errors: kInvalidArgument for a malformed spec or more than kSimMaxGpus GPUs, kNotFound for an
// unknown model.
Result<SimState> NewSimState(std::string_view spec, std::uint64_t seed, bool mig_enabled);

Result<SimState> ParseSimState(std::string_view text);
std::string SerializeSimState(const SimState& state);

// Faults as JSON: {"fail_creates": 2, "fail_create_error": "insufficient-resources",
// "busy_destroys": 1, "lose_gpus": [0]}; every field optional.
Result<SimFaults> ParseSimFaults(std::string_view text);

// The catalog geometry of a MIG-capable model, built once per model and cached for the process.
const mig::Geometry& SimGeometryFor(const mig::GpuModel& model);
// Device profile id of catalog profile `index` as the sim reports it.
int SimProfileId(const mig::GpuModel& model, int index);
// Catalog index of the profile with this device id, or -1.
int SimProfileIndex(const mig::GpuModel& model, int profile_id);
MiB SimProfileMemory(const mig::GpuModel& model, const mig::Profile& profile);
MiB SimGpuMemory(const mig::GpuModel& model);
// The GI id the driver gives a GI at this placement on a GPU already holding `instances`. GI ids
// come in levels: a GI of size s on a grid of U units belongs to level L (smallest L with
// s·2^L >= U), whose ids are 2^L - 1 … 2^(L+1) - 2, and takes the lowest free id of its level.
// This reproduces the ids seen on A100/H100 (7g: 0; 3g/4g: 1, 2; 2g: 3–6; 1g: 7–13; reference
// mig-facts.md §2.5), while NVIDIA guarantees no relation between ids and placements.
int SimGpuInstanceId(const mig::GpuModel& model, int size_units, const std::vector<SimInstance>& instances);

// Deterministic UUIDs: "GPU-…" for GPU `index` and "MIG-…" for MIG device number `counter`,
// both in the 8-4-4-4-12 hex form, drawn from `seed`.
std::string SimGpuUuid(std::uint64_t seed, int index);
std::string SimMigUuid(std::uint64_t seed, std::uint64_t counter);

}  // namespace gpuslice::gpu
