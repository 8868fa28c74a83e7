#include "sim/alibaba_trace.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <system_error>

#include "common/read_file.h"
#include "common/units.h"

namespace gpuslice::sim {
namespace {

constexpr std::array<std::string_view, 11> kFullColumns = {
    "name", "cpu_milli", "memory_mib",    "num_gpu",       "gpu_milli",     "gpu_spec",
    "qos",  "pod_phase", "creation_time", "deletion_time", "scheduled_time"};
constexpr std::array<std::string_view, 5> kMultiGpuColumns = {"name", "cpu_milli", "memory_mib", "num_gpu",
                                                              "gpu_milli"};
constexpr std::array<std::string_view, 5> kNodeColumns = {"sn", "cpu_milli", "memory_mib", "gpu", "model"};
constexpr std::size_t kMaxColumns = kFullColumns.size();

// Column indices of the pod layouts (the 5-column layout is a prefix of the 11-column one).
enum PodColumn {
  kName,
  kCpuMilli,
  kMemoryMib,
  kNumGpu,
  kGpuMilli,
  kGpuSpec,
  kQos,
  kPhase,
  kCreation,
  kDeletion,
  kScheduled,
};
enum NodeColumn { kSn, kNodeCpuMilli, kNodeMemoryMib, kGpu, kModel };

// A field as it appears in an error: quoted, cut to 40 bytes so a huge field keeps errors short.
std::string Quote(std::string_view field) {
  constexpr std::size_t kMaxShown = 40;
  if (field.size() <= kMaxShown) return fmt::format("'{}'", field);
  return fmt::format("'{}...'", field.substr(0, kMaxShown));
}

// Lines of a text: '\n' ends a line, a '\r' before it is dropped, the last line needs no '\n'.
// A UTF-8 byte-order mark at the start is skipped.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : rest_(text) {
    if (rest_.starts_with("\xEF\xBB\xBF")) rest_.remove_prefix(3);
  }

  bool Next(std::string_view& line) {
    if (rest_.empty()) return false;
    const std::size_t nl = rest_.find('\n');
    line = rest_.substr(0, nl);
    rest_.remove_prefix(nl == std::string_view::npos ? rest_.size() : nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    ++line_number_;
    return true;
  }

  int line_number() const { return line_number_; }

 private:
  std::string_view rest_;
  int line_number_ = 0;
};

// Splits `line` on ','. Returns the number of fields; only the first out.size() are stored.
std::size_t SplitFields(std::string_view line, std::span<std::string_view> out) {
  std::size_t n = 0;
  while (true) {
    const std::size_t comma = line.find(',');
    if (n < out.size()) out[n] = line.substr(0, comma);
    ++n;
    if (comma == std::string_view::npos) return n;
    line.remove_prefix(comma + 1);
  }
}

std::string JoinColumns(std::span<const std::string_view> columns) {
  return fmt::format("{}", fmt::join(columns, ","));
}

bool Contains(std::span<const std::string_view> columns, std::string_view name) {
  return std::find(columns.begin(), columns.end(), name) != columns.end();
}

std::string QuoteList(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view n : names) out += (out.empty() ? "" : ", ") + Quote(n);
  return out;
}

// Why `header` (split into fields) is not `expected`: unknown, repeated and missing columns, or
// the order. `known` are all column names of the file kind (both pod layouts for pods).
std::string HeaderProblem(std::span<const std::string_view> header,
                          std::span<const std::string_view> expected,
                          std::span<const std::string_view> known) {
  std::vector<std::string_view> unknown, repeated, missing;
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (!Contains(known, header[i])) unknown.push_back(header[i]);
    if (Contains(header.first(i), header[i]) && !Contains(repeated, header[i])) repeated.push_back(header[i]);
  }
  for (std::string_view c : expected) {
    if (!Contains(header, c)) missing.push_back(c);
  }
  std::vector<std::string> parts;
  if (!unknown.empty()) parts.push_back("unknown column(s) " + QuoteList(unknown));
  if (!repeated.empty()) parts.push_back("repeated column(s) " + QuoteList(repeated));
  if (!missing.empty()) parts.push_back("missing column(s) " + QuoteList(missing));
  if (parts.empty()) parts.push_back("columns out of order");
  return fmt::format("{}; expected {}", fmt::join(parts, "; "), JoinColumns(expected));
}

