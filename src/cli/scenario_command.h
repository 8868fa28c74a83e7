// `gpuslice scenario FILE…`: run scenario files (a cluster, timed events and the decisions
// expected after each scheduling pass; format in src/sim/scenario.h) against the production
// scheduler. Prints one line per file; exit 0 when all pass, 1 when an expectation fails, 2 for
// a malformed or unreadable file.
#pragma once

#include <CLI/CLI.hpp>

namespace gpuslice::cli {

void AddScenarioCommand(CLI::App& app, int* exit_code);

}  // namespace gpuslice::cli
