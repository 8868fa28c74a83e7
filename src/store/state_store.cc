#include "store/state_store.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

namespace gpuslice::store {

std::string_view CollectionName(Collection c) {
  switch (c) {
    case Collection::kTeams: return "teams";
    case Collection::kTokens: return "tokens";
    case Collection::kNodes: return "nodes";
    case Collection::kMeta: return "meta";
  }
  return "unknown";
}

WriteBatch& WriteBatch::PutJob(JobRecord job) {
  WriteOp op;
  op.kind = WriteOp::Kind::kPutJob;
  op.job = std::move(job);
  ops_.push_back(std::move(op));
  return *this;
}

WriteBatch& WriteBatch::DeleteJob(uint64_t id) {
  WriteOp op;
  op.kind = WriteOp::Kind::kDeleteJob;
  op.job.id = id;
  ops_.push_back(std::move(op));
  return *this;
}

WriteBatch& WriteBatch::Put(Collection c, std::string key, std::string value) {
  WriteOp op;
  op.kind = WriteOp::Kind::kPut;
  op.collection = c;
  op.key = std::move(key);
  op.value = std::move(value);
  ops_.push_back(std::move(op));
  return *this;
}

WriteBatch& WriteBatch::Delete(Collection c, std::string key) {
  WriteOp op;
  op.kind = WriteOp::Kind::kDelete;
  op.collection = c;
  op.key = std::move(key);
  ops_.push_back(std::move(op));
  return *this;
}

WriteBatch& WriteBatch::AppendEvent(std::string kind, std::string json) {
  WriteOp op;
  op.kind = WriteOp::Kind::kAppendEvent;
  op.event_kind = std::move(kind);
  op.value = std::move(json);
  ops_.push_back(std::move(op));
  return *this;
}

std::size_t WriteBatch::event_count() const {
  std::size_t n = 0;
  for (const WriteOp& op : ops_) n += op.kind == WriteOp::Kind::kAppendEvent ? 1 : 0;
  return n;
}

namespace {

constexpr uint64_t kMaxJobId = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

Result<void> CheckText(std::string_view what, std::string_view text, bool json) {
  if (text.size() > kMaxValueBytes)
    return Fail(ErrorCode::kInvalidArgument, "{} is {} bytes, over the limit of {}", what, text.size(),
                kMaxValueBytes);
  if (json && !nlohmann::json::accept(text))
    return Fail(ErrorCode::kInvalidArgument, "{} is not valid JSON", what);
  return {};
}

Result<void> CheckKey(std::string_view what, std::string_view key) {
  if (key.empty()) return Fail(ErrorCode::kInvalidArgument, "{} is empty", what);
  if (key.size() > kMaxKeyBytes)
    return Fail(ErrorCode::kInvalidArgument, "{} is {} bytes, over the limit of {}", what, key.size(),
                kMaxKeyBytes);
  return {};
}

Result<void> CheckJobId(uint64_t id) {
  if (id == 0 || id > kMaxJobId)
    return Fail(ErrorCode::kInvalidArgument, "job id {} is outside 1..{}", id, kMaxJobId);
  return {};
}

Result<void> ValidateOp(const WriteOp& op) {
  switch (op.kind) {
    case WriteOp::Kind::kPutJob: {
      if (auto r = CheckJobId(op.job.id); !r) return r;
      if (auto r = CheckKey("job team", op.job.team); !r) return r;
      if (auto r = CheckKey("job state", op.job.state); !r) return r;
      return CheckText("job JSON", op.job.json, true);
    }
    case WriteOp::Kind::kDeleteJob: return CheckJobId(op.job.id);
    case WriteOp::Kind::kPut: {
      if (auto r = CheckKey(fmt::format("{} key", CollectionName(op.collection)), op.key); !r) return r;
      return CheckText(fmt::format("{} value", CollectionName(op.collection)), op.value,
                       op.collection != Collection::kMeta);
    }
    case WriteOp::Kind::kDelete:
      return CheckKey(fmt::format("{} key", CollectionName(op.collection)), op.key);
    case WriteOp::Kind::kAppendEvent: {
      if (auto r = CheckKey("event kind", op.event_kind); !r) return r;
      return CheckText("event JSON", op.value, true);
    }
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown op kind");
}

}  // namespace

Result<void> ValidateBatch(const WriteBatch& batch) {
  const std::vector<WriteOp>& ops = batch.ops();
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (auto r = ValidateOp(ops[i]); !r) return Fail(r.error().WithContext(fmt::format("batch op {}", i)));
  }
  return {};
}

}  // namespace gpuslice::store