std::vector<std::string_view> SplitHeader(std::string_view line) {
  std::vector<std::string_view> fields(SplitFields(line, {}));
  SplitFields(line, fields);
  return fields;
}

Result<PodLayout> PodLayoutOf(std::string_view header_line) {
  const std::vector<std::string_view> header = SplitHeader(header_line);
  const auto equal = [&](std::span<const std::string_view> cols) {
    return std::equal(header.begin(), header.end(), cols.begin(), cols.end());
  };
  if (equal(kFullColumns)) return PodLayout::kFull;
  if (equal(kMultiGpuColumns)) return PodLayout::kMultiGpu;
  // Compare with the 11-column layout when the header has any of its extra columns.
  const bool full = std::any_of(kFullColumns.begin() + kMultiGpuColumns.size(), kFullColumns.end(),
                                [&](std::string_view c) { return Contains(header, c); });
  return Fail(ErrorCode::kInvalidArgument, "line 1: not an Alibaba pod list header: {}",
              HeaderProblem(header, full ? std::span<const std::string_view>(kFullColumns) : kMultiGpuColumns,
                            kFullColumns));
}

// One data row split into fields, with typed accessors. An accessor that meets a bad value records
// the row's first problem (with line and column) and returns a harmless default; the caller checks
// ok() once at the end of the row.
class Row {
 public:
  Row(int line, std::span<const std::string_view> columns) : line_(line), columns_(columns) {}

  // Splits `text`; false on a blank line or a wrong number of fields.
  bool Split(std::string_view text) {
    if (text.empty()) return Problem("blank line");
    const std::size_t n = SplitFields(text, fields_);
    if (n != columns_.size()) {
      return Problem(fmt::format("{} field{}, expected {} ({})", n, n == 1 ? "" : "s", columns_.size(),
                                 JoinColumns(columns_)));
    }
    return true;
  }

  std::string_view Field(int col) const { return fields_[col]; }

  // A decimal integer in [lo, hi].
  std::int64_t Int(int col, std::int64_t lo, std::int64_t hi) {
    std::optional<std::int64_t> v = OptionalInt(col, lo, hi);
    if (!v && ok()) Problem(col, "empty; expected an integer");
    return v.value_or(lo);
  }

  // As Int, but an empty field is nullopt.
  std::optional<std::int64_t> OptionalInt(int col, std::int64_t lo, std::int64_t hi) {
    const std::string_view f = fields_[col];
    if (f.empty()) return std::nullopt;
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
    if (ec == std::errc::result_out_of_range ||
        (ec == std::errc() && end == f.data() + f.size() && (v < lo || v > hi))) {
      Problem(col, fmt::format("{} is out of range {}..{}", Quote(f), lo, hi));
      return lo;
    }
    if (ec != std::errc() || end != f.data() + f.size()) {
      Problem(col, fmt::format("{} is not an integer", Quote(f)));
      return lo;
    }
    return v;
  }

  // A text field: no quotes, control characters or surrounding spaces; non-empty if `required`.
  std::string_view Text(int col, bool required) {
    const std::string_view f = fields_[col];
    if (f.empty()) {
      if (required) Problem(col, "empty");
      return f;
    }
    const bool bad_char = std::any_of(f.begin(), f.end(), [](char c) {
      return c == '"' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    });
    if (bad_char) {
      Problem(col,
              fmt::format("{} has a quote or control character (quoted CSV is not supported)", Quote(f)));
    } else if (f.front() == ' ' || f.back() == ' ') {
      Problem(col, fmt::format("{} has surrounding spaces", Quote(f)));
    }
    return f;
  }

