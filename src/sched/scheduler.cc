#include "sched/scheduler.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <tuple>

#include "sched/scheduler_internal.h"

namespace gpuslice::sched {
namespace {

constexpr int kMaxGpusPerNode = 64;
constexpr int kMaxGang = 64;
constexpr int kWholeOnly = -2;  // ProfileFor: "whole" on a GPU without MIG
constexpr std::string_view kWhole = "whole";

}  // namespace

Scheduler::Scheduler(QuotaTree quota, SchedulerOptions options)
    : quota_(std::move(quota)), options_(options) {}
Scheduler::~Scheduler() = default;

Scheduler::ModelState& Scheduler::ModelFor(const mig::GpuModel& model) {
  for (auto& m : models_) {
    if (m->model == &model) return *m;
  }
  auto m = std::make_unique<ModelState>();
  m->index = static_cast<int>(models_.size());
  m->model = &model;
  if (model.mig_capable) {
    if (Result<mig::Geometry> g = mig::Geometry::Build(model)) {
      m->geometry = std::make_unique<mig::Geometry>(std::move(*g));
      m->slots = std::make_unique<SlotIndex>(*m->geometry);
      m->idle.resize(static_cast<std::size_t>(m->geometry->num_profiles()));
      m->placed_at.resize(static_cast<std::size_t>(m->geometry->num_profiles()));
    }
  }
  // AddClass returns the existing id for a known name.
  m->quota_class = quota_.AddClass(model.name).value_or(ClassId());
  models_.push_back(std::move(m));
  return *models_.back();
}

Result<NodeId> Scheduler::AddNode(std::string name, const mig::GpuModel& model, int gpus, GpuMode mode,
                                  const std::vector<mig::Layout>& layouts) {
  if (gpus < 1 || gpus > kMaxGpusPerNode) {
    return Fail(ErrorCode::kInvalidArgument, "node {}: {} GPUs (1 to {})", name, gpus, kMaxGpusPerNode);
  }
  if ((mode == GpuMode::kDynamic || mode == GpuMode::kStatic) && !model.mig_capable) {
    return Fail(ErrorCode::kInvalidArgument, "node {}: {} has no MIG, so its GPUs cannot be {}", name,
                model.name, GpuModeName(mode));
  }
  ModelState& m = ModelFor(model);
  if (mode == GpuMode::kStatic) {
    if (layouts.size() != static_cast<std::size_t>(gpus)) {
      return Fail(ErrorCode::kInvalidArgument, "node {}: {} static layouts for {} GPUs", name, layouts.size(),
                  gpus);
    }
    for (const mig::Layout& l : layouts) {
      if (Result<mig::Occupancy> occ = m.geometry->Occupy(l); !occ) {
        return Fail(occ.error().WithContext(fmt::format("node {}: static layout", name)));
      }
    }
  }
  const NodeId id(nodes_.size() + 1);
  Node node{id, std::move(name), {}};
  for (int i = 0; i < gpus; ++i) {
    const auto ref = static_cast<GpuRef>(gpus_.size());
    Gpu gpu;
    gpu.node = id;
    gpu.index = i;
    gpu.model = &model;
    gpu.geometry = m.geometry.get();
    gpu.quota_class = m.quota_class;
    gpu.mode = mode;
    gpu.base_mode = mode;
    gpus_.push_back(std::move(gpu));
    model_of_gpu_.push_back(m.index);
    node.gpus.push_back(ref);
    m.gpus.push_back(ref);
    usage_.total_slices += WholeSlices(model);
    if (mode == GpuMode::kDynamic) {
      ++m.dynamic_gpus;
      m.slots->Upsert(ref, mig::Occupancy{});
    } else if (mode == GpuMode::kStatic) {
      ++m.static_gpus;
      for (const mig::Placement& p : layouts[static_cast<std::size_t>(i)]) CreateInstance(ref, p, 0);
    } else if (mode == GpuMode::kWhole) {
      ++m.whole_gpus;
      m.free_whole.insert(ref);
    }
  }
  nodes_.push_back(std::move(node));
  return id;
}

// The profile a job's slice gets on model `m`: an index, -1 when the model cannot host it, or
// kWholeOnly for a whole GPU without MIG.
int Scheduler::ProfileFor(const Job& job, const ModelState& m) const {
  const SliceRequest& r = job.request;
  if (!r.gpu_model.empty() && mig::NormalizeGpuName(r.gpu_model) != mig::NormalizeGpuName(m.model->name)) {
    return -1;
  }
  if (r.profile == kWhole) {
    // A full-GPU instance on a dynamic MIG GPU; else a GPU in whole mode (or without MIG).
    if (m.geometry != nullptr && m.dynamic_gpus > 0) {
      if (const mig::Profile* full = m.model->FullProfile()) return m.model->ProfileIndex(full->name);
    }
    return m.whole_gpus > 0 ? kWholeOnly : -1;
  }
  if (m.geometry == nullptr || m.dynamic_gpus + m.static_gpus == 0) return -1;
  if (!r.profile.empty()) return m.model->ProfileIndex(r.profile);
  const Result<int> q = m.geometry->ResolveSize(r.size);
  return q ? *q : -1;
}

Result<JobId> Scheduler::Submit(Job job) {
  if (job.count < 1 || job.count > kMaxGang) {
    return Fail(ErrorCode::kInvalidArgument, "job {}: count {} (1 to {})", job.name, job.count, kMaxGang);
  }
  if (!quota_.is_team(job.team)) return Fail(ErrorCode::kNotFound, "job {}: unknown team", job.name);
  job.id = JobId(next_job_++);
  job.state = JobState::kPending;
  job.bindings.clear();
  job.start_ms = -1;
  job.pending = {};
  job.preemptions = 0;
  job.preempted_by = JobId();
  const JobId id = job.id;
  Enqueue(jobs_.emplace(id.value(), std::move(job)).first->second);
  return id;
}

const Job* Scheduler::FindJob(JobId id) const {
  const auto it = jobs_.find(id.value());
  return it == jobs_.end() ? nullptr : &it->second;
}

// --- a job's placement -------------------------------------------------------------------------

bool Scheduler::PlaceSlice(const Job& job, ModelState& m, int profile, const std::vector<GpuRef>* only,
                           std::int64_t now_ms, Tentative& t) {
  if (profile == kWholeOnly || (job.request.profile == kWhole && m.whole_gpus > 0)) {
    if (PlaceWhole(m, only, t)) return true;
    if (profile == kWholeOnly) return false;
  }
  return PlaceOneSlice(m, profile, only, now_ms, t);
}

void Scheduler::GpusOf(const Node& node, const ModelState& m, std::vector<GpuRef>& out) const {
  out.clear();
  for (GpuRef ref : node.gpus) {
    if (model_of_gpu_[ref] == m.index) out.push_back(ref);
  }
}

bool Scheduler::PlaceOn(Job& job, ModelState& m, int profile, std::int64_t now_ms, Tentative& t) {
  if (!OnOneNode(job)) {
    auto one = [&](const std::vector<GpuRef>* only) { return PlaceSlice(job, m, profile, only, now_ms, t); };
    // A job holding a reservation uses its reserved GPUs first.
    const Reservation* res = ReservationOf(job.id);
    for (int i = 0; i < job.count; ++i) {
      if (res != nullptr && one(&res->gpus)) continue;
      if (!one(nullptr)) return false;
    }
    return true;
  }
  // Same node: the reservation's node first, then the nodes in order; undo a node that cannot take
  // the whole gang. A gang of whole GPUs skips, without a trial, a node with fewer free whole GPUs
  // than it needs.
  std::vector<GpuRef> here;
  auto on_node = [&](const Node& node) {
    GpusOf(node, m, here);
    if (here.empty() || (profile == kWholeOnly && FreeWholeGpus(m, here, job.id) < job.count)) return false;
    Tentative sub{t.job, t.cost};
    bool ok = true;
    for (int i = 0; i < job.count && ok; ++i) ok = PlaceSlice(job, m, profile, &here, now_ms, sub);
    if (ok) {  // keep what `t` held before (evictions of a preemption) and add this node's work
      t.Absorb(sub);
      return true;
    }
    Rollback(sub);
    return false;
  };
  const Reservation* res = ReservationOf(job.id);
  const NodeId reserved = res != nullptr && !res->gpus.empty() ? gpus_[res->gpus.front()].node : NodeId();
  if (reserved.valid() && on_node(node(reserved))) return true;
  for (const Node& n : nodes_) {
    if (n.id != reserved && on_node(n)) return true;
  }
  return false;
}

bool Scheduler::QuotaFits(const Job& job, const QuotaRequest& request) const {
  const Result<FitResult> fit = quota_.CheckFit(job.team, request);
  return fit && (fit->mode == FitMode::kFit || (fit->mode == FitMode::kFitBorrowing && job.preemptible));
}

// One job against every model that could host it, cheapest slice first. True when placed.
bool Scheduler::TryPlace(Job& job, std::int64_t now_ms, PassCache& cache, std::vector<Decision>& out) {
  struct Candidate {
    MilliGpu cost;
    int model;
    int profile;
  };
  std::vector<Candidate> candidates;
  for (const auto& m : models_) {
    const int q = ProfileFor(job, *m);
    if (q == -1) continue;
    const MilliGpu cost =
        q >= 0 ? m->model->Cost(m->model->profiles[static_cast<std::size_t>(q)]) : MilliGpu(1000);
    candidates.push_back({cost, m->index, q});
  }
  if (candidates.empty()) {
    job.pending = {PendingKind::kUnschedulable, UnschedulableReason(job), {}};
    return false;
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.cost, a.model) < std::tie(b.cost, b.model);
  });
  const bool reserved = ReservationOf(job.id) != nullptr;
  Pending first_quota, first_slot;
  std::optional<Candidate> preempt_at, slot_at;  // where preemption or a reservation may help
  for (const Candidate& c : candidates) {
    ModelState& m = *models_[static_cast<std::size_t>(c.model)];
    const MilliGpu total(c.cost.value() * job.count);
    const auto short_key = std::make_tuple(job.team.value(), m.quota_class.value(), job.preemptible);
    if (!preempt_at) preempt_at = c;
    if (auto it = cache.short_of.find(short_key);
        it != cache.short_of.end() && total.value() >= it->second.first) {
      if (first_quota.kind == PendingKind::kNone) first_quota = {PendingKind::kQuota, it->second.second, {}};
      continue;
    }
    const QuotaRequest request{{m.quota_class, total}};
    if (const Result<FitResult> fit = quota_.CheckFit(job.team, request);
        !fit || fit->mode == FitMode::kNoFit || (fit->mode == FitMode::kFitBorrowing && !job.preemptible)) {
      std::string why = !fit                           ? fit.error().message
                        : fit->mode == FitMode::kNoFit ? "over quota: " + fit->reason
                                                       : fmt::format(
                                                             "a job that is not preemptible runs within its "
                                                             "team's nominal quota, and {} mGPU of {} would "
                                                             "have to be borrowed",
                                                             total.value(), m.model->name);
      // Usage only grows within a pass, so this amount or more stays short until the next one.
      cache.short_of[short_key] = {total.value(), why};
      if (first_quota.kind == PendingKind::kNone) first_quota = {PendingKind::kQuota, std::move(why), {}};
      continue;
    }
    if (!slot_at) slot_at = c;
    const bool no_slot =
        (job.count == 1 && !reserved && cache.no_slot.contains({c.model, c.profile})) ||
        (OnOneNode(job) && !reserved && FailsAtSize(cache.no_node, {c.model, c.profile}, job.count));
    Tentative t{job.id, c.cost};
    bool placed = !no_slot && PlaceOn(job, m, c.profile, now_ms, t);
    if (!placed && !no_slot) {
      Rollback(t);
      if (job.count == 1) cache.no_slot.insert({c.model, c.profile});
      if (OnOneNode(job)) NoteFailure(cache.no_node, {c.model, c.profile}, job.count);
    }
    if (!placed && !(placed = BackfillReserved(job, m, c.profile, now_ms, t))) {
      Rollback(t);
      if (first_slot.kind == PendingKind::kNone)
        first_slot = {PendingKind::kNoLegalSlot, NoSlotReason(job, m, c.profile), {}};
      continue;
    }
    Commit(job, request, t, now_ms, out);
    return true;
  }
  if (preempt_at && options_.preemption) {
    ModelState& m = *models_[static_cast<std::size_t>(preempt_at->model)];
    Tentative t{job.id, preempt_at->cost};
    if (TryPreempt(job, m, preempt_at->profile, preempt_at->cost, now_ms, cache, t)) {
      Commit(job, {{m.quota_class, MilliGpu(preempt_at->cost.value() * job.count)}}, t, now_ms, out);
      return true;
    }
  }
  job.pending = first_slot.kind != PendingKind::kNone ? first_slot : first_quota;
  if (job.pending.kind == PendingKind::kNoLegalSlot && slot_at) {
    ModelState& m = *models_[static_cast<std::size_t>(slot_at->model)];
    if (std::optional<Pending> r = ReservedReason(job, m, slot_at->profile)) {
      job.pending = std::move(*r);  // it would fit but for a reservation: no reservation of its own
    } else {
      MaybeReserve(job, m, slot_at->profile, now_ms);
    }
  }
  return false;
}

