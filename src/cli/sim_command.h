// `gpuslice sim`: replay a workload against a modelled cluster under several policies.
//
//   gpuslice sim --cluster FILE --workload SPEC --policy P1,P2,… [--seed N]
//                [--mode replay|arrival] [--time-scale X] [--arrival-limit X]
//                [--map compute|memory] [--report DIR] [--json]
//
// Progress goes to stderr; the result to stdout (a table, or with --json the object of
// docs/cli-json.md). Exit 0 on success, 2 for bad input.
#pragma once

#include <CLI/CLI.hpp>

namespace gpuslice::cli {

void AddSimCommand(CLI::App& app, int* exit_code);

}  // namespace gpuslice::cli
