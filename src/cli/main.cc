// gpuslice: one binary, many subcommands (DESIGN.md §2).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/agent_command.h"
#include "cli/client_commands.h"
#include "cli/gpu_command.h"
#include "cli/mig_commands.h"
#include "cli/scenario_command.h"
#include "cli/server_command.h"
#include "cli/sim_command.h"

int main(int argc, char** argv) {
  CLI::App app{
      "gpuslice turns NVIDIA GPU servers into one pool of hardware-isolated MIG slices.\n"
      "Run `gpuslice COMMAND --help` for the flags of a command."};
  app.name("gpuslice");
  app.set_version_flag("--version", "gpuslice 0.1.0");
  app.require_subcommand(1);
  int exit_code = 0;
  gpuslice::cli::AddMigCommands(app, &exit_code);
  gpuslice::cli::AddSimCommand(app, &exit_code);
  gpuslice::cli::AddScenarioCommand(app, &exit_code);
  gpuslice::cli::AddServerCommands(app, &exit_code);
  gpuslice::cli::AddClientCommands(app, &exit_code);
  gpuslice::cli::AddClusterCommands(app, &exit_code);
  gpuslice::cli::AddGpuCommands(app, &exit_code);
  gpuslice::cli::AddAgentCommand(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;  // usage errors exit 2, like the commands' own bad-input errors
  } catch (const std::exception& e) {
    // Commands return errors as values; an exception here is a bug in a library boundary.
    std::fprintf(stderr, "gpuslice: internal error: %s\n", e.what());
    return 70;  // EX_SOFTWARE
  }
  return exit_code;
}
