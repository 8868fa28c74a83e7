#include "server/control_plane.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <set>

#include "mig/catalog.h"
#include "mig/mig_parted.h"

namespace gpuslice::server {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr int kMaxGpusPerNode = 64;
constexpr std::string_view kNextJobId = "next_job_id";

bool Ended(JobPhase p) {
  return p == JobPhase::kSucceeded || p == JobPhase::kFailed || p == JobPhase::kCancelled;
}

Result<JobPhase> ParsePhase(std::string_view s) {
  for (JobPhase p : {JobPhase::kPending, JobPhase::kRunning, JobPhase::kSucceeded, JobPhase::kFailed,
                     JobPhase::kCancelled}) {
    if (JobPhaseName(p) == s) return p;
  }
  return Fail(ErrorCode::kInternal, "unknown job phase '{}'", s);
}

ordered_json SlicesJson(const std::vector<SliceAt>& slices) {
  ordered_json out = ordered_json::array();
  for (const SliceAt& s : slices) {
    ordered_json j{{"node", s.node}, {"gpu", s.gpu}};
    if (!s.profile.empty()) {
      j["profile"] = s.profile;
      j["start"] = s.start;
    }
    out.push_back(std::move(j));
  }
  return out;
}

// The inverse of RecordOf's JSON, for records this server wrote.
Result<JobView> ViewOf(const store::JobRecord& r) {
  const json j = json::parse(r.json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("spec")) {
    return Fail(ErrorCode::kInternal, "job record {} is not a job this server wrote", r.id);
  }
  Result<api::JobSubmit> spec = api::ParseJobSubmit(j["spec"].dump());
  if (!spec) return Fail(spec.error().WithContext(fmt::format("job record {}", r.id)));
  Result<JobPhase> phase = ParsePhase(r.state);
  if (!phase) return Fail(phase.error());
  JobView v;
  v.id = r.id;
  v.spec = std::move(*spec);
  v.name = v.spec.name;
  v.team = v.spec.team;
  v.phase = *phase;
  try {
    for (const json& s : j.value("slices", json::array())) {
      v.slices.push_back({s.at("node").get<std::string>(), s.at("gpu").get<int>(), s.value("profile", ""),
                          s.value("start", 0)});
    }
    if (j.contains("exit_code")) v.exit_code = j["exit_code"].get<int>();
    v.preemptions = j.value("preemptions", 0);
    v.submitted_ms = j.value("submitted_ms", std::int64_t{0});
    v.started_ms = j.value("started_ms", std::int64_t{0});
    v.ended_ms = j.value("ended_ms", std::int64_t{0});
  } catch (const json::exception& e) {
    return Fail(ErrorCode::kInternal, "job record {}: {}", r.id, e.what());
  }
  return v;
}

json TeamSpecJson(const sched::QuotaNodeSpec& s) {
  json quotas = json::object();
  for (const auto& [cls, q] : s.quotas) {
    json e{{"nominal_mgpu", q.nominal.value()}};
    if (q.borrowing_limit) e["borrowing_limit_mgpu"] = q.borrowing_limit->value();
    if (q.lending_limit) e["lending_limit_mgpu"] = q.lending_limit->value();
    quotas[cls] = e;
  }
  return json{
      {"kind", s.team ? "team" : "cohort"}, {"parent", s.parent}, {"weight", s.weight}, {"quotas", quotas}};
}

Result<sched::QuotaNodeSpec> TeamSpecOf(const std::string& name, const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Fail(ErrorCode::kInternal, "team record '{}' is not JSON", name);
  try {
    sched::QuotaNodeSpec s;
    s.name = name;
    s.team = j.at("kind").get<std::string>() == "team";
    s.parent = j.at("parent").get<std::string>();
    s.weight = j.at("weight").get<std::int64_t>();
    for (const auto& [cls, e] : j.at("quotas").items()) {
      sched::ClassQuota q{MilliGpu(e.at("nominal_mgpu").get<std::int64_t>())};
      if (e.contains("borrowing_limit_mgpu"))
        q.borrowing_limit = MilliGpu(e["borrowing_limit_mgpu"].get<std::int64_t>());
      if (e.contains("lending_limit_mgpu"))
        q.lending_limit = MilliGpu(e["lending_limit_mgpu"].get<std::int64_t>());
      s.quotas[cls] = q;
    }
    return s;
  } catch (const json::exception& e) {
    return Fail(ErrorCode::kInternal, "team record '{}': {}", name, e.what());
  }
}

}  // namespace

std::string_view JobPhaseName(JobPhase p) {
  switch (p) {
    case JobPhase::kPending: return "pending";
    case JobPhase::kRunning: return "running";
    case JobPhase::kSucceeded: return "succeeded";
    case JobPhase::kFailed: return "failed";
    case JobPhase::kCancelled: return "cancelled";
  }
  return "pending";
}

ordered_json ToJson(const JobView& v) {
  ordered_json j{{"id", v.id},
                 {"name", v.name},
                 {"team", v.team},
                 {"phase", JobPhaseName(v.phase)},
                 {"spec", api::ToJson(v.spec)},
                 {"slices", SlicesJson(v.slices)}};
  if (v.phase == JobPhase::kPending) j["reason"] = {{"kind", v.reason_kind}, {"message", v.reason}};
  if (v.exit_code) j["exit_code"] = *v.exit_code;
  j["preemptions"] = v.preemptions;
  j["submitted_ms"] = v.submitted_ms;
  if (v.started_ms != 0) j["started_ms"] = v.started_ms;
  if (v.ended_ms != 0) j["ended_ms"] = v.ended_ms;
  return j;
}

ordered_json ToJson(const Event& e) {
  ordered_json j{{"seq", e.seq}, {"time_ms", e.time_ms}, {"type", e.type}};
  if (!e.team.empty()) j["team"] = e.team;
  for (const auto& [k, v] : e.data.items()) j[k] = v;
  return j;
}

ControlPlane::ControlPlane(store::StateStore& store, const Clock& clock, sched::QuotaTree quota,
                           sched::SchedulerOptions options)
    : store_(store),
      clock_(clock),
      scheduler_(std::make_unique<sched::Scheduler>(std::move(quota), options)),
      first_generation_(static_cast<std::uint64_t>(std::max<std::int64_t>(1, NowMs()))),
      // Event numbers keep growing across restarts (1,000 per millisecond of uptime before the
      // next start could catch up), so a client's Last-Event-ID from before one is simply old.
      next_event_seq_(first_generation_ * 1000) {}

void ControlPlane::EmitLocked(std::string type, std::string team, ordered_json data) {
  Event e{next_event_seq_++, NowMs(), std::move(type), std::move(team), std::move(data)};
  for (auto it = sinks_.begin(); it != sinks_.end();) {
    it = it->second(e) ? std::next(it) : sinks_.erase(it);
  }
  events_.push_back(std::move(e));
  if (events_.size() > kKeptEvents) events_.pop_front();
}

void ControlPlane::EmitJobLocked(std::string type, const JobView& v) {
  ordered_json data{{"job", v.id}, {"name", v.name}, {"phase", JobPhaseName(v.phase)}};
  if (!v.slices.empty() && v.phase == JobPhase::kRunning) data["slices"] = SlicesJson(v.slices);
  if (v.exit_code) data["exit_code"] = *v.exit_code;
  EmitLocked(std::move(type), v.team, std::move(data));
}

