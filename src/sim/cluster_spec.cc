// Cluster files: the YAML walk (after mig/yaml_guard.h's checks), node groups with their modes
// and static layouts, teams with per-class quotas, and the expansion into nodes.
#include "sim/cluster_spec.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <new>
#include <set>
#include <span>
#include <tuple>
#include <utility>

#include "common/read_file.h"
#include "mig/yaml_guard.h"

namespace gpuslice::sim {
namespace {

constexpr std::size_t kMaxNodeVisits = 1 << 21;  // aliases can make a small file a big tree
constexpr std::size_t kMaxNameLength = 48;
constexpr std::size_t kMaxModelNameLength = 128;
constexpr std::size_t kMaxPathLength = 4096;
constexpr std::string_view kStaticPrefix = "static:";

using Classes = std::vector<const mig::GpuModel*>;
using FieldMap = std::map<std::string, YAML::Node, std::less<>>;

int LineOf(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

std::string LineSuffix(int line) {
  return line > 0 ? fmt::format(" (line {})", line) : std::string();
}

std::string ScalarText(const YAML::Node& n) {
  return n.IsScalar() ? n.Scalar() : std::string(n.IsNull() ? "<empty>" : "<not a scalar>");
}

// Unquoted decimal digits, no sign, no leading zeros (YAML 1.1 would read "010" as octal).
Result<std::int64_t> Integer(const YAML::Node& n, std::string_view field, std::int64_t lo, std::int64_t hi) {
  const std::string s = n.IsScalar() && n.Tag() == "?" ? n.Scalar() : std::string();
  std::int64_t v = 0;
  const bool digits = !s.empty() && s.size() <= 19 && (s.size() == 1 || s[0] != '0') &&
                      std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!digits || ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) {
    return Fail(ErrorCode::kInvalidArgument, "line {}: {} must be an integer from {} to {}, not '{}'",
                LineOf(n), field, lo, hi, ScalarText(n));
  }
  return v;
}

Result<std::string> Text(const YAML::Node& n, std::string_view field, std::size_t max_length) {
  if (!n.IsScalar() || n.Scalar().empty()) {
    return Fail(ErrorCode::kInvalidArgument, "line {}: {} must be a non-empty string", LineOf(n), field);
  }
  if (n.Scalar().size() > max_length) {
    return Fail(ErrorCode::kInvalidArgument, "line {}: {} is longer than {} characters", LineOf(n), field,
                max_length);
  }
  return n.Scalar();
}

// Names of teams, cohorts and node prefixes: [A-Za-z0-9._-], starting with a letter or digit.
Result<std::string> Name(const YAML::Node& n, std::string_view field) {
  Result<std::string> s = Text(n, field, kMaxNameLength);
  if (!s) return s;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  const bool ok = alnum(s->front()) && std::all_of(s->begin(), s->end(), [&](char c) {
                    return alnum(c) || c == '-' || c == '_' || c == '.';
                  });
  if (!ok) {
    return Fail(ErrorCode::kInvalidArgument,
                "line {}: {} '{}' may hold only letters, digits, '-', '_' and '.', and must start with a "
                "letter or digit",
                LineOf(n), field, *s);
  }
  return s;
}

Result<const mig::GpuModel*> Model(const YAML::Node& n, std::string_view field, const mig::Sku** sku) {
  Result<std::string> name = Text(n, field, kMaxModelNameLength);
  if (!name) return Fail(name.error());
  Result<mig::ResolvedGpu> gpu = mig::Catalog::BuiltIn().Resolve(*name);
  if (!gpu) return Fail(gpu.error().WithContext(fmt::format("line {}", LineOf(n))));
  if (sku != nullptr) *sku = gpu->sku;
  return gpu->model;
}

std::string ClassNames(std::span<const mig::GpuModel* const> classes) {
  std::vector<std::string_view> names;
  for (const mig::GpuModel* m : classes) names.push_back(m->name);
  return fmt::format("{}", fmt::join(names, ", "));
}

std::size_t ClassIndex(std::span<const mig::GpuModel* const> classes, const mig::GpuModel* model) {
  return static_cast<std::size_t>(std::find(classes.begin(), classes.end(), model) - classes.begin());
}

Result<GpuMode> SimpleMode(const YAML::Node& n, std::string_view text) {
  if (text == "dynamic") return GpuMode::kDynamic;
  if (text == "whole") return GpuMode::kWhole;
  if (text == "cordoned") return GpuMode::kCordoned;
  if (text == "draining") return GpuMode::kDraining;
  return Fail(
      ErrorCode::kInvalidArgument,
      "line {}: unknown mode '{}' (expected dynamic, whole, cordoned, draining or static:FILE:CONFIG)",
      LineOf(n), text);
}

// A relative static-layout path is taken from the cluster file's directory.
std::string ResolvePath(const std::string& base_dir, const std::string& file) {
  const std::filesystem::path p(file);
  if (base_dir.empty() || p.is_absolute()) return file;
  return (std::filesystem::path(base_dir) / p).string();
}

// At most 1 MiB plus one byte, so the YAML pre-scan can refuse an over-long file itself.
Result<std::string> ReadSmallFile(const std::string& path) {
  return ReadFile(path, mig::kMaxYamlInputBytes + 1);
}

class Walker {
 public:
  Walker(const std::string& base_dir, const ReadFileFn& read_file)
      : base_dir_(base_dir), read_file_(read_file) {}
  Result<ClusterSpec> Document(const YAML::Node& root);

