#include "sim/workload_gen.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace gpuslice::sim {
namespace {

constexpr std::int64_t kMinute = 60 * 1000;
constexpr std::int64_t kHour = 60 * kMinute;

Result<int> ParseBounded(std::string_view key, std::string_view v, int lo, int hi) {
  int x = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || end != v.data() + v.size() || x < lo || x > hi) {
    return Fail(ErrorCode::kInvalidArgument, "workload: {}='{}' must be an integer from {} to {}", key, v, lo,
                hi);
  }
  return x;
}

Result<std::vector<std::string>> ParseTeams(std::string_view v) {
  std::vector<std::string> teams;
  for (std::size_t start = 0;;) {
    const std::size_t bar = v.find('|', start);
    std::string team(v.substr(start, bar - start));
    JobSpec probe{.name = "probe", .team = team, .profile = "whole"};
    if (!ValidateJobSpec(probe))
      return Fail(ErrorCode::kInvalidArgument, "workload: bad team name '{}'", team);
    teams.push_back(std::move(team));
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  return teams;
}

Result<void> ApplyOption(GeneratorSpec& spec, std::string_view option) {
  const std::size_t eq = option.find('=');
  if (eq == std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, "workload: option '{}' is not key=value", option);
  }
  const std::string_view key = option.substr(0, eq);
  const std::string_view value = option.substr(eq + 1);
  if (key == "jobs") {
    Result<int> n = ParseBounded(key, value, 1, 10'000'000);
    if (!n) return Fail(n.error());
    spec.jobs = *n;
  } else if (key == "hours") {
    Result<int> h = ParseBounded(key, value, 1, 8760);
    if (!h) return Fail(h.error());
    spec.hours = *h;
  } else if (key == "teams") {
    Result<std::vector<std::string>> t = ParseTeams(value);
    if (!t) return Fail(t.error());
    spec.teams = std::move(*t);
  } else {
    return Fail(ErrorCode::kInvalidArgument, "workload: unknown option '{}' (jobs, hours, teams)", key);
  }
  return {};
}

// Exponential draw with the given mean, from 53 random bits (doubles only for time spacing).
std::int64_t Exponential(Rng& rng, double mean_ms) {
  const double u = static_cast<double>(rng.Next() >> 11) * 0x1.0p-53;
  return static_cast<std::int64_t>(-std::log1p(-u) * mean_ms);
}

void Notebook(JobSpec& j, Rng& rng) {
  j.kind = JobKind::kNotebook;
  j.memory = MiB(rng.Chance(7, 10) ? 10 * 1024 : 20 * 1024);
  j.compute_slices = 1;
  j.duration_ms = rng.Uniform(1 * kHour, 8 * kHour);
}

void Inference(JobSpec& j, Rng& rng) {
  j.kind = JobKind::kService;
  j.priority = 5;
  j.memory = MiB(rng.Chance(6, 10) ? 20 * 1024 : 40 * 1024);
  j.compute_slices = static_cast<int>(rng.Uniform(1, 3));
  if (!rng.Chance(8, 10)) j.duration_ms = rng.Uniform(6 * kHour, 48 * kHour);
}

void Batch(JobSpec& j, Rng& rng) {
  j.kind = JobKind::kBatch;
  j.priority = static_cast<int>(rng.Uniform(0, 10));
  j.preemptible = rng.Chance(7, 10);
  j.duration_ms = rng.Uniform(5 * kMinute, 2 * kHour);
  const std::int64_t shape = rng.Uniform(0, 99);
  if (shape < 30) {
    j.memory = MiB(10 * 1024);
  } else if (shape < 60) {
    j.compute_slices = 2;
  } else if (shape < 80) {
    j.compute_slices = 3;
  } else {
    j.profile = std::string(kWholeGpu);
    if (shape >= 95) {
      j.count = static_cast<int>(rng.Uniform(2, 8));
      j.same_node = true;
    }
  }
}

}  // namespace

Result<GeneratorSpec> ParseGeneratorSpec(std::string_view text) {
  GeneratorSpec spec;
  const std::size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  if (kind == "notebooks") {
    spec.kind = GeneratorSpec::Kind::kNotebooks;
  } else if (kind == "inference") {
    spec.kind = GeneratorSpec::Kind::kInference;
  } else if (kind == "batch") {
    spec.kind = GeneratorSpec::Kind::kBatch;
  } else if (kind == "mix") {
    spec.kind = GeneratorSpec::Kind::kMix;
  } else {
    return Fail(ErrorCode::kInvalidArgument,
                "workload: unknown generator '{}' (notebooks, inference, batch, mix)", kind);
  }
  if (colon == std::string_view::npos) return spec;
  std::string_view rest = text.substr(colon + 1);
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    if (auto r = ApplyOption(spec, rest.substr(0, comma)); !r) return Fail(r.error());
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return spec;
}

std::vector<JobSpec> GenerateWorkload(const GeneratorSpec& spec, Rng& rng) {
  std::vector<JobSpec> jobs;
  jobs.reserve(static_cast<std::size_t>(spec.jobs));
  const double mean_gap_ms = static_cast<double>(spec.hours) * kHour / spec.jobs;
  std::int64_t now = 0;
  for (int i = 0; i < spec.jobs; ++i) {
    now += Exponential(rng, mean_gap_ms);
    JobSpec j;
    j.submit_ms = now;
    j.team = spec.teams[static_cast<std::size_t>(
        rng.Uniform(0, static_cast<std::int64_t>(spec.teams.size()) - 1))];
    GeneratorSpec::Kind kind = spec.kind;
    if (kind == GeneratorSpec::Kind::kMix) {
      const std::int64_t r = rng.Uniform(0, 9);
      kind = r < 4   ? GeneratorSpec::Kind::kNotebooks
             : r < 7 ? GeneratorSpec::Kind::kInference
                     : GeneratorSpec::Kind::kBatch;
    }
    switch (kind) {
      case GeneratorSpec::Kind::kNotebooks: Notebook(j, rng); break;
      case GeneratorSpec::Kind::kInference: Inference(j, rng); break;
      default: Batch(j, rng); break;
    }
    j.name = fmt::format("{}-{}", JobKindName(j.kind), i + 1);
    jobs.push_back(std::move(j));
  }
  return jobs;
}

}  // namespace gpuslice::sim