std::uint64_t ControlPlane::Subscribe(std::uint64_t after, EventSink sink) {
  std::lock_guard lock(mu_);
  for (const Event& e : events_) {
    if (e.seq > after && !sink(e)) return 0;
  }
  const std::uint64_t id = next_sink_++;
  sinks_.emplace(id, std::move(sink));
  return id;
}

void ControlPlane::Unsubscribe(std::uint64_t subscription) {
  std::lock_guard lock(mu_);
  sinks_.erase(subscription);
}

std::int64_t ControlPlane::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.WallNow().time_since_epoch()).count();
}

Result<std::unique_ptr<ControlPlane>> ControlPlane::Open(store::StateStore& store, const Clock& clock,
                                                         ControlOptions options) {
  Result<sched::QuotaTree> quota = sched::QuotaTree::Build(options.teams);
  if (!quota) return Fail(quota.error().WithContext("teams"));
  std::unique_ptr<ControlPlane> cp(new ControlPlane(store, clock, std::move(*quota), options.scheduler));
  cp->lost_node_jobs_ = options.lost_node_jobs;
  std::lock_guard lock(cp->mu_);
  if (Result<void> r = cp->Recover(); !r) return Fail(r.error());
  return cp;
}

Result<void> ControlPlane::Recover() {
  Result<store::Snapshot> snap = store_.LoadAll();
  if (!snap) return Fail(snap.error());
  for (const auto& [name, text] : snap->nodes) {
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("gpu_model") || !j["gpu_model"].is_string() ||
        !j.contains("gpus") || !j["gpus"].is_number_integer()) {
      return Fail(ErrorCode::kInternal, "node record '{}' is not a node this server wrote", name);
    }
    if (Result<void> r = AddNodeLocked({name, j["gpu_model"].get<std::string>(), j["gpus"].get<int>()}); !r)
      return r;
    if (j.contains("modes") && j["modes"].is_object()) {
      for (const auto& [gpu, mode] : j["modes"].items()) {
        settings_[name].modes[std::atoi(gpu.c_str())] =
            mode == "whole" ? sched::GpuMode::kWhole : sched::GpuMode::kDynamic;
      }
    }
    if (j.contains("layouts") && j["layouts"].is_object()) {
      const mig::GpuModel& model = *mig::Catalog::BuiltIn().Resolve(j["gpu_model"].get<std::string>())->model;
      for (const auto& [gpu, list] : j["layouts"].items()) {
        mig::Layout layout;
        for (const json& p : list) {
          const int profile = model.ProfileIndex(p.value("profile", ""));
          if (profile < 0)
            return Fail(ErrorCode::kInternal, "node record '{}': unknown profile in its layout", name);
          layout.push_back({profile, p.value("start", 0)});
        }
        settings_[name].layouts[std::atoi(gpu.c_str())] = std::move(layout);
      }
    }
    if (j.contains("held") && j["held"].is_object()) {
      for (const auto& [gpu, mode] : j["held"].items()) {
        const int index = std::atoi(gpu.c_str());
        settings_[name].held[index] =
            mode == "draining" ? sched::GpuMode::kDraining : sched::GpuMode::kCordoned;
      }
    }
    ApplySettingsLocked(name);
  }
  // Teams changed through the API, over the --team flags; parents before children (a stored
  // cohort may come after its teams in name order).
  std::vector<sched::QuotaNodeSpec> stored;
  for (const auto& [name, text] : snap->teams) {
    Result<sched::QuotaNodeSpec> spec = TeamSpecOf(name, text);
    if (!spec) return Fail(spec.error());
    stored.push_back(std::move(*spec));
  }
  while (!stored.empty()) {
    const std::size_t before = stored.size();
    std::erase_if(stored, [&](const sched::QuotaNodeSpec& s) {
      return (s.parent.empty() || scheduler_->quota().Find(s.parent)) && scheduler_->UpsertQuotaNode(s);
    });
    if (stored.size() == before) {
      return Fail(ErrorCode::kInternal, "stored team '{}' cannot be restored: {}", stored[0].name,
                  scheduler_->UpsertQuotaNode(stored[0], true).error().message);
    }
  }
  if (auto it = snap->meta.find(std::string(kNextJobId)); it != snap->meta.end()) {
    next_job_id_ = std::max<std::uint64_t>(1, std::strtoull(it->second.c_str(), nullptr, 10));
  }
  for (const store::JobRecord& r : snap->jobs) {  // by id: pending jobs keep their queue order
    Result<JobView> v = ViewOf(r);
    if (!v) return Fail(v.error());
    next_job_id_ = std::max(next_job_id_, v->id + 1);
    JobEntry e{std::move(*v), JobId()};
    if (!Ended(e.view.phase)) {
      Result<sched::Job> job = SchedJobLocked(e.view);
      if (!job) return Fail(job.error());
      Result<JobId> id = Fail(ErrorCode::kNotFound, "not running");
      if (e.view.phase == JobPhase::kRunning) {
        std::vector<sched::Scheduler::RestoredSlice> at;
        for (const SliceAt& s : e.view.slices) {
          const auto n = node_ids_.find(s.node);
          if (n == node_ids_.end()) break;
          const sched::Node& node = scheduler_->node(n->second);
          if (s.gpu < 0 || s.gpu >= static_cast<int>(node.gpus.size())) break;
          const sched::GpuRef ref = node.gpus[static_cast<std::size_t>(s.gpu)];
          sched::Scheduler::RestoredSlice slice{ref, std::nullopt};
          if (!s.profile.empty()) {
            slice.placement = mig::Placement{scheduler_->gpu(ref).model->ProfileIndex(s.profile), s.start};
          }
          at.push_back(slice);
        }
        id = scheduler_->Restore(*job, at, e.view.started_ms);
      }
      if (!id) {  // pending, or running somewhere that no longer exists: queue it again
        e.view.phase = JobPhase::kPending;
        e.view.slices.clear();
        id = scheduler_->Submit(*job);
        if (!id) return Fail(id.error().WithContext(fmt::format("job {}", e.view.id)));
      }
      e.sched = *id;
      job_of_sched_[id->value()] = e.view.id;
    }
    jobs_.emplace(e.view.id, std::move(e));
  }
  return {};
}

Result<void> ControlPlane::AddNodeLocked(const NodeSpec& n) {
  Result<mig::ResolvedGpu> model = mig::Catalog::BuiltIn().Resolve(n.gpu_model);
  if (!model) return Fail(model.error().WithContext(fmt::format("node {}", n.name)));
  if (n.gpus < 1 || n.gpus > kMaxGpusPerNode) {
    return Fail(ErrorCode::kInvalidArgument, "node {}: {} GPUs (1 to {})", n.name, n.gpus, kMaxGpusPerNode);
  }
  const sched::GpuMode mode = model->model->mig_capable ? sched::GpuMode::kDynamic : sched::GpuMode::kWhole;
  Result<NodeId> id = scheduler_->AddNode(n.name, *model->model, n.gpus, mode);
  if (!id) return Fail(id.error());
  nodes_[n.name] = NodeSpec{n.name, model->model->name, n.gpus};
  node_ids_[n.name] = *id;
  generation_[n.name] = std::max<std::uint64_t>(first_generation_, static_cast<std::uint64_t>(NowMs()));
  last_seen_ms_[n.name] = NowMs();
  return {};
}