 private:
  Result<void> Visit(const YAML::Node& n);
  Result<FieldMap> Fields(const YAML::Node& map, std::span<const std::string_view> known);
  Result<std::vector<NodeGroupSpec>> Groups(const YAML::Node& list);
  Result<NodeGroupSpec> Group(const YAML::Node& map);
  Result<void> Mode(const FieldMap& fields, NodeGroupSpec& group);
  Result<StaticLayout> Static(const YAML::Node& n, std::string_view spec, const NodeGroupSpec& group);
  Result<const mig::MigPartedConfig*> MigPartedFile(const std::string& path);
  Result<std::vector<TeamSpec>> Teams(const YAML::Node& list, const Classes& classes);
  Result<TeamSpec> Team(const YAML::Node& map, const Classes& classes, std::string& name_out);
  Result<std::vector<std::optional<std::int64_t>>> Amounts(const YAML::Node& n, std::string_view field,
                                                           const Classes& classes, bool team_classes);
  Result<void> Limits(const FieldMap& fields, const Classes& classes, TeamSpec& team);

  const std::string& base_dir_;
  const ReadFileFn& read_file_;
  std::size_t visits_ = 0;
  // Parsed mig-parted files by resolved path, and plans by (path, config, model, SKU, GPUs):
  // a file of many static groups (or aliases repeating one) reads and plans each once.
  std::map<std::string, Result<mig::MigPartedConfig>, std::less<>> files_;
  std::map<std::tuple<std::string, std::string, const mig::GpuModel*, const mig::Sku*, int>,
           Result<std::vector<mig::GpuPlan>>>
      plans_;
};

Result<void> Walker::Visit(const YAML::Node& n) {
  if (++visits_ > kMaxNodeVisits) {
    return Fail(ErrorCode::kInvalidArgument,
                "line {}: the cluster file expands to more than {} YAML nodes (aliases repeated too often?)",
                LineOf(n), kMaxNodeVisits);
  }
  return {};
}

// The fields of a mapping by name. Keys must be distinct known strings: yaml-cpp keeps
// duplicates, and guessing which one was meant would hide a mistake.
Result<FieldMap> Walker::Fields(const YAML::Node& map, std::span<const std::string_view> known) {
  FieldMap out;
  std::map<std::string, int, std::less<>> key_lines;
  for (auto it = map.begin(); it != map.end(); ++it) {
    // Copies: it-> yields a temporary pair, so references into it would dangle.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (auto r = Visit(value); !r) return Fail(r.error());
    if (!key.IsScalar())
      return Fail(ErrorCode::kInvalidArgument, "line {}: a key must be a string", LineOf(key));
    const std::string& k = key.Scalar();
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      return Fail(ErrorCode::kInvalidArgument, "line {}: unknown field '{}' (expected {})", LineOf(key), k,
                  fmt::join(known, ", "));
    }
    if (const auto [first, fresh] = key_lines.emplace(k, LineOf(key)); !fresh) {
      return Fail(ErrorCode::kInvalidArgument, "line {}: duplicate key '{}' (first on line {})", LineOf(key),
                  k, first->second);
    }
    out.emplace(k, value);
  }
  return out;
}

Result<ClusterSpec> Walker::Document(const YAML::Node& root) {
  if (root.IsNull()) return Fail(ErrorCode::kInvalidArgument, "empty cluster file (it needs 'nodes')");
  if (!root.IsMap()) {
    return Fail(ErrorCode::kInvalidArgument, "line {}: a cluster file is a mapping with 'nodes' and 'teams'",
                LineOf(root));
  }
  static constexpr std::array<std::string_view, 2> kKnown = {"nodes", "teams"};
  Result<FieldMap> fields = Fields(root, kKnown);
  if (!fields) return Fail(fields.error());
  const auto nodes = fields->find("nodes");
  if (nodes == fields->end()) return Fail(ErrorCode::kInvalidArgument, "missing field 'nodes'");
  ClusterSpec spec;
  Result<std::vector<NodeGroupSpec>> groups = Groups(nodes->second);
  if (!groups) return Fail(groups.error());
  spec.groups = std::move(*groups);
  if (const auto teams = fields->find("teams"); teams != fields->end() && !teams->second.IsNull()) {
    Result<std::vector<TeamSpec>> t = Teams(teams->second, spec.GpuClasses());
    if (!t) return Fail(t.error());
    spec.teams = std::move(*t);
  }
  return spec;
}

// ---- Node groups ------------------------------------------------------------------------------

Result<std::vector<NodeGroupSpec>> Walker::Groups(const YAML::Node& list) {
  if (!list.IsSequence() || list.size() == 0) {
    return Fail(ErrorCode::kInvalidArgument, "line {}: 'nodes' must be a list of at least one node group",
                LineOf(list));
  }
  std::vector<NodeGroupSpec> groups;
  std::int64_t gpus = 0;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node node = list[i];
    if (auto r = Visit(node); !r) return Fail(r.error());
    const std::string where = fmt::format("node group {}{}", i + 1, LineSuffix(LineOf(node)));
    Result<NodeGroupSpec> group = Group(node);
    if (!group) return Fail(group.error().WithContext(where));
    gpus += std::int64_t{group->count} * group->gpus;
    if (gpus > kMaxClusterGpus) {
      return Fail(ErrorCode::kInvalidArgument,
                  "{}: the cluster reaches {} GPUs here; at most {} are supported", where, gpus,
                  kMaxClusterGpus);
    }
    groups.push_back(std::move(*group));
  }
  return groups;
}

