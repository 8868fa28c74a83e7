// The StateStore contract (STYLE.md §10): the same behaviour tests against MemoryStore and
// SqliteStore (in a temp dir). SQLite-only behaviour (reopen, schema versions, damaged files,
// kill -9) is in sqlite_store_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "store/store_testing.h"

namespace gpuslice::store {
namespace {

using ::testing::HasSubstr;

template <typename H>
class StoreContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = harness_.Open();
    ASSERT_NE(store_, nullptr);
  }
  StateStore& store() { return *store_; }

  H harness_;
  std::unique_ptr<StateStore> store_;
};

using Harnesses = ::testing::Types<MemoryHarness, SqliteHarness>;
TYPED_TEST_SUITE(StoreContractTest, Harnesses);

TYPED_TEST(StoreContractTest, PutGetDeleteJob) {
  StateStore& s = this->store();
  ASSERT_TRUE(s.Apply(WriteBatch().PutJob(Job(7))));
  auto got = s.GetJob(7);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, Job(7));
  JobRecord changed = Job(7, "ml", "running");
  ASSERT_TRUE(s.Apply(WriteBatch().PutJob(changed)));
  EXPECT_EQ(s.GetJob(7)->state, "running");
  ASSERT_TRUE(s.Apply(WriteBatch().DeleteJob(7)));
  EXPECT_EQ(s.GetJob(7).error().code, ErrorCode::kNotFound);
  // Deleting what is not there is a valid no-op.
  EXPECT_TRUE(s.Apply(WriteBatch().DeleteJob(7)));
}

TYPED_TEST(StoreContractTest, PutGetDeleteKeyValueCollections) {
  StateStore& s = this->store();
  for (Collection c : {Collection::kTeams, Collection::kTokens, Collection::kNodes, Collection::kMeta}) {
    SCOPED_TRACE(std::string(CollectionName(c)));
    ASSERT_TRUE(s.Apply(WriteBatch().Put(c, "b", R"({"v":2})").Put(c, "a", R"({"v":1})")));
    EXPECT_EQ(*s.Get(c, "a"), R"({"v":1})");
    auto all = s.List(c);
    ASSERT_TRUE(all);
    EXPECT_EQ(all->size(), 2u);
    EXPECT_EQ(all->begin()->first, "a");
    ASSERT_TRUE(s.Apply(WriteBatch().Delete(c, "a")));
    EXPECT_EQ(s.Get(c, "a").error().code, ErrorCode::kNotFound);
    EXPECT_TRUE(s.Get(c, "b"));
  }
  // Collections are separate namespaces.
  EXPECT_EQ(*s.Get(Collection::kTeams, "b"), R"({"v":2})");
}

TYPED_TEST(StoreContractTest, LaterOpsInABatchSeeEarlierOnes) {
  StateStore& s = this->store();
  ASSERT_TRUE(s.Apply(WriteBatch().PutJob(Job(1)).DeleteJob(1).PutJob(Job(2)).PutJob(Job(2, "ml", "done"))));
  EXPECT_FALSE(s.GetJob(1));
  EXPECT_EQ(s.GetJob(2)->state, "done");
}

TYPED_TEST(StoreContractTest, InvalidOpInBatchAppliesNothing) {
  StateStore& s = this->store();
  ASSERT_TRUE(s.Apply(WriteBatch().AppendEvent("seed", "{}")));
  WriteBatch bad;
  bad.PutJob(Job(1)).Put(Collection::kTeams, "ml", "{}").AppendEvent("submitted", "{}");
  bad.Put(Collection::kNodes, "n1", "{not json");
  auto r = s.Apply(bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr("batch op 3"));
  EXPECT_FALSE(s.GetJob(1));
  EXPECT_FALSE(s.Get(Collection::kTeams, "ml"));
  EXPECT_EQ(*s.LastEventSeq(), 1u);

  for (WriteBatch b : {WriteBatch().PutJob(Job(0)), WriteBatch().DeleteJob(uint64_t{1} << 63),
                       WriteBatch().PutJob(Job(3, "")), WriteBatch().Put(Collection::kMeta, "", "x"),
                       WriteBatch().AppendEvent("", "{}"), WriteBatch().AppendEvent("k", "nope"),
                       WriteBatch().Put(Collection::kTokens, std::string(kMaxKeyBytes + 1, 'h'), "{}")}) {
    auto e = s.Apply(b);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code, ErrorCode::kInvalidArgument) << e.error().message;
  }
  // Meta values need not be JSON.
  EXPECT_TRUE(s.Apply(WriteBatch().Put(Collection::kMeta, "next_job_id", "42")));
  EXPECT_TRUE(s.Apply(WriteBatch()));  // empty batch: a valid no-op
}

