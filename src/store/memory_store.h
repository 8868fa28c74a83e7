// MemoryStore: the in-memory fake StateStore, with the semantics of SqliteStore minus durability.
//
// For unit tests of the layers above the store (server handlers, scheduler loop): same validation
// (ValidateBatch), same atomicity, same event-seq rules, same ordering of lists. Nothing survives
// the object. Fault injection: FailNextApplyForTest makes the next Apply fail with the given error
// and apply nothing, as a real store does on an I/O error.
//
// Thread-safety: all methods are safe to call concurrently; one mutex serialises them.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/state_store.h"

namespace gpuslice::store {

class MemoryStore final : public StateStore {
 public:
  MemoryStore() = default;

  Result<CommitInfo> Apply(const WriteBatch& batch) override;
  Result<JobRecord> GetJob(uint64_t id) override;
  Result<std::string> Get(Collection c, std::string_view key) override;
  Result<std::vector<JobRecord>> ListJobs(const JobFilter& filter) override;
  Result<std::map<std::string, std::string>> List(Collection c) override;
  Result<std::vector<EventRecord>> ReadEvents(uint64_t after_seq, std::size_t limit) override;
  Result<uint64_t> LastEventSeq() override;
  Result<Snapshot> LoadAll() override;
  void Close() override;

  void FailNextApplyForTest(Error error);

 private:
  Result<void> CheckOpenLocked() const;
  std::map<std::string, std::string>& Table(Collection c);

  // Guarded by mu_.
  std::mutex mu_;
  bool closed_ = false;
  std::optional<Error> fail_next_;
  std::map<uint64_t, JobRecord> jobs_;
  std::map<std::string, std::string> teams_, tokens_, nodes_, meta_;
  std::vector<EventRecord> events_;  // ascending seq
  uint64_t last_seq_ = 0;
};

}  // namespace gpuslice::store