  bool Problem(int col, std::string_view message) {
    return Record(fmt::format(", column {} ({}): {}", col + 1, columns_[col], message));
  }
  bool ok() const { return !error_; }
  Error error() const { return *error_; }

 private:
  bool Problem(std::string_view message) { return Record(fmt::format(": {}", message)); }
  // `where` follows the line number: ": blank line", ", column 4 (num_gpu): ...".
  bool Record(std::string_view where) {
    if (!error_) error_ = Error{ErrorCode::kInvalidArgument, fmt::format("line {}{}", line_, where)};
    return false;
  }

  int line_;
  std::span<const std::string_view> columns_;
  std::array<std::string_view, kMaxColumns> fields_{};
  std::optional<Error> error_;
};

// gpu_spec "V100M16|V100M32" -> {"V100M16", "V100M32"}; blank or "nan" -> {}; repeats dropped.
std::vector<std::string> SplitGpuSpec(Row& row) {
  std::string_view spec = row.Text(kGpuSpec, /*required=*/false);
  std::vector<std::string> out;
  if (spec.empty() || spec == "nan" || !row.ok()) return out;
  while (true) {
    const std::size_t bar = spec.find('|');
    const std::string_view type = spec.substr(0, bar);
    if (type.empty()) {
      row.Problem(kGpuSpec, fmt::format("empty GPU type in {}", Quote(row.Field(kGpuSpec))));
      return {};
    }
    if (std::find(out.begin(), out.end(), type) == out.end()) out.emplace_back(type);
    if (bar == std::string_view::npos) return out;
    spec.remove_prefix(bar + 1);
  }
}

void ParseFullColumns(Row& row, TracePod& pod) {
  pod.gpu_spec = SplitGpuSpec(row);
  pod.qos = row.Text(kQos, /*required=*/true);
  pod.phase = row.Text(kPhase, /*required=*/true);
  pod.creation_time = row.OptionalInt(kCreation, 0, kMaxTimeSeconds);
  pod.deletion_time = row.OptionalInt(kDeletion, 0, kMaxTimeSeconds);
  pod.scheduled_time = row.OptionalInt(kScheduled, 0, kMaxTimeSeconds);
  if (row.ok() && pod.creation_time && pod.deletion_time && *pod.deletion_time < *pod.creation_time) {
    row.Problem(kDeletion,
                fmt::format("{} is before creation_time {}", *pod.deletion_time, *pod.creation_time));
  }
}

Result<TracePod> ParsePodRow(Row& row, PodLayout layout) {
  TracePod pod;
  pod.name = row.Text(kName, /*required=*/true);
  pod.cpu_milli = row.Int(kCpuMilli, 0, kMaxCpuMilli);
  pod.memory_mib = row.Int(kMemoryMib, 0, kMaxMemoryMib);
  pod.num_gpu = static_cast<int>(row.Int(kNumGpu, 0, kMaxPodGpus));
  pod.gpu_milli = static_cast<int>(row.Int(kGpuMilli, 0, kMilliPerGpu));
  if (layout == PodLayout::kFull) ParseFullColumns(row, pod);
  if (!row.ok()) return Fail(row.error());
  return pod;
}

Result<TraceNode> ParseNodeRow(Row& row) {
  TraceNode node;
  node.name = row.Text(kSn, /*required=*/true);
  node.cpu_milli = row.Int(kNodeCpuMilli, 0, kMaxCpuMilli);
  node.memory_mib = row.Int(kNodeMemoryMib, 0, kMaxMemoryMib);
  node.gpus = static_cast<int>(row.Int(kGpu, 0, kMaxNodeGpus));
  std::string_view model = row.Text(kModel, /*required=*/false);
  if (model == "nan") model = {};
  node.model = model;
  if (row.ok() && node.gpus > 0 && model.empty()) row.Problem(kModel, "empty, but the node has GPUs");
  if (row.ok() && node.gpus == 0 && !model.empty()) {
    row.Problem(kModel, fmt::format("{} names a GPU type, but the node has no GPUs", Quote(model)));
  }
  if (!row.ok()) return Fail(row.error());
  return node;
}

