#include "store/memory_store.h"

#include <algorithm>
#include <utility>

namespace gpuslice::store {

Result<void> MemoryStore::CheckOpenLocked() const {
  if (closed_) return Fail(ErrorCode::kFailedPrecondition, "store is closed");
  return {};
}

std::map<std::string, std::string>& MemoryStore::Table(Collection c) {
  switch (c) {
    case Collection::kTeams: return teams_;
    case Collection::kTokens: return tokens_;
    case Collection::kNodes: return nodes_;
    case Collection::kMeta: break;
  }
  return meta_;
}

void MemoryStore::FailNextApplyForTest(Error error) {
  std::lock_guard lock(mu_);
  fail_next_ = std::move(error);
}

Result<CommitInfo> MemoryStore::Apply(const WriteBatch& batch) {
  // Validation first: after it no op can fail, so applying in place is all-or-nothing.
  if (auto v = ValidateBatch(batch); !v) return Fail(v.error());
  std::lock_guard lock(mu_);
  if (auto r = CheckOpenLocked(); !r) return Fail(r.error());
  if (fail_next_) {
    Error e = std::move(*fail_next_);
    fail_next_.reset();
    return Fail(std::move(e));
  }
  CommitInfo info;
  for (const WriteOp& op : batch.ops()) {
    switch (op.kind) {
      case WriteOp::Kind::kPutJob: jobs_[op.job.id] = op.job; break;
      case WriteOp::Kind::kDeleteJob: jobs_.erase(op.job.id); break;
      case WriteOp::Kind::kPut: Table(op.collection)[op.key] = op.value; break;
      case WriteOp::Kind::kDelete: Table(op.collection).erase(op.key); break;
      case WriteOp::Kind::kAppendEvent:
        events_.push_back(EventRecord{++last_seq_, op.event_kind, op.value});
        if (info.event_count++ == 0) info.first_event_seq = last_seq_;
        break;
    }
  }
  return info;
}

Result<JobRecord> MemoryStore::GetJob(uint64_t id) {
  std::lock_guard lock(mu_);
  if (auto r = CheckOpenLocked(); !r) return Fail(r.error());
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return Fail(ErrorCode::kNotFound, "no job {}", id);
  return it->second;
}

Result<std::string> MemoryStore::Get(Collection c, std::string_view key) {
  std::lock_guard lock(mu_);
  if (auto r = CheckOpenLocked(); !r) return Fail(r.error());
  const auto& table = Table(c);
  auto it = table.find(std::string(key));
  if (it == table.end()) return Fail(ErrorCode::kNotFound, "no {} entry '{}'", CollectionName(c), key);
  return it->second;
}

Result<std::vector<JobRecord>> MemoryStore::ListJobs(const JobFilter& filter) {
  std::lock_guard lock(mu_);
  if (auto r = CheckOpenLocked(); !r) return Fail(r.error());
  std::vector<JobRecord> out;
  for (auto it = jobs_.upper_bound(filter.after_id); it != jobs_.end(); ++it) {
    const JobRecord& j = it->second;
    if (filter.team && j.team != *filter.team) continue;
    if (filter.state && j.state != *filter.state) continue;
    out.push_back(j);
    if (filter.limit != 0 && out.size() >= filter.limit) break;
  }
  return out;
}

Result<std::map<std::string, std::string>> MemoryStore::List(Collection c) {
  std::lock_guard lock(mu_);
  if (auto r = CheckOpenLocked(); !r) return Fail(r.error());
  return Table(c);
}

Result<std::vector<EventRecord>> MemoryStore::ReadEvents(uint64_t after_seq, std::size_t limit) {
  std::lock_guard lock(mu_);
  if (auto r = CheckOpenLocked(); !r) return Fail(r.error());
  auto it = std::upper_bound(events_.begin(), events_.end(), after_seq,
                             [](uint64_t seq, const EventRecord& e) { return seq < e.seq; });
  std::vector<EventRecord> out;
  for (; it != events_.end() && (limit == 0 || out.size() < limit); ++it) out.push_back(*it);
  return out;
}

Result<uint64_t> MemoryStore::LastEventSeq() {
  std::lock_guard lock(mu_);
  if (auto r = CheckOpenLocked(); !r) return Fail(r.error());
  return last_seq_;
}

Result<Snapshot> MemoryStore::LoadAll() {
  std::lock_guard lock(mu_);
  if (auto r = CheckOpenLocked(); !r) return Fail(r.error());
  Snapshot s;
  for (const auto& [id, job] : jobs_) s.jobs.push_back(job);
  s.teams = teams_;
  s.tokens = tokens_;
  s.nodes = nodes_;
  s.meta = meta_;
  s.last_event_seq = last_seq_;
  return s;
}

void MemoryStore::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
}

}  // namespace gpuslice::store