void Scheduler::Commit(Job& job, const QuotaRequest& request, Tentative& t, std::int64_t now_ms,
                       std::vector<Decision>& out) {
  (void)quota_.Charge(job.team, request);  // the caller checked the fit with nothing in between
  for (const Decision& d : t.decisions) {
    usage_.instances_created += d.kind == Decision::Kind::kCreateInstance;
    usage_.instances_destroyed += d.kind == Decision::Kind::kDestroyInstance;
    out.push_back(d);
  }
  ModelState* m = nullptr;
  for (const Binding& b : t.bindings) {
    m = models_[static_cast<std::size_t>(model_of_gpu_[b.gpu])].get();
    if (!b.instance.valid()) continue;
    for (const Instance& inst : gpus_[b.gpu].instances) {
      if (inst.id == b.instance) NoteDemand(*m, inst.placement.profile, now_ms);
    }
  }
  job.bindings = std::move(t.bindings);
  job.state = JobState::kRunning;
  job.start_ms = now_ms;
  job.pending = {};
  if (job.preemptible) preemptible_[job.team.value()].insert({job.priority, -now_ms, job.id.value()});
}

std::string Scheduler::UnschedulableReason(const Job& job) const {
  const SliceRequest& r = job.request;
  if (!r.gpu_model.empty()) {
    bool present = false;
    for (const auto& m : models_) {
      present |= mig::NormalizeGpuName(r.gpu_model) == mig::NormalizeGpuName(m->model->name);
    }
    if (!present) return fmt::format("no {} GPU in the cluster", r.gpu_model);
  }
  if (!r.profile.empty()) {
    return fmt::format("no GPU model in the cluster has profile '{}' on a GPU that can cut it", r.profile);
  }
  std::string why;
  for (const auto& m : models_) {
    if (m->geometry == nullptr) continue;
    if (Result<int> q = m->geometry->ResolveSize(r.size); !q) why = q.error().message;
  }
  return why.empty() ? "no GPU model in the cluster can host it"
                     : "no GPU model in the cluster can host it: " + why;
}