// Rows after the header, a capacity hint for reserve().
std::size_t RowsHint(std::string_view csv) {
  return static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n'));
}

}  // namespace

Result<PodLayout> DetectPodLayout(std::string_view csv) {
  LineReader lines(csv);
  std::string_view header;
  if (!lines.Next(header)) return Fail(ErrorCode::kInvalidArgument, "empty pod list: no header line");
  return PodLayoutOf(header);
}

Result<std::vector<TracePod>> ParseAlibabaPods(std::string_view csv) {
  Result<PodLayout> layout = DetectPodLayout(csv);
  if (!layout) return Fail(layout.error());
  const std::span<const std::string_view> columns =
      *layout == PodLayout::kFull ? std::span<const std::string_view>(kFullColumns) : kMultiGpuColumns;
  LineReader lines(csv);
  std::string_view line;
  lines.Next(line);  // the header
  std::vector<TracePod> pods;
  pods.reserve(RowsHint(csv));
  while (lines.Next(line)) {
    Row row(lines.line_number(), columns);
    if (!row.Split(line)) return Fail(row.error());
    Result<TracePod> pod = ParsePodRow(row, *layout);
    if (!pod) return Fail(std::move(pod.error()));
    pods.push_back(std::move(*pod));
  }
  return pods;
}

Result<std::vector<TraceNode>> ParseAlibabaNodes(std::string_view csv) {
  LineReader lines(csv);
  std::string_view line;
  if (!lines.Next(line)) return Fail(ErrorCode::kInvalidArgument, "empty node list: no header line");
  const std::vector<std::string_view> header = SplitHeader(line);
  if (!std::equal(header.begin(), header.end(), kNodeColumns.begin(), kNodeColumns.end())) {
    return Fail(ErrorCode::kInvalidArgument, "line 1: not an Alibaba node list header: {}",
                HeaderProblem(header, kNodeColumns, kNodeColumns));
  }
  std::vector<TraceNode> nodes;
  nodes.reserve(RowsHint(csv));
  while (lines.Next(line)) {
    Row row(lines.line_number(), kNodeColumns);
    if (!row.Split(line)) return Fail(row.error());
    Result<TraceNode> node = ParseNodeRow(row);
    if (!node) return Fail(std::move(node.error()));
    nodes.push_back(std::move(*node));
  }
  return nodes;
}

Result<std::vector<TracePod>> ReadAlibabaPodsFile(const std::string& path) {
  Result<std::string> text = ReadFile(path, std::size_t{1} << 30);
  if (!text) return Fail(std::move(text.error()));
  Result<std::vector<TracePod>> pods = ParseAlibabaPods(*text);
  if (!pods) return Fail(pods.error().WithContext(path));
  return pods;
}

Result<std::vector<TraceNode>> ReadAlibabaNodesFile(const std::string& path) {
  Result<std::string> text = ReadFile(path, std::size_t{1} << 30);
  if (!text) return Fail(std::move(text.error()));
  Result<std::vector<TraceNode>> nodes = ParseAlibabaNodes(*text);
  if (!nodes) return Fail(nodes.error().WithContext(path));
  return nodes;
}

// ---------------------------------------------------------------------------------------------
// Mapping (the rule is documented in the header).

