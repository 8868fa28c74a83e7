#include "sim/job_spec.h"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <nlohmann/json.hpp>

namespace gpuslice::sim {
namespace {

constexpr std::int64_t kMaxTimeMs = 10LL * 366 * 24 * 3600 * 1000;  // ten years
constexpr int kMaxGang = 64;
constexpr int kMaxPriority = 1'000'000;

constexpr std::array<std::string_view, 13> kColumns = {
    "name",    "team",   "priority", "preemptible", "kind",      "submit_s", "duration_s",
    "profile", "memory", "compute",  "count",       "same_node", "gpu_model"};

bool NameOk(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == '/' || c == ':' || c == '+' || c == '@';
    if (!ok) return false;
  }
  return true;
}

Result<std::int64_t> ParseInt(std::string_view s, std::int64_t lo, std::int64_t hi) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) {
    return Fail(ErrorCode::kInvalidArgument, "'{}' is not an integer from {} to {}", s, lo, hi);
  }
  return v;
}

// "12", "12.5", "0.125" seconds -> milliseconds; at most three decimals, not negative.
Result<std::int64_t> ParseSeconds(std::string_view s) {
  const std::size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  const std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (whole.empty() || frac.size() > 3 || (dot != std::string_view::npos && frac.empty())) {
    return Fail(ErrorCode::kInvalidArgument, "'{}' is not a time in seconds (up to 3 decimals)", s);
  }
  Result<std::int64_t> w = ParseInt(whole, 0, kMaxTimeMs / 1000);
  if (!w) return Fail(ErrorCode::kInvalidArgument, "'{}' is not a time in seconds from 0 to ten years", s);
  std::int64_t ms = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    const char c = i < frac.size() ? frac[i] : '0';
    if (c < '0' || c > '9') return Fail(ErrorCode::kInvalidArgument, "'{}' is not a time in seconds", s);
    ms = ms * 10 + (c - '0');
  }
  return *w * 1000 + ms;
}

Result<bool> ParseBool(std::string_view s) {
  if (s.empty() || s == "false" || s == "0") return false;
  if (s == "true" || s == "1") return true;
  return Fail(ErrorCode::kInvalidArgument, "'{}' is not true or false", s);
}

std::string FormatSeconds(std::int64_t ms) {
  return ms % 1000 == 0 ? fmt::format("{}", ms / 1000) : fmt::format("{}.{:03}", ms / 1000, ms % 1000);
}

nlohmann::ordered_json SecondsJson(std::int64_t ms) {
  if (ms % 1000 == 0) return ms / 1000;
  return static_cast<double>(ms) / 1000.0;
}

std::string FormatMemoryField(MiB m) {
  return m.value() % 1024 == 0 ? fmt::format("{}GiB", m.value() / 1024) : fmt::format("{}MiB", m.value());
}

// Sets one field of `job` from its text form; `column` is one of kColumns.
Result<void> SetField(JobSpec& job, std::string_view column, std::string_view v) {
  auto wrap = [&](auto r) -> Result<void> {
    if (!r) return Fail(r.error().WithContext(std::string(column)));
    return {};
  };
  if (std::string* text = column == "name"        ? &job.name
                          : column == "team"      ? &job.team
                          : column == "profile"   ? &job.profile
                          : column == "gpu_model" ? &job.gpu_model
                                                  : nullptr) {
    *text = std::string(v);
    return {};
  }
  if (v.empty() && column != "kind" && column != "submit_s") return {};  // optional, default
  if (column == "priority") {
    auto r = ParseInt(v, -kMaxPriority, kMaxPriority);
    if (r) job.priority = static_cast<int>(*r);
    return wrap(r);
  }
  if (column == "preemptible" || column == "same_node") {
    auto r = ParseBool(v);
    if (r) (column == "preemptible" ? job.preemptible : job.same_node) = *r;
    return wrap(r);
  }
  if (column == "kind") {
    auto r = ParseJobKind(v);
    if (r) job.kind = *r;
    return wrap(r);
  }
  if (column == "submit_s" || column == "duration_s") {
    auto r = ParseSeconds(v);
    if (r && column == "submit_s") job.submit_ms = *r;
    if (r && column == "duration_s") job.duration_ms = *r;
    return wrap(r);
  }
  if (column == "memory") {
    auto r = ParseMemory(v);
    if (r) job.memory = *r;
    return wrap(r);
  }
  if (column == "compute" || column == "count") {
    auto r = ParseInt(v, 0, kMaxGang);
    if (r) (column == "compute" ? job.compute_slices : job.count) = static_cast<int>(*r);
    return wrap(r);
  }
  return Fail(ErrorCode::kInternal, "unhandled column {}", column);
}

