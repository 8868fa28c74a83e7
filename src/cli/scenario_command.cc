#include "cli/scenario_command.h"

#include <fmt/core.h>

#include <memory>
#include <string>
#include <vector>

#include "sim/scenario.h"

namespace gpuslice::cli {
namespace {

int Run(const std::vector<std::string>& files) {
  int status = 0;
  for (const std::string& file : files) {
    const Result<sim::ScenarioResult> r = sim::RunScenarioFile(file);
    if (r) {
      fmt::print("PASS {} ({} passes, {} checks)\n", file, r->passes, r->checks);
      continue;
    }
    const bool failed_check = r.error().code == ErrorCode::kFailedPrecondition;
    fmt::print(stderr, "{} {}\n", failed_check ? "FAIL" : "ERROR", r.error().message);
    status = std::max(status, failed_check ? 1 : 2);
  }
  return status;
}

}  // namespace

void AddScenarioCommand(CLI::App& app, int* exit_code) {
  auto files = std::make_shared<std::vector<std::string>>();
  CLI::App* c = app.add_subcommand(
      "scenario",
      "Run scenario files: a cluster, timed events (submit, finish, cordon, …) and the decisions,\n"
      "running jobs, reasons and quota usage expected after each scheduling pass (format:\n"
      "src/sim/scenario.h; examples: tests/scenarios/). Exit 0 all pass, 1 a check failed, 2 bad file");
  c->add_option("files", *files, "Scenario files")->required()->check(CLI::ExistingFile);
  c->callback([files, exit_code] { *exit_code = Run(*files); });
}

}  // namespace gpuslice::cli