std::string Scheduler::NoSlotReason(const Job& job, const ModelState& m, int profile) const {
  const std::string shape =
      profile >= 0 ? m.model->profiles[static_cast<std::size_t>(profile)].name : std::string("a whole GPU");
  return fmt::format("quota fits, but no {} GPU has a legal free slot for {}{} right now", m.model->name,
                     job.count > 1 ? fmt::format("{} x ", job.count) : "", shape);
}

// --- events -----------------------------------------------------------------------------------

void Scheduler::ReleaseJob(Job& job, std::int64_t now_ms) {
  std::map<std::uint64_t, std::int64_t> per_class;
  for (const Binding& b : job.bindings) {
    per_class[gpus_[b.gpu].quota_class.value()] += b.cost.value();
    if (b.instance.valid()) {
      SetIdle(b.gpu, b.instance, now_ms);
    } else {
      FreeWhole(b.gpu);
    }
  }
  QuotaRequest request;
  for (const auto& [cls, amount] : per_class) request.push_back({ClassId(cls), MilliGpu(amount)});
  (void)quota_.Release(job.team, request);  // admitted with exactly these amounts
  job.bindings.clear();
  if (job.preemptible) {
    if (auto it = preemptible_.find(job.team.value()); it != preemptible_.end()) {
      it->second.erase({job.priority, -job.start_ms, job.id.value()});
      if (it->second.empty()) preemptible_.erase(it);
    }
  }
}

Result<void> Scheduler::Finish(JobId id, std::int64_t now_ms) {
  const auto it = jobs_.find(id.value());
  if (it == jobs_.end()) return Fail(ErrorCode::kNotFound, "no job {}", id.value());
  Job& job = it->second;
  if (job.state != JobState::kRunning) {
    return Fail(ErrorCode::kFailedPrecondition, "job {} is {}, not running", job.name,
                JobStateName(job.state));
  }
  ReleaseJob(job, now_ms);
  job.state = JobState::kFinished;
  return {};
}

Result<void> Scheduler::Cancel(JobId id, std::int64_t now_ms) {
  const auto it = jobs_.find(id.value());
  if (it == jobs_.end()) return Fail(ErrorCode::kNotFound, "no job {}", id.value());
  Job& job = it->second;
  if (job.state == JobState::kPending) {
    Dequeue(job);
    DropReservation(job.id);
  } else if (job.state == JobState::kRunning) {
    ReleaseJob(job, now_ms);
  } else {
    return Fail(ErrorCode::kFailedPrecondition, "job {} has already ended ({})", job.name,
                JobStateName(job.state));
  }
  job.state = JobState::kCancelled;
  return {};
}

}  // namespace gpuslice::sched