Result<void> AtLine(Result<void> r, std::size_t line) {
  if (!r) return Fail(r.error().WithContext(fmt::format("line {}", line)));
  return {};
}

}  // namespace

Result<void> ValidateJobSpec(const JobSpec& job) {
  if (!NameOk(job.name))
    return Fail(ErrorCode::kInvalidArgument, "name '{}' is empty or has odd characters", job.name);
  if (!NameOk(job.team))
    return Fail(ErrorCode::kInvalidArgument, "team '{}' is empty or has odd characters", job.team);
  if (!job.profile.empty() && !NameOk(job.profile)) {
    return Fail(ErrorCode::kInvalidArgument, "profile '{}' has odd characters", job.profile);
  }
  if (!job.gpu_model.empty() && !NameOk(job.gpu_model)) {
    return Fail(ErrorCode::kInvalidArgument, "gpu_model '{}' has odd characters", job.gpu_model);
  }
  if (job.submit_ms < 0 || job.submit_ms > kMaxTimeMs) {
    return Fail(ErrorCode::kInvalidArgument, "submit time {} ms is out of range", job.submit_ms);
  }
  if (job.duration_ms && (*job.duration_ms < 0 || *job.duration_ms > kMaxTimeMs)) {
    return Fail(ErrorCode::kInvalidArgument, "duration {} ms is out of range", *job.duration_ms);
  }
  if (job.count < 1 || job.count > kMaxGang) {
    return Fail(ErrorCode::kInvalidArgument, "count {} must be 1 to {}", job.count, kMaxGang);
  }
  const bool by_size = job.memory.has_value() || job.compute_slices > 0;
  if (!job.profile.empty() && by_size) {
    return Fail(ErrorCode::kInvalidArgument, "job {} gives both a profile and a size; give one", job.name);
  }
  if (job.profile.empty() && !by_size) {
    return Fail(ErrorCode::kInvalidArgument, "job {} requests nothing: give a profile, memory or compute",
                job.name);
  }
  if (job.memory && job.memory->value() <= 0)
    return Fail(ErrorCode::kInvalidArgument, "memory must be positive");
  return {};
}

Result<std::vector<JobSpec>> ParseJobsCsv(std::string_view text) {
  std::vector<JobSpec> jobs;
  std::vector<std::string_view> header;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    std::vector<std::string_view> fields;
    for (std::size_t start = 0;;) {
      const std::size_t comma = line.find(',', start);
      fields.push_back(line.substr(start, comma - start));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (header.empty()) {
      for (std::string_view f : fields) {
        if (std::find(kColumns.begin(), kColumns.end(), f) == kColumns.end()) {
          return Fail(ErrorCode::kInvalidArgument, "line {}: unknown column '{}' (columns: {})", line_no, f,
                      fmt::join(kColumns, ","));
        }
        if (std::find(header.begin(), header.end(), f) != header.end()) {
          return Fail(ErrorCode::kInvalidArgument, "line {}: column '{}' appears twice", line_no, f);
        }
        header.push_back(f);
      }
      for (std::string_view required : {"name", "team", "kind", "submit_s"}) {
        if (std::find(header.begin(), header.end(), required) == header.end()) {
          return Fail(ErrorCode::kInvalidArgument, "line {}: the header lacks the required column '{}'",
                      line_no, required);
        }
      }
      continue;
    }
    if (fields.size() != header.size()) {
      return Fail(ErrorCode::kInvalidArgument, "line {}: {} fields, the header has {}", line_no,
                  fields.size(), header.size());
    }
    JobSpec job;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (auto r = AtLine(SetField(job, header[i], fields[i]), line_no); !r) return Fail(r.error());
    }
    if (auto r = AtLine(ValidateJobSpec(job), line_no); !r) return Fail(r.error());
    jobs.push_back(std::move(job));
  }
  if (header.empty())
    return Fail(ErrorCode::kInvalidArgument, "no header line (columns: {})", fmt::join(kColumns, ","));
  return jobs;
}