Result<NodeGroupSpec> Walker::Group(const YAML::Node& map) {
  if (!map.IsMap()) {
    return Fail(ErrorCode::kInvalidArgument,
                "a node group is a mapping with 'count', 'gpus', 'model' and optionally 'mode', 'name'");
  }
  static constexpr std::array<std::string_view, 5> kKnown = {"count", "gpus", "model", "mode", "name"};
  Result<FieldMap> fields = Fields(map, kKnown);
  if (!fields) return Fail(fields.error());
  for (const std::string_view required : {"count", "gpus", "model"}) {
    if (fields->find(required) == fields->end()) {
      return Fail(ErrorCode::kInvalidArgument, "missing required field '{}'", required);
    }
  }
  NodeGroupSpec group;
  group.line = LineOf(map);
  Result<std::int64_t> count = Integer(fields->at("count"), "count", 1, kMaxNodesPerGroup);
  if (!count) return Fail(count.error());
  Result<std::int64_t> gpus = Integer(fields->at("gpus"), "gpus", 1, kMaxGpusPerNode);
  if (!gpus) return Fail(gpus.error());
  group.count = static_cast<int>(*count);
  group.gpus = static_cast<int>(*gpus);
  Result<const mig::GpuModel*> model = Model(fields->at("model"), "model", &group.sku);
  if (!model) return Fail(model.error());
  group.model = *model;
  if (const auto name = fields->find("name"); name != fields->end()) {
    Result<std::string> prefix = Name(name->second, "name");
    if (!prefix) return Fail(prefix.error());
    group.name_prefix = std::move(*prefix);
  }
  if (auto r = Mode(*fields, group); !r) return Fail(r.error());
  return group;
}