Result<void> ControlPlane::RegisterNode(const NodeSpec& node) {
  std::lock_guard lock(mu_);
  if (!api::IsSaneName(node.name)) {
    return Fail(ErrorCode::kInvalidArgument, "'{}' is not a valid node name", node.name.substr(0, 64));
  }
  if (const auto it = nodes_.find(node.name); it != nodes_.end()) {
    const Result<mig::ResolvedGpu> model = mig::Catalog::BuiltIn().Resolve(node.gpu_model);
    if (model && model->model->name == it->second.gpu_model && node.gpus == it->second.gpus) return {};
    return Fail(ErrorCode::kAlreadyExists, "node {} is registered with {} x {}", node.name, it->second.gpus,
                it->second.gpu_model);
  }
  if (Result<void> r = AddNodeLocked(node); !r) return r;
  const NodeSpec& added = nodes_.at(node.name);
  EmitLocked("node-registered", "",
             {{"node", added.name}, {"gpu_model", added.gpu_model}, {"gpus", added.gpus}});
  ApplySettingsLocked(added.name);  // an admin's cordon outlives the node's loss
  store::WriteBatch batch;
  batch.Put(store::Collection::kNodes, added.name, NodeRecordLocked(added.name, settings_[added.name]));
  batch.AppendEvent("node-registered", json{{"node", added.name}}.dump());
  // The scheduler has the node already; a failed commit leaves it known until a restart, which
  // is harmless (the agent retries registering and gets the same answer).
  if (Result<store::CommitInfo> c = store_.Apply(batch); !c) return Fail(c.error());
  return {};
}

std::string ControlPlane::NodeRecordLocked(const std::string& name, const NodeSettings& settings) const {
  const NodeSpec& n = nodes_.at(name);
  json j{{"gpu_model", n.gpu_model}, {"gpus", n.gpus}};
  for (const auto& [gpu, mode] : settings.held) j["held"][std::to_string(gpu)] = sched::GpuModeName(mode);
  for (const auto& [gpu, mode] : settings.modes) j["modes"][std::to_string(gpu)] = sched::GpuModeName(mode);
  if (!settings.layouts.empty()) {
    const mig::GpuModel& model = *mig::Catalog::BuiltIn().Resolve(n.gpu_model).value().model;
    for (const auto& [gpu, layout] : settings.layouts) {
      json list = json::array();
      for (const mig::Placement& p : layout) {
        list.push_back(
            {{"profile", model.profiles[static_cast<std::size_t>(p.profile)].name}, {"start", p.start}});
      }
      j["layouts"][std::to_string(gpu)] = std::move(list);
    }
  }
  return j.dump();
}

Result<void> ControlPlane::CommitSettingsLocked(const std::string& name, NodeSettings next,
                                                const ordered_json& event) {
  store::WriteBatch batch;
  batch.Put(store::Collection::kNodes, name, NodeRecordLocked(name, next));
  batch.AppendEvent("node-mode", event.dump());
  if (Result<store::CommitInfo> c = store_.Apply(batch); !c) return Fail(c.error());
  settings_[name] = std::move(next);
  return {};
}

void ControlPlane::ApplySettingsLocked(const std::string& name) {
  const auto n = node_ids_.find(name);
  const auto s = settings_.find(name);
  if (n == node_ids_.end() || s == settings_.end()) return;
  const sched::Node& node = scheduler_->node(n->second);
  const auto each = [&](const auto& by_gpu, const auto& apply) {
    for (const auto& [gpu, value] : by_gpu) {
      if (gpu >= 0 && gpu < static_cast<int>(node.gpus.size()))
        apply(node.gpus[static_cast<std::size_t>(gpu)], value);
    }
  };
  // Modes and layouts first, cordons last (a change of base mode lifts a cordon).
  each(s->second.modes,
       [&](sched::GpuRef g, sched::GpuMode m) { (void)scheduler_->SetGpuMode(g, m, NowMs()); });
  each(s->second.layouts,
       [&](sched::GpuRef g, const mig::Layout& l) { (void)scheduler_->SetStaticLayout(g, l, NowMs()); });
  each(s->second.held,
       [&](sched::GpuRef g, sched::GpuMode m) { (void)scheduler_->SetGpuMode(g, m, NowMs()); });
}

Result<NodeAction> ParseNodeAction(std::string_view text) {
  if (text == "cordon") return NodeAction::kCordon;
  if (text == "drain") return NodeAction::kDrain;
  if (text == "uncordon") return NodeAction::kUncordon;
  return Fail(ErrorCode::kInvalidArgument, "'{}' is not a node action (cordon, drain, uncordon)",
              text.substr(0, 64));
}

Result<NodeView> ControlPlane::SetNodeMode(std::string_view name, std::optional<int> gpu, NodeAction action) {
  std::lock_guard lock(mu_);
  const auto n = node_ids_.find(name);
  if (n == node_ids_.end()) return Fail(ErrorCode::kNotFound, "no node '{}'", name);
  const std::string node_name(name);
  const sched::Node& node = scheduler_->node(n->second);
  const int gpus = static_cast<int>(node.gpus.size());
  if (gpu && (*gpu < 0 || *gpu >= gpus)) {
    return Fail(ErrorCode::kNotFound, "node {} has no GPU {} (it has {})", name, *gpu, gpus);
  }
  // The change is decided on a copy, made durable, then applied: a failed commit changes nothing.
  NodeSettings next = settings_[node_name];
  for (int g = 0; g < gpus; ++g) {
    if (gpu && g != *gpu) continue;
    if (action == NodeAction::kUncordon) {
      next.held.erase(g);
    } else {
      next.held[g] = action == NodeAction::kDrain ? sched::GpuMode::kDraining : sched::GpuMode::kCordoned;
    }
  }
  const std::string_view verb = action == NodeAction::kCordon  ? "cordon"
                                : action == NodeAction::kDrain ? "drain"
                                                               : "uncordon";
  ordered_json data{{"node", node_name}, {"action", verb}};
  if (gpu) data["gpu"] = *gpu;
  if (Result<void> c = CommitSettingsLocked(node_name, std::move(next), data); !c) return Fail(c.error());
  bool changed = false;
  for (int g = 0; g < gpus; ++g) {
    if (gpu && g != *gpu) continue;
    const sched::GpuRef ref = node.gpus[static_cast<std::size_t>(g)];
    const sched::GpuMode mode = action == NodeAction::kCordon  ? sched::GpuMode::kCordoned
                                : action == NodeAction::kDrain ? sched::GpuMode::kDraining
                                                               : scheduler_->gpu(ref).base_mode;
    Result<std::vector<sched::Decision>> d = scheduler_->SetGpuMode(ref, mode, NowMs());
    changed = changed || (d && !d->empty());
  }
  EmitLocked("node-mode", "", std::move(data));
  if (changed) BumpLocked(node_name);  // idle instances were destroyed
  return NodeViewLocked(nodes_.at(node_name));
}

