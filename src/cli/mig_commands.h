// `gpuslice mig …`: the MIG geometry engine on the command line.
//
//   gpuslice mig gpus                         the catalog, with the facts it does not know
//   gpuslice mig profiles --gpu MODEL         every profile of a model
//   gpuslice mig layouts  --gpu MODEL [--maximal] [--profiles P1,P2]
//   gpuslice mig check    --gpu MODEL SPEC…   is this layout legal? (SPEC: 3g.20gb@4 or 1g.5gb)
//   gpuslice mig resolve  --gpu MODEL [--memory 20GiB] [--compute N] [--media some|all] [--gfx]
//   gpuslice mig plan -f FILE -c CONFIG --gpu MODEL[:COUNT][,MODEL…]
//
// Each command takes --json; the shapes are in docs/cli-json.md. Exit status: 0 success,
// 1 a well-formed question whose answer is "no" (layout invalid, config does not fit),
// 2 bad input (unknown model or profile, malformed file or flag).
//
// The Run* functions are the commands without CLI11, writing to the given streams, so tests
// can call them directly.
#pragma once

#include <CLI/CLI.hpp>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace gpuslice::cli {

struct MigOptions {
  std::string gpu;                    // --gpu
  bool json = false;                  // --json
  bool maximal = false;               // layouts --maximal
  std::vector<std::string> profiles;  // layouts --profiles
  std::optional<int> limit;           // layouts --limit
  std::vector<std::string> specs;     // check SPEC…
  std::string memory;                 // resolve --memory
  int compute = 0;                    // resolve --compute
  std::string media = "any";          // resolve --media
  bool gfx = false;                   // resolve --gfx
  std::string file;                   // plan -f
  std::string config;                 // plan -c
};

int RunMigGpus(const MigOptions& o, std::ostream& out, std::ostream& err);
int RunMigProfiles(const MigOptions& o, std::ostream& out, std::ostream& err);
int RunMigLayouts(const MigOptions& o, std::ostream& out, std::ostream& err);
int RunMigCheck(const MigOptions& o, std::ostream& out, std::ostream& err);
int RunMigResolve(const MigOptions& o, std::ostream& out, std::ostream& err);
int RunMigPlan(const MigOptions& o, std::ostream& out, std::ostream& err);

// Registers `mig` and its subcommands on `app`. The chosen command's exit status is written to
// `*exit_code` when it runs.
void AddMigCommands(CLI::App& app, int* exit_code);

}  // namespace gpuslice::cli