TYPED_TEST(StoreContractTest, ListJobsFiltersAndPages) {
  StateStore& s = this->store();
  WriteBatch b;
  for (uint64_t id = 1; id <= 20; ++id)
    b.PutJob(Job(id, id % 2 ? "odd" : "even", id % 3 ? "pending" : "running"));
  ASSERT_TRUE(s.Apply(b));

  auto all = s.ListJobs({});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 20u);
  EXPECT_EQ(all->front().id, 1u);
  EXPECT_EQ(all->back().id, 20u);

  auto odd = s.ListJobs({.team = "odd"});
  ASSERT_EQ(odd->size(), 10u);
  for (const JobRecord& j : *odd) EXPECT_EQ(j.id % 2, 1u);

  auto running = s.ListJobs({.state = "running"});
  ASSERT_EQ(running->size(), 6u);  // 3, 6, …, 18

  auto both = s.ListJobs({.team = "even", .state = "running"});
  ASSERT_EQ(both->size(), 3u);  // 6, 12, 18
  EXPECT_EQ((*both)[1].id, 12u);

  // Pages of 7 over the odd team's jobs, continuing after the last id seen.
  std::vector<uint64_t> seen;
  JobFilter page{.team = "odd", .after_id = 0, .limit = 4};
  for (;;) {
    auto p = s.ListJobs(page);
    ASSERT_TRUE(p);
    if (p->empty()) break;
    EXPECT_LE(p->size(), 4u);
    for (const JobRecord& j : *p) seen.push_back(j.id);
    page.after_id = p->back().id;
  }
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19}));
  EXPECT_TRUE(s.ListJobs({.team = "nobody"})->empty());
}