Result<void> Walker::Mode(const FieldMap& fields, NodeGroupSpec& group) {
  const bool mig = group.model->mig_capable;
  const auto field = fields.find("mode");
  if (field == fields.end()) {
    group.mode = mig ? GpuMode::kDynamic : GpuMode::kWhole;
    return {};
  }
  const YAML::Node& n = field->second;
  Result<std::string> text = Text(n, "mode", kStaticPrefix.size() + 2 * kMaxPathLength);
  if (!text) return Fail(text.error());
  if (text->starts_with(kStaticPrefix)) {
    group.mode = GpuMode::kStatic;
  } else {
    Result<GpuMode> mode = SimpleMode(n, *text);
    if (!mode) return Fail(mode.error());
    group.mode = *mode;
  }
  if (!mig && (group.mode == GpuMode::kDynamic || group.mode == GpuMode::kStatic)) {
    return Fail(ErrorCode::kInvalidArgument,
                "line {}: mode '{}' needs MIG, but {} has no MIG (use whole, cordoned or draining)",
                LineOf(n), GpuModeName(group.mode), group.model->name);
  }
  if (group.mode != GpuMode::kStatic) return {};
  Result<StaticLayout> layout = Static(n, std::string_view(*text).substr(kStaticPrefix.size()), group);
  if (!layout) return Fail(layout.error());
  group.layout = std::move(*layout);
  return {};
}

Result<const mig::MigPartedConfig*> Walker::MigPartedFile(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) {
    Result<mig::MigPartedConfig> parsed =
        Fail(ErrorCode::kFailedPrecondition, "no file reader was given to read static layouts");
    if (read_file_) {
      Result<std::string> text = read_file_(path);
      if (!text) {
        parsed = Fail(text.error());
      } else if (parsed = mig::ParseMigPartedConfig(*text); !parsed) {
        parsed = Fail(parsed.error().WithContext(fmt::format("mig-parted file {}", path)));
      }
    }
    it = files_.emplace(path, std::move(parsed)).first;
  }
  if (!it->second) return Fail(it->second.error());
  return &*it->second;
}

// "FILE:CONFIG" (split at the last ':') -> the config planned for GPUs 0..gpus-1 of the group.
Result<StaticLayout> Walker::Static(const YAML::Node& n, std::string_view spec, const NodeGroupSpec& group) {
  const std::size_t colon = spec.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == spec.size()) {
    return Fail(ErrorCode::kInvalidArgument,
                "line {}: mode 'static:{}' must name a mig-parted file and a config: static:FILE:CONFIG",
                LineOf(n), spec);
  }
  StaticLayout layout;
  layout.file = std::string(spec.substr(0, colon));
  layout.config = std::string(spec.substr(colon + 1));
  layout.path = ResolvePath(base_dir_, layout.file);
  const auto key = std::make_tuple(layout.path, layout.config, group.model, group.sku, group.gpus);
  auto it = plans_.find(key);
  if (it == plans_.end()) {
    auto plan = [&]() -> Result<std::vector<mig::GpuPlan>> {
      Result<const mig::MigPartedConfig*> config = MigPartedFile(layout.path);
      if (!config) return Fail(config.error());
      std::vector<mig::PlanGpu> gpus;
      gpus.reserve(static_cast<std::size_t>(group.gpus));
      for (int i = 0; i < group.gpus; ++i) gpus.push_back({i, mig::ResolvedGpu{group.model, group.sku}});
      return mig::PlanConfig(**config, layout.config, gpus);
    };
    it = plans_.emplace(key, plan()).first;
  }
  if (!it->second) return Fail(it->second.error().WithContext(fmt::format("line {}: mode", LineOf(n))));
  for (const mig::GpuPlan& p : *it->second) {
    if (!p.matched) {
      return Fail(ErrorCode::kInvalidArgument,
                  "line {}: config '{}' of {} leaves GPU {} ({}) as it is (no entry applies to it); a static "
                  "node needs a layout for every GPU",
                  LineOf(n), layout.config, layout.path, p.index, group.model->name);
    }
  }
  layout.plans = *it->second;
  return layout;
}