Result<NodeView> ControlPlane::SetGpuMode(std::string_view name, int gpu_index, std::string_view mode_name) {
  std::lock_guard lock(mu_);
  const auto n = node_ids_.find(name);
  if (n == node_ids_.end()) return Fail(ErrorCode::kNotFound, "no node '{}'", name);
  const std::string node_name(name);
  const sched::Node& node = scheduler_->node(n->second);
  if (gpu_index < 0 || gpu_index >= static_cast<int>(node.gpus.size())) {
    return Fail(ErrorCode::kNotFound, "node {} has no GPU {} (it has {})", name, gpu_index, node.gpus.size());
  }
  if (mode_name != "dynamic" && mode_name != "whole") {
    return Fail(ErrorCode::kInvalidArgument, "'{}' is not a GPU mode (dynamic, whole)",
                mode_name.substr(0, 32));
  }
  const sched::GpuMode mode = mode_name == "whole" ? sched::GpuMode::kWhole : sched::GpuMode::kDynamic;
  const sched::GpuRef ref = node.gpus[static_cast<std::size_t>(gpu_index)];
  const sched::Gpu& gpu = scheduler_->gpu(ref);
  if (gpu.base_mode == mode) return NodeViewLocked(nodes_.at(node_name));
  if (mode == sched::GpuMode::kDynamic && !gpu.model->mig_capable) {
    return Fail(ErrorCode::kInvalidArgument, "node {} GPU {}: {} has no MIG", name, gpu_index,
                gpu.model->name);
  }
  if (const int busy = sched::JobsOn(gpu); busy > 0) {
    return Fail(ErrorCode::kFailedPrecondition,
                "node {} GPU {} runs {} job(s): drain it and wait for them first", name, gpu_index, busy);
  }
  // Decided on a copy, made durable, then applied: a failed commit changes nothing.
  NodeSettings next = settings_[node_name];
  next.modes[gpu_index] = mode;
  next.layouts.erase(gpu_index);  // a static layout gives way to the mode
  ordered_json data{{"node", node_name}, {"action", "set-mode"}, {"gpu", gpu_index}, {"mode", mode_name}};
  if (Result<void> c = CommitSettingsLocked(node_name, std::move(next), data); !c) return Fail(c.error());
  Result<bool> destroyed = SwitchBaseModeLocked(ref, mode);
  if (!destroyed)
    return Fail(ErrorCode::kInternal, "node {} GPU {}: {}", name, gpu_index, destroyed.error().message);
  EmitLocked("node-mode", "", std::move(data));
  if (*destroyed) BumpLocked(node_name);
  return NodeViewLocked(nodes_.at(node_name));
}

Result<bool> ControlPlane::SwitchBaseModeLocked(sched::GpuRef ref, sched::GpuMode mode) {
  const sched::Gpu& gpu = scheduler_->gpu(ref);
  const sched::GpuMode held = gpu.mode;  // cordoned or draining stays so after the switch
  bool destroyed = false;
  if (!gpu.instances.empty()) {  // idle slices only (the caller checked): gone first
    Result<std::vector<sched::Decision>> d = scheduler_->SetGpuMode(ref, sched::GpuMode::kDraining, NowMs());
    destroyed = d && !d->empty();
  }
  if (Result<std::vector<sched::Decision>> r = scheduler_->SetGpuMode(ref, mode, NowMs()); !r)
    return Fail(r.error());
  if (held == sched::GpuMode::kCordoned || held == sched::GpuMode::kDraining) {
    (void)scheduler_->SetGpuMode(ref, held, NowMs());
  }
  return destroyed;
}

Result<std::vector<ControlPlane::GpuLayoutPlan>> ControlPlane::PlanLayoutLocked(
    std::string_view name, std::string_view yaml, std::string_view config,
    std::map<int, std::optional<mig::Layout>>* layouts) const {
  const auto n = nodes_.find(name);
  if (n == nodes_.end()) return Fail(ErrorCode::kNotFound, "no node '{}'", name);
  Result<mig::MigPartedConfig> parsed = mig::ParseMigPartedConfig(yaml);
  if (!parsed) return Fail(parsed.error());
  Result<mig::ResolvedGpu> model = mig::Catalog::BuiltIn().Resolve(n->second.gpu_model);
  if (!model) return Fail(model.error());
  std::vector<mig::PlanGpu> gpus;
  for (int g = 0; g < n->second.gpus; ++g) gpus.push_back({g, *model});
  Result<std::vector<mig::GpuPlan>> plans = mig::PlanConfig(*parsed, config, gpus);
  if (!plans) return Fail(plans.error().WithContext(fmt::format("node {}", name)));
  std::vector<GpuLayoutPlan> out;
  for (const mig::GpuPlan& p : *plans) {
    GpuLayoutPlan g;
    g.gpu = p.index;
    g.matched = p.matched;
    g.mig_enabled = p.mig_enabled;
    g.change = !p.matched ? "none" : p.mig_enabled ? "static" : "whole";
    if (std::any_of(p.compute_instance_slices.begin(), p.compute_instance_slices.end(),
                    [](int c) { return c != 0; })) {
      return Fail(ErrorCode::kInvalidArgument,
                  "config '{}', GPU {}: compute-instance prefixes (\"1c.3g.20gb\") split an instance, and "
                  "gpuslice gives jobs whole instances",
                  config, p.index);
    }
    for (const mig::Placement& pl : p.placements) {
      g.layout.push_back(
          fmt::format("{}@{}", model->model->profiles[static_cast<std::size_t>(pl.profile)].name, pl.start));
    }
    if (layouts != nullptr && p.matched) {
      (*layouts)[p.index] = p.mig_enabled ? std::optional<mig::Layout>(p.placements) : std::nullopt;
    }
    out.push_back(std::move(g));
  }
  return out;
}

Result<std::vector<ControlPlane::GpuLayoutPlan>> ControlPlane::PlanLayout(std::string_view node,
                                                                          std::string_view yaml,
                                                                          std::string_view config) const {
  std::lock_guard lock(mu_);
  return PlanLayoutLocked(node, yaml, config, nullptr);
}

Result<std::vector<ControlPlane::GpuLayoutPlan>> ControlPlane::AssertLayout(std::string_view node,
                                                                            std::string_view yaml,
                                                                            std::string_view config) const {
  std::lock_guard lock(mu_);
  Result<std::vector<GpuLayoutPlan>> plan = PlanLayoutLocked(node, yaml, config, nullptr);
  if (!plan) return plan;
  const auto a = actual_.find(node);
  for (GpuLayoutPlan& g : *plan) {
    if (!g.matched) {
      g.actual = "ok";
      continue;
    }
    if (a == actual_.end()) {
      g.actual = "no report from the node's agent yet";
      continue;
    }
    std::vector<std::string> have;
    for (const api::ActualInstance& i : a->second.instances) {
      if (i.gpu_index == g.gpu) have.push_back(fmt::format("{}@{}", i.profile, i.start));
    }
    std::vector<std::string> want = g.layout;
    std::sort(have.begin(), have.end());
    std::sort(want.begin(), want.end());
    g.actual = have == want   ? "ok"
               : have.empty() ? "no instances"
                              : fmt::format("has {}", fmt::join(have, ", "));
  }
  return plan;
}