Result<PodDemand> MapPod(const TracePod& pod, const mig::Geometry& geometry, MapMode mode) {
  if (pod.num_gpu < 0 || pod.num_gpu > kMaxPodGpus || pod.gpu_milli < 0 || pod.gpu_milli > kMilliPerGpu) {
    return Fail(ErrorCode::kInvalidArgument, "num_gpu {} / gpu_milli {} outside 0..{} / 0..{}", pod.num_gpu,
                pod.gpu_milli, kMaxPodGpus, kMilliPerGpu);
  }
  if (pod.num_gpu == 0) return PodDemand{};
  const mig::GpuModel& model = geometry.model();
  const mig::Profile* full = model.FullProfile();
  if (full == nullptr) return Fail(ErrorCode::kUnimplemented, "{} has no whole-GPU MIG profile", model.name);
  if (pod.gpu_milli == kMilliPerGpu) {
    return PodDemand{PodDemand::Kind::kGang, static_cast<int>(full - model.profiles.data()), pod.num_gpu};
  }
  mig::SizeRequest request;
  if (mode == MapMode::kByCompute) {
    // ceil(gpu_milli * C / 1000), and at least one slice for a pod that asked for a GPU at all.
    request.compute_slices =
        std::max(1, (pod.gpu_milli * model.compute_slices + kMilliPerGpu - 1) / kMilliPerGpu);
  } else {
    if (!full->memory) {
      return Fail(ErrorCode::kUnimplemented, "the memory of {} on {} is unknown", full->name, model.name);
    }
    // ceil(gpu_milli * F.mem / 1000) MiB: a share is never rounded down.
    request.memory = MiB((pod.gpu_milli * full->memory->value() + kMilliPerGpu - 1) / kMilliPerGpu);
  }
  Result<int> profile = geometry.ResolveSize(request);
  if (!profile) return Fail(std::move(profile.error()));
  if (pod.num_gpu == 1) return PodDemand{PodDemand::Kind::kSlice, *profile, 1};
  return PodDemand{PodDemand::Kind::kGang, *profile, pod.num_gpu};
}

PodListSummary SummarizePods(std::span<const TracePod> pods) {
  PodListSummary s;
  for (const TracePod& p : pods) {
    ++s.pods;
    if (p.num_gpu == 0) {
      ++s.cpu_only;
    } else if (p.gpu_milli < kMilliPerGpu) {
      ++s.sharing;
    } else {
      ++s.whole;
    }
    if (p.num_gpu >= 0 && p.num_gpu <= kMaxPodGpus) ++s.by_num_gpu[p.num_gpu];
    if (!p.gpu_spec.empty()) ++s.with_gpu_spec;
    s.gpu_milli_total += std::int64_t{p.num_gpu} * p.gpu_milli;
  }
  return s;
}

Result<MappingSummary> SummarizeMapping(std::span<const TracePod> pods, const mig::Geometry& geometry,
                                        MapMode mode) {
  MappingSummary s;
  s.slice_pods.assign(geometry.num_profiles(), 0);
  s.instances.assign(geometry.num_profiles(), 0);
  for (const TracePod& p : pods) {
    Result<PodDemand> d = MapPod(p, geometry, mode);
    if (!d) return Fail(d.error().WithContext(fmt::format("pod {}", p.name)));
    ++s.pods;
    if (d->kind == PodDemand::Kind::kNone) {
      ++s.none;
      continue;
    }
    if (d->kind == PodDemand::Kind::kSlice) ++s.slice_pods[d->profile];
    if (d->kind == PodDemand::Kind::kGang) ++s.gangs_by_size[d->gang_size];
    s.instances[d->profile] += d->gang_size;
    s.cost_milli_total += geometry.model().Cost(geometry.model().profiles[d->profile]).value() * d->gang_size;
  }
  return s;
}

std::string DescribeInstances(const MappingSummary& summary, const mig::Geometry& geometry) {
  std::string out;
  for (std::size_t q = 0; q < summary.instances.size() && q < geometry.model().profiles.size(); ++q) {
    if (summary.instances[q] == 0) continue;
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {}", geometry.model().profiles[q].name, summary.instances[q]);
  }
  return out.empty() ? "none" : out;
}

}  // namespace gpuslice::sim