// ---- Teams ------------------------------------------------------------------------------------

Result<std::vector<TeamSpec>> Walker::Teams(const YAML::Node& list, const Classes& classes) {
  if (!list.IsSequence()) {
    return Fail(ErrorCode::kInvalidArgument, "line {}: 'teams' must be a list of teams", LineOf(list));
  }
  std::vector<TeamSpec> teams;
  std::map<std::string, std::size_t, std::less<>> names;  // team name -> index
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node node = list[i];
    if (auto r = Visit(node); !r) return Fail(r.error());
    std::string name;  // set by Team as soon as the name is known, for the error context
    Result<TeamSpec> team = Team(node, classes, name);
    const std::string where = fmt::format(
        "team {}{}{}", i + 1, name.empty() ? "" : fmt::format(" '{}'", name), LineSuffix(LineOf(node)));
    if (!team) return Fail(team.error().WithContext(where));
    if (const auto [it, fresh] = names.emplace(team->name, i); !fresh) {
      return Fail(ErrorCode::kInvalidArgument, "{}: duplicate team name (first in team {}{})", where,
                  it->second + 1, LineSuffix(teams[it->second].line));
    }
    teams.push_back(std::move(*team));
  }
  for (const TeamSpec& t : teams) {
    if (const auto clash = names.find(t.cohort); clash != names.end()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "team '{}'{}: cohort '{}' has the name of a team; teams and cohorts need distinct names",
                  t.name, LineSuffix(t.line), t.cohort);
    }
  }
  return teams;
}

Result<TeamSpec> Walker::Team(const YAML::Node& map, const Classes& classes, std::string& name_out) {
  if (!map.IsMap()) {
    return Fail(ErrorCode::kInvalidArgument,
                "a team is a mapping with 'name', 'quota_mgpu' and optionally "
                "'cohort', 'weight', 'borrowing_limit_mgpu', 'lending_limit_mgpu'");
  }
  static constexpr std::array<std::string_view, 6> kKnown = {
      "name", "quota_mgpu", "borrowing_limit_mgpu", "lending_limit_mgpu", "cohort", "weight"};
  Result<FieldMap> fields = Fields(map, kKnown);
  if (!fields) return Fail(fields.error());
  const auto name_field = fields->find("name");
  if (name_field == fields->end()) return Fail(ErrorCode::kInvalidArgument, "missing required field 'name'");
  TeamSpec team;
  team.line = LineOf(map);
  Result<std::string> name = Name(name_field->second, "name");
  if (!name) return Fail(name.error());
  team.name = std::move(*name);
  name_out = team.name;
  if (fields->find("quota_mgpu") == fields->end()) {
    return Fail(ErrorCode::kInvalidArgument, "missing required field 'quota_mgpu'");
  }
  if (const auto cohort = fields->find("cohort"); cohort != fields->end()) {
    Result<std::string> c = Name(cohort->second, "cohort");
    if (!c) return Fail(c.error());
    team.cohort = std::move(*c);
  }
  if (const auto weight = fields->find("weight"); weight != fields->end()) {
    Result<std::int64_t> w = Integer(weight->second, "weight", 0, kMaxTeamWeight);
    if (!w) return Fail(w.error());
    team.weight = *w;
  }
  auto nominal = Amounts(fields->at("quota_mgpu"), "quota_mgpu", classes, false);
  if (!nominal) return Fail(nominal.error());
  Classes own;
  for (std::size_t c = 0; c < classes.size(); ++c) {
    if (!(*nominal)[c]) continue;
    own.push_back(classes[c]);
    team.quotas.push_back({classes[c], MilliGpu(*(*nominal)[c]), std::nullopt, std::nullopt});
  }
  if (auto r = Limits(*fields, own, team); !r) return Fail(r.error());
  return team;
}