Result<std::vector<ControlPlane::GpuLayoutPlan>> ControlPlane::ApplyLayout(std::string_view name,
                                                                           std::string_view yaml,
                                                                           std::string_view config) {
  std::lock_guard lock(mu_);
  std::map<int, std::optional<mig::Layout>> wanted;
  Result<std::vector<GpuLayoutPlan>> plan = PlanLayoutLocked(name, yaml, config, &wanted);
  if (!plan) return plan;
  const std::string node_name(name);
  const sched::Node& node = scheduler_->node(node_ids_.at(node_name));
  std::vector<std::string> busy;
  for (const auto& [g, layout] : wanted) {
    const sched::Gpu& gpu = scheduler_->gpu(node.gpus[static_cast<std::size_t>(g)]);
    if (sched::JobsOn(gpu) > 0) busy.push_back(std::to_string(g));
  }
  if (!busy.empty()) {
    return Fail(ErrorCode::kFailedPrecondition, "node {}: GPU {} run(s) jobs: drain and wait for them first",
                name, fmt::join(busy, ", "));
  }
  // Decided on a copy, made durable, then applied: a failed commit changes nothing.
  NodeSettings next = settings_[node_name];
  for (const auto& [g, layout] : wanted) {
    if (layout) {
      next.layouts[g] = *layout;
      next.modes.erase(g);
    } else {
      next.layouts.erase(g);
      next.modes[g] = sched::GpuMode::kWhole;
    }
  }
  ordered_json data{{"node", node_name}, {"action", "layout"}, {"config", config}};
  if (Result<void> c = CommitSettingsLocked(node_name, std::move(next), data); !c) return Fail(c.error());
  for (const auto& [g, layout] : wanted) {
    const sched::GpuRef ref = node.gpus[static_cast<std::size_t>(g)];
    std::optional<Error> failed;
    if (layout) {
      if (auto r = scheduler_->SetStaticLayout(ref, *layout, NowMs()); !r) failed = r.error();
    } else if (auto r = SwitchBaseModeLocked(ref, sched::GpuMode::kWhole); !r) {
      failed = r.error();
    }
    if (failed) return Fail(ErrorCode::kInternal, "node {} GPU {}: {}", name, g, failed->message);
  }
  EmitLocked("node-mode", "", std::move(data));
  BumpLocked(node_name);
  return plan;
}

std::string ControlPlane::ExportLayouts() const {
  std::lock_guard lock(mu_);
  std::string out =
      "# The cluster's MIG layouts, one mig-parted config per node (gpuslice layout export).\n"
      "version: v1\nmig-configs:\n";
  for (const auto& [name, spec] : nodes_) {
    out += fmt::format("  {}:\n", name);
    const sched::Node& node = scheduler_->node(node_ids_.at(name));
    for (const sched::GpuRef ref : node.gpus) {
      const sched::Gpu& gpu = scheduler_->gpu(ref);
      out += fmt::format("    - devices: [{}]\n", gpu.index);
      std::map<std::string, int> counts;
      for (const sched::Instance& i : gpu.instances) {
        ++counts[gpu.model->profiles[static_cast<std::size_t>(i.placement.profile)].name];
      }
      const bool mig = gpu.model->mig_capable && gpu.base_mode != sched::GpuMode::kWhole;
      out += fmt::format("      mig-enabled: {}\n", mig ? "true" : "false");
      if (mig && counts.empty())
        out += "      mig-devices: {}\n";  // MIG on, no instances (mig-parted's form)
      if (mig && !counts.empty()) {
        out += "      mig-devices:\n";
        for (const auto& [profile, k] : counts) out += fmt::format("        \"{}\": {}\n", profile, k);
      }
    }
  }
  return out;
}

NodeView ControlPlane::NodeViewLocked(const NodeSpec& spec) const {
  NodeView v;
  v.spec = spec;
  v.generation = generation_.find(spec.name)->second;
  v.last_seen_ms = last_seen_ms_.find(spec.name)->second;
  const api::ActualNodeState* actual = nullptr;
  if (const auto a = actual_.find(spec.name); a != actual_.end()) {
    actual = &a->second;
    v.generation_applied = actual->generation_applied;
  }
  const sched::Node& node = scheduler_->node(node_ids_.find(spec.name)->second);
  for (const sched::GpuRef ref : node.gpus) {
    const sched::Gpu& gpu = scheduler_->gpu(ref);
    GpuView g;
    g.index = gpu.index;
    g.mode = std::string(sched::GpuModeName(gpu.mode));
    g.base_mode = std::string(sched::GpuModeName(gpu.base_mode));
    for (const sched::Instance& inst : gpu.instances) {
      InstanceView iv;
      iv.profile = gpu.model->profiles[static_cast<std::size_t>(inst.placement.profile)].name;
      iv.start = inst.placement.start;
      if (inst.job.valid()) {
        if (const auto j = job_of_sched_.find(inst.job.value()); j != job_of_sched_.end()) iv.job = j->second;
      }
      if (actual != nullptr) {
        for (const api::ActualInstance& ai : actual->instances) {
          if (ai.gpu_index != g.index || ai.profile != iv.profile || ai.start != iv.start) continue;
          iv.busy = ai.busy;
          iv.processes = ai.processes;
          iv.memory_used_mib = ai.memory_used_mib;
          iv.memory_total_mib = ai.memory_total_mib;
          iv.activity_percent = ai.activity_percent;
        }
      }
      g.instances.push_back(std::move(iv));
    }
    if (gpu.whole_job.valid()) {
      if (const auto j = job_of_sched_.find(gpu.whole_job.value()); j != job_of_sched_.end())
        g.whole_job = j->second;
    }
    if (actual != nullptr) {
      for (const api::ActualGpu& ag : actual->gpus) {
        if (ag.index == g.index) g.health = std::string(api::GpuHealthName(ag.health));
      }
    }
    v.gpus.push_back(std::move(g));
  }
  return v;
}

std::vector<NodeView> ControlPlane::NodeViews() const {
  std::lock_guard lock(mu_);
  std::vector<NodeView> out;
  for (const auto& [name, spec] : nodes_) out.push_back(NodeViewLocked(spec));
  return out;
}

Result<NodeView> ControlPlane::NodeViewOf(std::string_view name) const {
  std::lock_guard lock(mu_);
  const auto it = nodes_.find(name);
  if (it == nodes_.end()) return Fail(ErrorCode::kNotFound, "no node '{}'", name);
  return NodeViewLocked(it->second);
}

std::vector<TeamView> ControlPlane::Teams() const {
  std::lock_guard lock(mu_);
  return TeamsLocked();
}

std::vector<TeamView> ControlPlane::TeamsLocked() const {
  const sched::QuotaTree& q = scheduler_->quota();
  std::map<std::string, std::pair<int, int>> jobs;  // team -> running, pending
  for (const auto& [id, e] : jobs_) {
    if (e.view.phase == JobPhase::kRunning) ++jobs[e.view.team].first;
    if (e.view.phase == JobPhase::kPending) ++jobs[e.view.team].second;
  }
  std::vector<TeamView> out;
  for (int i = 0; i < q.node_count(); ++i) {
    const sched::QuotaNodeId n(static_cast<std::uint64_t>(i) + 1);
    TeamView t;
    t.name = std::string(q.name(n));
    t.team = q.is_team(n);
    if (const sched::QuotaNodeId p = q.parent(n); p.valid()) t.parent = std::string(q.name(p));
    t.weight = q.weight(n);
    for (int c = 0; c < q.class_count(); ++c) {
      const sched::ClassId cls(static_cast<std::uint64_t>(c) + 1);
      const std::optional<sched::ClassQuota> quota = q.quota(n, cls);
      const std::int64_t usage = q.Usage(n, cls).value_or(MilliGpu(0)).value();
      if (!quota && usage == 0) continue;
      TeamView::Class tc;
      tc.gpu_class = std::string(q.class_name(cls));
      tc.usage = usage;
      tc.quota = q.SubtreeQuota(n, cls).value_or(MilliGpu(0)).value();
      tc.available = q.Available(n, cls).value_or(MilliGpu(0)).value();
      tc.borrowing = q.IsBorrowing(n, cls).value_or(false);
      if (quota) {
        tc.nominal = quota->nominal.value();
        if (quota->borrowing_limit) tc.borrowing_limit = quota->borrowing_limit->value();
        if (quota->lending_limit) tc.lending_limit = quota->lending_limit->value();
      }
      t.classes.push_back(std::move(tc));
    }
    if (const auto j = jobs.find(t.name); j != jobs.end()) std::tie(t.running, t.pending) = j->second;
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const TeamView& a, const TeamView& b) { return a.name < b.name; });
  return out;
}