TYPED_TEST(StoreContractTest, EventSeqsAreMonotonicAndReadableByRange) {
  StateStore& s = this->store();
  EXPECT_EQ(*s.LastEventSeq(), 0u);
  auto a =
      s.Apply(WriteBatch().AppendEvent("submitted", R"({"job":1})").AppendEvent("placed", R"({"job":1})"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->first_event_seq, 1u);
  EXPECT_EQ(a->event_count, 2u);
  auto none = s.Apply(WriteBatch().PutJob(Job(1)));
  EXPECT_EQ(none->event_count, 0u);
  EXPECT_EQ(none->first_event_seq, 0u);
  auto b = s.Apply(WriteBatch().AppendEvent("done", R"({"job":1})"));
  EXPECT_EQ(b->first_event_seq, 3u);

  auto after1 = s.ReadEvents(1, 0);
  ASSERT_TRUE(after1);
  ASSERT_EQ(after1->size(), 2u);
  EXPECT_EQ((*after1)[0], (EventRecord{2, "placed", R"({"job":1})"}));
  EXPECT_EQ((*after1)[1].seq, 3u);
  EXPECT_EQ(s.ReadEvents(0, 1)->size(), 1u);
  EXPECT_TRUE(s.ReadEvents(3, 0)->empty());
  EXPECT_EQ(*s.LastEventSeq(), 3u);
  // A failed batch consumes no seq.
  EXPECT_FALSE(s.Apply(WriteBatch().AppendEvent("x", "{}").PutJob(Job(0))));
  EXPECT_EQ(s.Apply(WriteBatch().AppendEvent("y", "{}"))->first_event_seq, 4u);
}

TYPED_TEST(StoreContractTest, MetaHoldsCounters) {
  StateStore& s = this->store();
  EXPECT_EQ(s.Get(Collection::kMeta, "next_job_id").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(
      s.Apply(WriteBatch().Put(Collection::kMeta, "next_job_id", "2").Put(Collection::kMeta, "gen", "9")));
  ASSERT_TRUE(s.Apply(WriteBatch().Put(Collection::kMeta, "next_job_id", "3")));
  EXPECT_EQ(*s.Get(Collection::kMeta, "next_job_id"), "3");
  EXPECT_EQ(*s.Get(Collection::kMeta, "gen"), "9");
}

TYPED_TEST(StoreContractTest, LoadAllReturnsEverything) {
  StateStore& s = this->store();
  ASSERT_TRUE(s.Apply(WriteBatch()
                          .PutJob(Job(2))
                          .PutJob(Job(1))
                          .Put(Collection::kTeams, "ml", R"({"quota":4})")
                          .Put(Collection::kTokens, "sha256:ab", R"({"role":"admin"})")
                          .Put(Collection::kNodes, "n1", "{}")
                          .Put(Collection::kMeta, "next_job_id", "3")
                          .AppendEvent("boot", "{}")));
  auto snap = s.LoadAll();
  ASSERT_TRUE(snap) << snap.error().message;
  ASSERT_EQ(snap->jobs.size(), 2u);
  EXPECT_EQ(snap->jobs[0], Job(1));
  EXPECT_EQ(snap->teams.at("ml"), R"({"quota":4})");
  EXPECT_EQ(snap->tokens.count("sha256:ab"), 1u);
  EXPECT_EQ(snap->nodes.size(), 1u);
  EXPECT_EQ(snap->meta.at("next_job_id"), "3");
  EXPECT_EQ(snap->last_event_seq, 1u);
}

TYPED_TEST(StoreContractTest, ConcurrentApplyFromEightThreads) {
  StateStore& s = this->store();
  constexpr int kThreads = 8, kPerThread = 50;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        uint64_t id = static_cast<uint64_t>(t * 1000 + i + 1);
        auto r =
            s.Apply(WriteBatch().PutJob(Job(id)).AppendEvent("submitted", "{}").AppendEvent("queued", "{}"));
        ASSERT_TRUE(r) << r.error().message;
        ASSERT_EQ(r->event_count, 2u);
        seqs[static_cast<std::size_t>(t)].push_back(r->first_event_seq);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> all;
  for (int t = 0; t < kThreads; ++t) {
    // Each thread's batches were acked in order, so its seqs increase.
    EXPECT_TRUE(
        std::is_sorted(seqs[static_cast<std::size_t>(t)].begin(), seqs[static_cast<std::size_t>(t)].end()));
    for (uint64_t seq : seqs[static_cast<std::size_t>(t)]) {
      EXPECT_TRUE(all.insert(seq).second) << "seq " << seq << " given twice";
      all.insert(seq + 1);
    }
    for (int i = 0; i < kPerThread; ++i) EXPECT_TRUE(s.GetJob(static_cast<uint64_t>(t * 1000 + i + 1)));
  }
  EXPECT_EQ(all.size(), 2u * kThreads * kPerThread);
  EXPECT_EQ(*s.LastEventSeq(), 2u * kThreads * kPerThread);
  EXPECT_EQ(s.ReadEvents(0, 0)->size(), 2u * kThreads * kPerThread);
}

TYPED_TEST(StoreContractTest, CallsAfterCloseFail) {
  StateStore& s = this->store();
  ASSERT_TRUE(s.Apply(WriteBatch().PutJob(Job(1))));
  s.Close();
  s.Close();  // idempotent
  EXPECT_EQ(s.Apply(WriteBatch().PutJob(Job(2))).error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(s.GetJob(1).error().code, ErrorCode::kFailedPrecondition);
}

TEST(MemoryStoreTest, FailNextApplyAppliesNothingOnce) {
  MemoryStore s;
  s.FailNextApplyForTest(Error{ErrorCode::kUnavailable, "disk full"});
  auto r = s.Apply(WriteBatch().PutJob(Job(1)).AppendEvent("e", "{}"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE(s.GetJob(1));
  EXPECT_EQ(*s.LastEventSeq(), 0u);
  EXPECT_TRUE(s.Apply(WriteBatch().PutJob(Job(1))));
}

}  // namespace
}  // namespace gpuslice::store