Result<std::vector<JobSpec>> ParseJobsJsonl(std::string_view text) {
  std::vector<JobSpec> jobs;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return Fail(ErrorCode::kInvalidArgument, "line {}: not a JSON object", line_no);
    }
    JobSpec job;
    bool has_kind = false, has_submit = false;
    for (const auto& [key, value] : j.items()) {
      if (std::find(kColumns.begin(), kColumns.end(), key) == kColumns.end()) {
        return Fail(ErrorCode::kInvalidArgument, "line {}: unknown field '{}'", line_no, key);
      }
      std::string as_text;
      if (value.is_string()) {
        as_text = value.get<std::string>();
      } else if (value.is_boolean()) {
        as_text = value.get<bool>() ? "true" : "false";
      } else if (value.is_number_integer()) {
        as_text = value.dump();
      } else if (value.is_number_float() && (key == "submit_s" || key == "duration_s")) {
        as_text = fmt::format("{:.3f}", value.get<double>());
      } else if (!value.is_null()) {
        return Fail(ErrorCode::kInvalidArgument, "line {}: field '{}' has the wrong type", line_no, key);
      }
      has_kind |= key == "kind";
      has_submit |= key == "submit_s";
      if (auto r = AtLine(SetField(job, key, as_text), line_no); !r) return Fail(r.error());
    }
    if (!has_kind || !has_submit) {
      return Fail(ErrorCode::kInvalidArgument, "line {}: 'kind' and 'submit_s' are required", line_no);
    }
    if (auto r = AtLine(ValidateJobSpec(job), line_no); !r) return Fail(r.error());
    jobs.push_back(std::move(job));
  }
  return jobs;
}

std::string FormatJobsCsv(const std::vector<JobSpec>& jobs) {
  std::string out = fmt::format("{}\n", fmt::join(kColumns, ","));
  for (const JobSpec& j : jobs) {
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{}\n", j.name, j.team, j.priority,
                       j.preemptible ? "true" : "false", JobKindName(j.kind), FormatSeconds(j.submit_ms),
                       j.duration_ms ? FormatSeconds(*j.duration_ms) : "", j.profile,
                       j.memory ? FormatMemoryField(*j.memory) : "",
                       j.compute_slices > 0 ? std::to_string(j.compute_slices) : "", j.count,
                       j.same_node ? "true" : "false", j.gpu_model);
  }
  return out;
}

std::string FormatJobsJsonl(const std::vector<JobSpec>& jobs) {
  std::string out;
  for (const JobSpec& j : jobs) {
    nlohmann::ordered_json o{{"name", j.name},
                             {"team", j.team},
                             {"priority", j.priority},
                             {"preemptible", j.preemptible},
                             {"kind", JobKindName(j.kind)},
                             {"submit_s", SecondsJson(j.submit_ms)}};
    if (j.duration_ms) o["duration_s"] = SecondsJson(*j.duration_ms);
    if (!j.profile.empty()) o["profile"] = j.profile;
    if (j.memory) o["memory"] = FormatMemoryField(*j.memory);
    if (j.compute_slices > 0) o["compute"] = j.compute_slices;
    o["count"] = j.count;
    o["same_node"] = j.same_node;
    if (!j.gpu_model.empty()) o["gpu_model"] = j.gpu_model;
    out += o.dump();
    out += '\n';
  }
  return out;
}

}  // namespace gpuslice::sim