// The node's whole definition as QuotaTree::Build and UpsertQuotaNode take it.
sched::QuotaNodeSpec ControlPlane::TeamSpecLocked(sched::QuotaNodeId n) const {
  const sched::QuotaTree& q = scheduler_->quota();
  sched::QuotaNodeSpec spec;
  spec.name = std::string(q.name(n));
  spec.team = q.is_team(n);
  if (const sched::QuotaNodeId p = q.parent(n); p.valid()) spec.parent = std::string(q.name(p));
  spec.weight = q.weight(n);
  for (int c = 0; c < q.class_count(); ++c) {
    const sched::ClassId cls(static_cast<std::uint64_t>(c) + 1);
    if (const std::optional<sched::ClassQuota> e = q.quota(n, cls))
      spec.quotas[std::string(q.class_name(cls))] = *e;
  }
  return spec;
}

Result<TeamView> ControlPlane::SetTeam(std::string_view name, const api::TeamRequest& r) {
  std::lock_guard lock(mu_);
  if (!api::IsSaneName(name)) {
    return Fail(ErrorCode::kInvalidArgument, "'{}' is not a valid team name", name.substr(0, 64));
  }
  const sched::QuotaTree& q = scheduler_->quota();
  sched::QuotaNodeSpec spec;
  if (const Result<sched::QuotaNodeId> existing = q.Find(name)) {
    spec = TeamSpecLocked(*existing);
  } else {
    spec.name = std::string(name);
  }
  if (r.kind) spec.team = *r.kind == "team";
  if (r.parent_given) spec.parent = r.parent;
  if (r.weight) spec.weight = *r.weight;
  for (const auto& [cls, a] : r.quotas) {
    Result<mig::ResolvedGpu> model = mig::Catalog::BuiltIn().Resolve(cls);
    if (!model) return Fail(model.error().WithContext(fmt::format("quotas.{}", cls)));
    sched::ClassQuota cq{MilliGpu(a.nominal_mgpu)};
    if (a.borrowing_limit_mgpu) cq.borrowing_limit = MilliGpu(*a.borrowing_limit_mgpu);
    if (a.lending_limit_mgpu) cq.lending_limit = MilliGpu(*a.lending_limit_mgpu);
    spec.quotas[model->model->name] = cq;
  }
  if (Result<void> dry = scheduler_->UpsertQuotaNode(spec, /*dry_run=*/true); !dry) return Fail(dry.error());
  store::WriteBatch batch;
  batch.Put(store::Collection::kTeams, spec.name, TeamSpecJson(spec).dump());
  batch.AppendEvent("team-set", json{{"team", spec.name}}.dump());
  if (Result<store::CommitInfo> c = store_.Apply(batch); !c) return Fail(c.error());
  if (Result<void> done = scheduler_->UpsertQuotaNode(spec); !done) {  // checked above; cannot fail
    return Fail(ErrorCode::kInternal, "team {}: {}", spec.name, done.error().message);
  }
  EmitLocked("team-changed", spec.team ? spec.name : "", {{"team", spec.name}});
  for (TeamView& t : TeamsLocked()) {
    if (t.name == spec.name) return std::move(t);
  }
  return Fail(ErrorCode::kInternal, "team {} vanished", spec.name);
}

ordered_json ToJson(const NodeView& v) {
  ordered_json gpus = ordered_json::array();
  for (const GpuView& g : v.gpus) {
    ordered_json instances = ordered_json::array();
    for (const InstanceView& i : g.instances) {
      ordered_json j{{"profile", i.profile}, {"start", i.start}};
      j["job"] = i.job ? ordered_json(*i.job) : ordered_json(nullptr);
      if (i.busy) j["busy"] = *i.busy;
      if (i.processes) j["processes"] = *i.processes;
      if (i.memory_used_mib) j["memory_used_mib"] = *i.memory_used_mib;
      if (i.memory_total_mib) j["memory_total_mib"] = *i.memory_total_mib;
      if (i.activity_percent) j["activity_percent"] = *i.activity_percent;
      instances.push_back(std::move(j));
    }
    ordered_json j{{"index", g.index}, {"mode", g.mode}, {"base_mode", g.base_mode}};
    if (!g.health.empty()) j["health"] = g.health;
    j["instances"] = std::move(instances);
    if (g.whole_job) j["whole_job"] = *g.whole_job;
    gpus.push_back(std::move(j));
  }
  return ordered_json{{"name", v.spec.name},
                      {"gpu_model", v.spec.gpu_model},
                      {"gpu_count", v.spec.gpus},
                      {"generation", v.generation},
                      {"generation_applied", v.generation_applied},
                      {"last_seen_ms", v.last_seen_ms},
                      {"gpus", std::move(gpus)}};
}

ordered_json ToJson(const TeamView& t) {
  ordered_json classes = ordered_json::array();
  for (const TeamView::Class& c : t.classes) {
    ordered_json j{{"gpu_class", c.gpu_class}, {"quota_mgpu", c.quota},         {"nominal_mgpu", c.nominal},
                   {"usage_mgpu", c.usage},    {"available_mgpu", c.available}, {"borrowing", c.borrowing}};
    if (c.borrowing_limit) j["borrowing_limit_mgpu"] = *c.borrowing_limit;
    if (c.lending_limit) j["lending_limit_mgpu"] = *c.lending_limit;
    classes.push_back(std::move(j));
  }
  ordered_json j{{"name", t.name}, {"kind", t.team ? "team" : "cohort"}};
  j["parent"] = t.parent.empty() ? ordered_json(nullptr) : ordered_json(t.parent);
  j["weight"] = t.weight;
  j["classes"] = std::move(classes);
  if (t.team) {
    j["running_jobs"] = t.running;
    j["pending_jobs"] = t.pending;
  }
  return j;
}

std::vector<NodeSpec> ControlPlane::Nodes() const {
  std::lock_guard lock(mu_);
  std::vector<NodeSpec> out;
  for (const auto& [name, spec] : nodes_) out.push_back(spec);
  return out;
}

Result<sched::Job> ControlPlane::SchedJobLocked(const JobView& v) const {
  Result<sched::QuotaNodeId> team = scheduler_->quota().Find(v.team);
  if (!team || !scheduler_->quota().is_team(*team)) {
    return Fail(ErrorCode::kNotFound, "no team '{}'", v.team);
  }
  sched::Job j;
  j.name = v.name;
  j.team = *team;
  j.priority = v.spec.priority;
  j.preemptible = v.spec.preemptible;
  j.kind =
      static_cast<sched::JobKind>(static_cast<int>(v.spec.kind));  // same order: batch, service, notebook
  j.submit_ms = v.submitted_ms;
  if (v.spec.expected_duration_s) j.expected_duration_ms = *v.spec.expected_duration_s * 1000;
  j.count = v.spec.count;
  j.same_node = v.spec.same_node;
  j.request.profile = v.spec.profile;
  j.request.gpu_model = v.spec.gpu_model;
  j.request.size.memory = v.spec.memory;
  j.request.size.compute_slices = v.spec.compute;
  return j;
}