Result<void> Walker::Limits(const FieldMap& fields, const Classes& classes, TeamSpec& team) {
  for (const bool borrowing : {true, false}) {
    const std::string_view field = borrowing ? "borrowing_limit_mgpu" : "lending_limit_mgpu";
    const auto it = fields.find(field);
    if (it == fields.end()) continue;
    if (team.cohort.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "line {}: {} needs a cohort (a team without one never borrows or lends)",
                  LineOf(it->second), field);
    }
    auto amounts = Amounts(it->second, field, classes, true);
    if (!amounts) return Fail(amounts.error());
    for (std::size_t c = 0; c < classes.size(); ++c) {
      if (!(*amounts)[c]) continue;
      ClassQuotaSpec& q = team.quotas[c];  // quotas hold exactly `classes`, in order
      const MilliGpu v((*amounts)[c].value());
      (borrowing ? q.borrowing_limit : q.lending_limit) = v;
      if (!borrowing && v > q.nominal) {
        return Fail(ErrorCode::kInvalidArgument,
                    "line {}: lending_limit_mgpu {} for {} exceeds the nominal quota of {} (Kueue's rule)",
                    LineOf(it->second), v.value(), classes[c]->name, q.nominal.value());
      }
    }
  }
  return {};
}

// A number (every class of `classes`) or a map {MODEL: amount} over some of them. The result
// holds one entry per class of `classes`, nullopt for classes the map leaves out.
Result<std::vector<std::optional<std::int64_t>>> Walker::Amounts(const YAML::Node& n, std::string_view field,
                                                                 const Classes& classes, bool team_classes) {
  std::vector<std::optional<std::int64_t>> out(classes.size());
  if (!n.IsMap()) {
    Result<std::int64_t> v = Integer(n, field, 0, kMaxTeamMilliGpu);
    if (!v) return Fail(v.error());
    std::fill(out.begin(), out.end(), *v);
    return out;
  }
  if (n.size() == 0) {
    return Fail(ErrorCode::kInvalidArgument, "line {}: {} is an empty map; give an amount per GPU class",
                LineOf(n), field);
  }
  std::map<std::size_t, int> seen;  // class index -> line
  for (auto it = n.begin(); it != n.end(); ++it) {
    const YAML::Node key = it->first;  // copies, as in Fields
    const YAML::Node value = it->second;
    if (auto r = Visit(value); !r) return Fail(r.error());
    Result<const mig::GpuModel*> model = Model(key, fmt::format("{} key", field), nullptr);
    if (!model) return Fail(model.error().WithContext(field));
    const std::size_t c = ClassIndex(classes, *model);
    if (c == classes.size()) {
      return Fail(team_classes ? ErrorCode::kInvalidArgument : ErrorCode::kNotFound,
                  "line {}: {}: '{}' ({}) is not a {} (its classes: {})", LineOf(key), field, key.Scalar(),
                  (*model)->name, team_classes ? "class the team has quota for" : "GPU class of this cluster",
                  ClassNames(classes));
    }
    if (const auto [s, fresh] = seen.emplace(c, LineOf(key)); !fresh) {
      return Fail(ErrorCode::kInvalidArgument, "line {}: {}: '{}' is {} again (first on line {})",
                  LineOf(key), field, key.Scalar(), (*model)->name, s->second);
    }
    Result<std::int64_t> v =
        Integer(value, fmt::format("{} for {}", field, (*model)->name), 0, kMaxTeamMilliGpu);
    if (!v) return Fail(v.error());
    out[c] = *v;
  }
  return out;
}

