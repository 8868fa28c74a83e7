// `gpuslice server` and `gpuslice up`.
//
//   gpuslice server --data DIR [--listen 127.0.0.1:7070] [--tls-cert F --tls-key F]
//                   [--team NAME[@COHORT]=MODEL:MGPU[,…]]…
//   gpuslice up [--data DIR] [--listen ADDR] [--sim-gpus MODEL:N[,MODEL:N…]] [--no-demo]
//               [--exit-after SECONDS]
//
// `server` runs the control plane (src/server/api_server.h) until SIGINT/SIGTERM. Teams and their
// quotas come from --team flags at every start; jobs, nodes and tokens live in DIR.
//
// `up` brings a whole cluster up on this machine: the server, plus one agent process per
// simulated GPU model (default two A100-SXM4-80GB) in the same process group; it writes the
// client config so `gpuslice ls` works at once, and (unless --no-demo) creates teams nlp and
// vision and submits a mix of notebooks, inference services and batch jobs (plain processes) so
// slices are cut, shared and merged in front of you. Ctrl-C stops everything; workloads are
// stopped with their agents' process group. --exit-after stops by itself (for scripts and CI).
// Real GPUs (`--gpus nvml`) are not wired into `up` yet: run `gpuslice agent --backend nvml
// --server URL` beside `gpuslice server` instead.
#pragma once

#include <CLI/CLI.hpp>

namespace gpuslice::cli {

void AddServerCommands(CLI::App& app, int* exit_code);

}  // namespace gpuslice::cli
