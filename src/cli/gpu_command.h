// `gpuslice gpu inspect`: a read-only report of this machine's GPUs through a GpuBackend.
//
//   gpuslice gpu inspect [--backend nvml|sim] [--sim-gpus SPEC] [--sim-state FILE] [--json]
//
// For every GPU: identity, memory, MIG mode (current and pending), health, the GPU-instance
// profiles with their placements, the instances with their MIG UUIDs, memory, activity and
// processes, and processes outside MIG. The backend is always opened read-only, so the command
// never changes anything. `--backend nvml` (the default) loads libnvidia-ml.so.1 (or
// $GPUSLICE_NVML_LIBRARY); `--backend sim` reads simulated GPUs from a spec or a SimBackend state
// file. The JSON shape is in docs/cli-json.md.
//
// Exit status: 0 report printed (per-GPU problems, such as a lost GPU, are part of the report);
// 1 the backend cannot be used (NVML library missing, driver not loaded); 2 bad input (unknown
// backend, bad spec, corrupt or missing state file).
//
// RunGpuInspect is the command without CLI11, writing to the given streams, for tests.
#pragma once

#include <CLI/CLI.hpp>
#include <iosfwd>
#include <string>

namespace gpuslice::cli {

struct GpuInspectOptions {
  std::string backend = "nvml";  // nvml | sim
  std::string sim_gpus;          // --sim-gpus "A100-SXM4-80GB:2,H100-80GB"
  std::string sim_state;         // --sim-state FILE
  std::string nvml_library;      // --nvml-library PATH (default: $GPUSLICE_NVML_LIBRARY or the system's)
  bool json = false;
};

int RunGpuInspect(const GpuInspectOptions& o, std::ostream& out, std::ostream& err);

// Registers `gpu` and its subcommand `inspect` on `app`; the exit status goes to `*exit_code`.
void AddGpuCommands(CLI::App& app, int* exit_code);

}  // namespace gpuslice::cli