int Digits(std::int64_t n) {
  int d = 1;
  for (; n >= 10; n /= 10) ++d;
  return d;
}

}  // namespace

std::string_view GpuModeName(GpuMode mode) {
  switch (mode) {
    case GpuMode::kDynamic: return "dynamic";
    case GpuMode::kWhole: return "whole";
    case GpuMode::kCordoned: return "cordoned";
    case GpuMode::kDraining: return "draining";
    case GpuMode::kStatic: return "static";
  }
  return "unknown";
}

std::vector<const mig::GpuModel*> ClusterSpec::GpuClasses() const {
  Classes out;
  for (const NodeGroupSpec& g : groups) {
    if (ClassIndex(out, g.model) == out.size()) out.push_back(g.model);
  }
  return out;
}

std::vector<NodeSpec> ExpandNodes(const ClusterSpec& spec) {
  std::map<std::string_view, std::int64_t> per_prefix;
  std::size_t total = 0;
  for (const NodeGroupSpec& g : spec.groups) {
    per_prefix[g.name_prefix] += g.count;
    total += static_cast<std::size_t>(g.count);
  }
  std::map<std::string_view, std::int64_t> next;
  std::vector<NodeSpec> nodes;
  nodes.reserve(total);
  for (std::size_t i = 0; i < spec.groups.size(); ++i) {
    const NodeGroupSpec& g = spec.groups[i];
    const int width = Digits(per_prefix[g.name_prefix]);
    std::int64_t& n = next[g.name_prefix];
    for (int k = 0; k < g.count; ++k) {
      nodes.push_back({fmt::format("{}-{:0{}}", g.name_prefix, ++n, width), g.model, g.sku, g.mode, g.gpus,
                       static_cast<int>(i)});
    }
  }
  return nodes;
}

ClusterTotals Totals(const ClusterSpec& spec) {
  ClusterTotals totals;
  const Classes classes = spec.GpuClasses();
  for (const mig::GpuModel* m : classes) totals.per_model.push_back({m, 0, 0});
  for (const NodeGroupSpec& g : spec.groups) {
    const std::int64_t gpus = std::int64_t{g.count} * g.gpus;
    ModelTotals& t = totals.per_model[ClassIndex(classes, g.model)];
    t.nodes += g.count;
    t.gpus += gpus;
    totals.nodes += g.count;
    totals.gpus += gpus;
  }
  return totals;
}

Result<ClusterSpec> ParseClusterSpec(std::string_view yaml, const std::string& base_dir,
                                     const ReadFileFn& read_file) {
  if (auto shape = mig::CheckYamlShape(yaml, "cluster file"); !shape) return Fail(shape.error());
  try {
    const std::string text(yaml);
    if (auto one = mig::CheckOneYamlDocument(text); !one) return Fail(one.error());
    Walker walker(base_dir, read_file);
    return walker.Document(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    // e.what() repeats the mark as "yaml-cpp: error at line L, column C: msg"; use the parts.
    return Fail(ErrorCode::kInvalidArgument, "line {}, column {}: invalid YAML: {}", e.mark.line + 1,
                e.mark.column + 1, e.msg);
  } catch (const std::bad_alloc&) {
    return Fail(ErrorCode::kInvalidArgument, "cluster file too large to load");
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, "invalid cluster file: {}", e.what());
  }
}

Result<ClusterSpec> ReadClusterSpecFile(const std::string& path) {
  Result<std::string> text = ReadSmallFile(path);
  if (!text) return Fail(text.error());
  const std::string base_dir = std::filesystem::path(path).parent_path().string();
  Result<ClusterSpec> spec = ParseClusterSpec(*text, base_dir, ReadSmallFile);
  if (!spec) return Fail(spec.error().WithContext(path));
  return spec;
}

}  // namespace gpuslice::sim