store::JobRecord ControlPlane::RecordOf(const JobView& v) const {
  ordered_json j{{"spec", api::ToJson(v.spec)},  {"slices", SlicesJson(v.slices)},
                 {"preemptions", v.preemptions}, {"submitted_ms", v.submitted_ms},
                 {"started_ms", v.started_ms},   {"ended_ms", v.ended_ms}};
  if (v.exit_code) j["exit_code"] = *v.exit_code;
  return store::JobRecord{v.id, v.team, std::string(JobPhaseName(v.phase)), j.dump(), NowMs()};
}

// The store write happens outside the lock, so that concurrent submits reach the store together
// and share its group commit; the id is taken first (an id whose write fails is simply unused).
Result<std::uint64_t> ControlPlane::Submit(api::JobSubmit spec) {
  if (Result<void> r = api::ValidateJobSubmit(spec); !r) return Fail(r.error());
  JobView v;
  Result<sched::Job> job = Fail(ErrorCode::kInternal, "not built");
  store::WriteBatch batch;
  {
    std::lock_guard lock(mu_);
    v.id = next_job_id_;
    v.team = spec.team;
    v.name = spec.name.empty() ? fmt::format("job-{}", v.id) : spec.name;
    spec.name = v.name;
    v.spec = std::move(spec);
    v.submitted_ms = NowMs();
    job = SchedJobLocked(v);
    if (!job) return Fail(job.error());
    ++next_job_id_;
    batch.PutJob(RecordOf(v));
    batch.Put(store::Collection::kMeta, std::string(kNextJobId), std::to_string(v.id + 1));
    batch.AppendEvent("job-submitted", json{{"id", v.id}, {"team", v.team}}.dump());
  }
  if (Result<store::CommitInfo> c = store_.Apply(batch); !c) return Fail(c.error());
  // Durable: from here on the job exists, whatever happens to this process.
  std::lock_guard lock(mu_);
  Result<JobId> id = scheduler_->Submit(std::move(*job));
  if (!id) {
    return Fail(ErrorCode::kInternal, "job {} is stored but the scheduler refused it: {}", v.id,
                id.error().message);
  }
  const std::uint64_t out = v.id;
  EmitJobLocked("job-submitted", v);
  job_of_sched_[id->value()] = v.id;
  jobs_.emplace(v.id, JobEntry{std::move(v), *id});
  return out;
}

std::vector<SliceAt> ControlPlane::SlicesLocked(const sched::Job& job) const {
  std::vector<SliceAt> out;
  for (const sched::Binding& b : job.bindings) {
    const sched::Gpu& gpu = scheduler_->gpu(b.gpu);
    SliceAt s{scheduler_->node(gpu.node).name, gpu.index, "", 0};
    for (const sched::Instance& inst : gpu.instances) {
      if (inst.id != b.instance) continue;
      s.profile = gpu.model->profiles[static_cast<std::size_t>(inst.placement.profile)].name;
      s.start = inst.placement.start;
    }
    out.push_back(std::move(s));
  }
  return out;
}

void ControlPlane::BumpLocked(const std::string& node) {
  std::uint64_t& g = generation_[node];
  ++g;
  if (on_change_) on_change_(node, g);
}

Result<int> ControlPlane::Schedule() {
  std::lock_guard lock(mu_);
  const std::int64_t now = NowMs();
  const std::vector<sched::Decision> decisions = scheduler_->Schedule(now);
  std::set<std::uint64_t> changed;
  std::set<std::string> nodes;
  int placed = 0;
  for (const sched::Decision& d : decisions) {
    nodes.insert(scheduler_->node(scheduler_->gpu(d.gpu).node).name);
    if (d.kind == sched::Decision::Kind::kBind || d.kind == sched::Decision::Kind::kPreempt) {
      changed.insert(job_of_sched_.at(d.job.value()));
    }
  }
  store::WriteBatch batch;
  for (std::uint64_t id : changed) {
    JobEntry& e = jobs_.at(id);
    const sched::Job& job = *scheduler_->FindJob(e.sched);
    for (const SliceAt& s : e.view.slices) nodes.insert(s.node);  // where a preempted job was
    if (job.state == sched::JobState::kRunning) {
      e.view.phase = JobPhase::kRunning;
      e.view.started_ms = job.start_ms;
      e.view.slices = SlicesLocked(job);
      for (const SliceAt& s : e.view.slices) nodes.insert(s.node);
      ++placed;
    } else {
      e.view.phase = JobPhase::kPending;
      e.view.slices.clear();
      e.view.preemptions = job.preemptions;
    }
    batch.PutJob(RecordOf(e.view));
  }
  if (!batch.empty()) {
    batch.AppendEvent("scheduled", json{{"jobs", changed}}.dump());
    // The scheduler has moved on already; if this commit fails, the agents must not act on it.
    // The server stops (kInternal) rather than run with memory and disk disagreeing.
    if (Result<store::CommitInfo> c = store_.Apply(batch); !c) {
      return Fail(ErrorCode::kInternal, "scheduling decisions could not be made durable: {}",
                  c.error().message);
    }
  }
  for (std::uint64_t id : changed) {
    const JobView& v = jobs_.at(id).view;
    EmitJobLocked(v.phase == JobPhase::kRunning ? "job-started" : "job-preempted", v);
  }
  for (const std::string& n : nodes) BumpLocked(n);
  return placed;
}

void ControlPlane::RefreshReasonLocked(JobEntry& e) const {
  if (e.view.phase != JobPhase::kPending || !e.sched.valid()) return;
  const sched::Pending p = scheduler_->Why(e.sched);
  e.view.reason_kind = std::string(sched::PendingKindName(p.kind));
  e.view.reason = p.message;
}

Result<JobView> ControlPlane::Get(std::uint64_t id) const {
  std::lock_guard lock(mu_);
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return Fail(ErrorCode::kNotFound, "no job {}", id);
  JobEntry e = it->second;
  RefreshReasonLocked(e);
  return e.view;
}

std::vector<JobView> ControlPlane::List(const std::optional<std::string>& team, bool reasons) const {
  std::lock_guard lock(mu_);
  std::vector<JobView> out;
  for (const auto& [id, entry] : jobs_) {
    if (team && entry.view.team != *team) continue;
    JobEntry e = entry;
    if (reasons) RefreshReasonLocked(e);
    out.push_back(std::move(e.view));
  }
  return out;
}

Result<void> ControlPlane::Cancel(std::uint64_t id) {
  std::lock_guard lock(mu_);
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return Fail(ErrorCode::kNotFound, "no job {}", id);
  JobEntry& e = it->second;
  if (Ended(e.view.phase)) {
    return Fail(ErrorCode::kFailedPrecondition, "job {} has ended ({})", id, JobPhaseName(e.view.phase));
  }
  JobView after = e.view;
  after.phase = JobPhase::kCancelled;
  after.ended_ms = NowMs();
  store::WriteBatch batch;
  batch.PutJob(RecordOf(after));
  batch.AppendEvent("job-cancelled", json{{"id", id}}.dump());
  if (Result<store::CommitInfo> c = store_.Apply(batch); !c) return Fail(c.error());
  (void)scheduler_->Cancel(e.sched, after.ended_ms);  // known to the scheduler and not ended
  job_of_sched_.erase(e.sched.value());
  e.sched = JobId();
  const std::vector<SliceAt> where = e.view.slices;
  e.view = std::move(after);
  EmitJobLocked("job-ended", e.view);
  for (const SliceAt& s : where) BumpLocked(s.node);
  return {};
}

void ControlPlane::OnDesiredChange(std::function<void(const std::string&, std::uint64_t)> callback) {
  std::lock_guard lock(mu_);
  on_change_ = std::move(callback);
}

Result<api::DesiredNodeState> ControlPlane::Desired(std::string_view name) const {
  std::lock_guard lock(mu_);
  const auto n = node_ids_.find(name);
  if (n == node_ids_.end()) return Fail(ErrorCode::kNotFound, "no node '{}'", name);
  api::DesiredNodeState d;
  d.node = std::string(name);
  d.generation = generation_.find(name)->second;
  std::map<std::uint64_t, std::vector<std::string>> keys_of_job;  // scheduler job -> instance keys
  std::map<std::uint64_t, std::vector<int>> gpus_of_job;          // scheduler job -> whole GPUs
  const sched::Node& node = scheduler_->node(n->second);
  for (const sched::GpuRef ref : node.gpus) {
    const sched::Gpu& gpu = scheduler_->gpu(ref);
    if (gpu.whole_job.valid()) gpus_of_job[gpu.whole_job.value()].push_back(gpu.index);
    for (const sched::Instance& inst : gpu.instances) {
      const std::string& profile = gpu.model->profiles[static_cast<std::size_t>(inst.placement.profile)].name;
      api::DesiredInstance di{
          gpu.index, profile, inst.placement.start,
          fmt::format("g{}-{}-s{}-i{}", gpu.index, profile, inst.placement.start, inst.id.value())};
      if (inst.job.valid()) keys_of_job[inst.job.value()].push_back(di.key);
      d.instances.push_back(std::move(di));
    }
  }
  std::set<std::uint64_t> jobs_here;
  for (const auto& [sched_id, keys] : keys_of_job) jobs_here.insert(sched_id);
  for (const auto& [sched_id, gpus] : gpus_of_job) jobs_here.insert(sched_id);
  for (const std::uint64_t sched_id : jobs_here) {
    const JobView& v = jobs_.at(job_of_sched_.at(sched_id)).view;
    api::DesiredWorkload w;
    w.job_id = std::to_string(v.id);
    if (const auto k = keys_of_job.find(sched_id); k != keys_of_job.end()) w.instance_keys = k->second;
    if (const auto g = gpus_of_job.find(sched_id); g != gpus_of_job.end()) w.gpu_indices = g->second;
    w.argv = v.spec.command;
    w.env = v.spec.env;
    w.restart = v.spec.restart;
    w.kind = v.spec.kind;
    d.workloads.push_back(std::move(w));
  }
  return d;
}

void ControlPlane::Seen(std::string_view node) {
  std::lock_guard lock(mu_);
  if (const auto it = last_seen_ms_.find(node); it != last_seen_ms_.end()) it->second = NowMs();
}

Result<std::vector<std::string>> ControlPlane::ExpireNodes(std::chrono::milliseconds grace) {
  std::lock_guard lock(mu_);
  const std::int64_t now = NowMs();
  std::vector<std::string> lost;
  for (const auto& [name, seen] : last_seen_ms_) {
    if (now - seen > grace.count()) lost.push_back(name);
  }
  if (lost.empty()) return lost;
  store::WriteBatch batch;
  std::map<std::string, std::vector<std::uint64_t>> requeued, failed;  // by lost node
  for (const std::string& name : lost) {
    const std::vector<JobId> back =
        scheduler_->RemoveNode(node_ids_.at(name), now).value_or(std::vector<JobId>{});
    std::vector<std::uint64_t>& ids = requeued[name];
    for (const JobId j : back) {
      JobEntry& e = jobs_.at(job_of_sched_.at(j.value()));
      if (lost_node_jobs_ == LostNodeJobs::kFail) {
        (void)scheduler_->Cancel(j, now);  // requeued by RemoveNode: pending, so this succeeds
        job_of_sched_.erase(j.value());
        e.sched = JobId();
        e.view.phase = JobPhase::kFailed;
        e.view.ended_ms = now;
        failed[name].push_back(e.view.id);
      } else {
        e.view.phase = JobPhase::kPending;
        e.view.slices.clear();
        ids.push_back(e.view.id);
      }
      batch.PutJob(RecordOf(e.view));
    }
    batch.Delete(store::Collection::kNodes, name);
    batch.AppendEvent("node-lost", json{{"node", name}, {"requeued", ids}, {"failed", failed[name]}}.dump());
  }
  if (Result<store::CommitInfo> c = store_.Apply(batch); !c) {
    return Fail(ErrorCode::kInternal, "lost nodes could not be recorded: {}", c.error().message);
  }
  for (const std::string& name : lost) {
    EmitLocked("node-lost", "", {{"node", name}, {"requeued", requeued[name]}, {"failed", failed[name]}});
    for (const std::uint64_t id : requeued[name]) EmitJobLocked("job-requeued", jobs_.at(id).view);
    for (const std::uint64_t id : failed[name]) EmitJobLocked("job-ended", jobs_.at(id).view);
    nodes_.erase(name);
    node_ids_.erase(name);
    generation_.erase(name);
    last_seen_ms_.erase(name);
    actual_.erase(name);
  }
  return lost;
}

Result<void> ControlPlane::Report(const api::ActualNodeState& actual) {
  std::lock_guard lock(mu_);
  if (!node_ids_.contains(actual.node)) return Fail(ErrorCode::kNotFound, "no node '{}'", actual.node);
  last_seen_ms_[actual.node] = NowMs();
  actual_[actual.node] = actual;
  const std::int64_t now = NowMs();
  store::WriteBatch batch;
  std::vector<std::pair<std::uint64_t, JobView>> ended;
  for (const api::ActualWorkload& w : actual.workloads) {
    if (w.state != api::WorkloadState::kExited && w.state != api::WorkloadState::kFailed) continue;
    std::uint64_t id = 0;
    if (std::from_chars(w.job_id.data(), w.job_id.data() + w.job_id.size(), id).ec != std::errc()) continue;
    const auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second.view.phase != JobPhase::kRunning) continue;  // stale report
    const bool here = std::any_of(it->second.view.slices.begin(), it->second.view.slices.end(),
                                  [&](const SliceAt& s) { return s.node == actual.node; });
    if (!here) continue;
    JobView v = it->second.view;
    v.exit_code = w.exit_code;
    v.phase = w.state == api::WorkloadState::kExited && w.exit_code.value_or(0) == 0 ? JobPhase::kSucceeded
                                                                                     : JobPhase::kFailed;
    v.ended_ms = now;
    batch.PutJob(RecordOf(v));
    ended.push_back({id, std::move(v)});
  }
  if (ended.empty()) return {};
  batch.AppendEvent("jobs-ended", json{{"node", actual.node}, {"count", ended.size()}}.dump());
  if (Result<store::CommitInfo> c = store_.Apply(batch); !c) return Fail(c.error());
  std::set<std::string> nodes;
  for (auto& [id, v] : ended) {
    JobEntry& e = jobs_.at(id);
    (void)scheduler_->Finish(e.sched, now);  // running in the scheduler (phase kRunning)
    job_of_sched_.erase(e.sched.value());
    e.sched = JobId();
    for (const SliceAt& s : e.view.slices) nodes.insert(s.node);
    e.view = std::move(v);
    EmitJobLocked("job-ended", e.view);
  }
  for (const std::string& n : nodes) BumpLocked(n);
  return {};
}

}  // namespace gpuslice::server
