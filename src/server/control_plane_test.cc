// ControlPlane over a MemoryStore (and once over SQLite on disk): submit, schedule, desired
// state, reports, cancel, and recovery from the store without starting anything twice.
#include "server/control_plane.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "mig/mig_parted.h"
#include "store/memory_store.h"
#include "store/sqlite_store.h"

namespace gpuslice::server {
namespace {

using ::testing::HasSubstr;

ControlOptions Options() {
  ControlOptions o;
  sched::QuotaNodeSpec nlp{"nlp", true, "", 1, {{"A100-80GB", {MilliGpu(2000), std::nullopt, std::nullopt}}}};
  o.teams.push_back(nlp);
  return o;
}

api::JobSubmit Job(std::string profile, std::vector<std::string> command = {"sleep", "60"}) {
  api::JobSubmit j;
  j.team = "nlp";
  j.profile = std::move(profile);
  j.command = std::move(command);
  return j;
}

api::ActualNodeState Exited(const std::string& node, std::uint64_t job, int code) {
  api::ActualNodeState a;
  a.node = node;
  api::ActualWorkload w;
  w.job_id = std::to_string(job);
  w.state = code == 0 ? api::WorkloadState::kExited : api::WorkloadState::kFailed;
  w.exit_code = code;
  a.workloads.push_back(w);
  return a;
}

class ControlPlaneTest : public ::testing::Test {
 protected:
  std::unique_ptr<ControlPlane> OpenCp() {
    Result<std::unique_ptr<ControlPlane>> cp = ControlPlane::Open(store_, clock_, Options());
    EXPECT_TRUE(cp) << cp.error().message;
    return std::move(*cp);
  }
  store::MemoryStore store_;
  FakeClock clock_;
};

TEST_F(ControlPlaneTest, ASubmittedJobIsDurableThenScheduledIntoItsNodesDesiredState) {
  auto cp = OpenCp();
  ASSERT_TRUE(cp->RegisterNode({"n1", "A100-SXM4-80GB", 2}));
  const Result<std::uint64_t> id = cp->Submit(Job("3g.40gb", {"python", "serve.py"}));
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_TRUE(store_.GetJob(*id));  // durable before the answer
  EXPECT_EQ(cp->Get(*id)->phase, JobPhase::kPending);

  const std::uint64_t before = cp->Desired("n1")->generation;
  std::vector<std::uint64_t> bumps;
  cp->OnDesiredChange([&](const std::string&, std::uint64_t g) { bumps.push_back(g); });
  ASSERT_EQ(cp->Schedule().value(), 1);
  const JobView v = cp->Get(*id).value();
  EXPECT_EQ(v.phase, JobPhase::kRunning);
  ASSERT_EQ(v.slices.size(), 1u);
  EXPECT_EQ(v.slices[0], (SliceAt{"n1", 0, "3g.40gb", 4}));
  EXPECT_EQ(store_.GetJob(*id)->state, "running");

  const api::DesiredNodeState d = cp->Desired("n1").value();
  EXPECT_GT(d.generation, before);
  EXPECT_EQ(bumps, std::vector<std::uint64_t>{d.generation});
  ASSERT_EQ(d.instances.size(), 1u);
  EXPECT_EQ(d.instances[0].profile, "3g.40gb");
  EXPECT_EQ(d.instances[0].start, 4);
  ASSERT_EQ(d.workloads.size(), 1u);
  EXPECT_EQ(d.workloads[0].job_id, std::to_string(*id));
  EXPECT_EQ(d.workloads[0].argv, (std::vector<std::string>{"python", "serve.py"}));
  EXPECT_EQ(d.workloads[0].instance_keys, std::vector<std::string>{d.instances[0].key});
  EXPECT_TRUE(api::ValidateDesiredNodeState(d)) << "the agent must accept what the server sends";
}

TEST_F(ControlPlaneTest, ReportsEndJobsAndFreeTheirSlices) {
  auto cp = OpenCp();
  ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 1}));
  const std::uint64_t ok = cp->Submit(Job("3g.40gb")).value();
  const std::uint64_t bad = cp->Submit(Job("3g.40gb")).value();
  ASSERT_EQ(cp->Schedule().value(), 2);
  ASSERT_TRUE(cp->Report(Exited("n1", ok, 0)));
  ASSERT_TRUE(cp->Report(Exited("n1", bad, 3)));
  EXPECT_EQ(cp->Get(ok)->phase, JobPhase::kSucceeded);
  EXPECT_EQ(cp->Get(bad)->phase, JobPhase::kFailed);
  EXPECT_EQ(cp->Get(bad)->exit_code, 3);
  EXPECT_TRUE(cp->Desired("n1")->workloads.empty());
  // A stale report for an ended job changes nothing.
  ASSERT_TRUE(cp->Report(Exited("n1", ok, 1)));
  EXPECT_EQ(cp->Get(ok)->phase, JobPhase::kSucceeded);
  EXPECT_FALSE(cp->Report(Exited("nowhere", ok, 0)));
}

TEST_F(ControlPlaneTest, PendingJobsSayWhyAndCancelEndsThem) {
  auto cp = OpenCp();
  ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 1}));
  const std::uint64_t big = cp->Submit(Job("7g.80gb")).value();
  const std::uint64_t more = cp->Submit(Job("7g.80gb")).value();
  ASSERT_EQ(cp->Schedule().value(), 1);
  const JobView waiting = cp->Get(more).value();
  EXPECT_EQ(waiting.phase, JobPhase::kPending);
  EXPECT_EQ(waiting.reason_kind, "no-legal-slot");
  ASSERT_TRUE(cp->Cancel(big));
  EXPECT_EQ(cp->Get(big)->phase, JobPhase::kCancelled);
  EXPECT_EQ(cp->Cancel(big).error().code, ErrorCode::kFailedPrecondition);
  ASSERT_EQ(cp->Schedule().value(), 1);
  EXPECT_EQ(cp->Get(more)->phase, JobPhase::kRunning);
}

TEST_F(ControlPlaneTest, BadRequestsChangeNothing) {
  auto cp = OpenCp();
  api::JobSubmit unknown = Job("3g.40gb");
  unknown.team = "nobody";
  EXPECT_EQ(cp->Submit(unknown).error().code, ErrorCode::kNotFound);
  api::JobSubmit bad = Job("3g.40gb");
  bad.count = 0;
  EXPECT_EQ(cp->Submit(bad).error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(store_.ListJobs({}).value().empty());
  EXPECT_FALSE(cp->RegisterNode({"n1", "no-such-gpu", 1}));
  EXPECT_FALSE(cp->RegisterNode({"n1", "A100-80GB", 0}));
  ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 1}));
  EXPECT_TRUE(cp->RegisterNode({"n1", "A100-SXM4-80GB", 1}));  // the same node again
  EXPECT_EQ(cp->RegisterNode({"n1", "A100-80GB", 2}).error().code, ErrorCode::kAlreadyExists);
  store_.FailNextApplyForTest(Error{ErrorCode::kUnavailable, "disk full"});
  EXPECT_EQ(cp->Submit(Job("1g.10gb")).error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(cp->List().empty());
}

TEST_F(ControlPlaneTest, RestartRestoresRunningJobsWhereTheyRanAndQueuesTheRest) {
  std::uint64_t running = 0, pending = 0, done = 0;
  std::vector<api::DesiredInstance> instances_before;
  {
    auto cp = OpenCp();
    ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 1}));
    done = cp->Submit(Job("1g.10gb")).value();
    running = cp->Submit(Job("4g.40gb")).value();
    pending = cp->Submit(Job("7g.80gb")).value();
    ASSERT_EQ(cp->Schedule().value(), 2);
    ASSERT_TRUE(cp->Report(Exited("n1", done, 0)));
    instances_before = cp->Desired("n1")->instances;
  }
  clock_.Advance(std::chrono::seconds(5));
  auto cp = OpenCp();  // a new server on the same store
  EXPECT_EQ(cp->Get(done)->phase, JobPhase::kSucceeded);
  const JobView r = cp->Get(running).value();
  EXPECT_EQ(r.phase, JobPhase::kRunning);
  EXPECT_EQ(r.slices[0], (SliceAt{"n1", 0, "4g.40gb", 0}));
  EXPECT_EQ(cp->Get(pending)->phase, JobPhase::kPending);
  // Nothing moves: the running job keeps its slot, nothing is placed twice.
  EXPECT_EQ(cp->Schedule().value(), 0);
  const api::DesiredNodeState d = cp->Desired("n1").value();
  ASSERT_EQ(d.workloads.size(), 1u);
  EXPECT_EQ(d.workloads[0].job_id, std::to_string(running));
  // New ids continue after the old ones.
  EXPECT_GT(cp->Submit(Job("1g.10gb")).value(), pending);
}

TEST_F(ControlPlaneTest, ALostNodesJobsAreRequeuedAndItIsFencedWhenItReturns) {
  auto cp = OpenCp();
  ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 1}));
  const std::uint64_t id = cp->Submit(Job("7g.80gb")).value();
  ASSERT_EQ(cp->Schedule().value(), 1);
  ASSERT_EQ(cp->Get(id)->slices[0].node, "n1");
  ASSERT_TRUE(cp->RegisterNode({"n2", "A100-80GB", 1}));
  clock_.Advance(std::chrono::seconds(20));
  cp->Seen("n2");
  EXPECT_TRUE(cp->ExpireNodes(std::chrono::seconds(30)).value().empty());
  clock_.Advance(std::chrono::seconds(20));
  cp->Seen("n2");
  EXPECT_EQ(cp->ExpireNodes(std::chrono::seconds(30)).value(), std::vector<std::string>{"n1"});
  EXPECT_EQ(cp->Get(id)->phase, JobPhase::kPending);
  EXPECT_EQ(store_.GetJob(id)->state, "pending");  // durable
  EXPECT_EQ(cp->Desired("n1").error().code, ErrorCode::kNotFound);
  ASSERT_EQ(cp->Schedule().value(), 1);
  EXPECT_EQ(cp->Get(id)->slices[0].node, "n2");
  // n1 comes back: it registers again and is told to run nothing.
  ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 1}));
  EXPECT_TRUE(cp->Desired("n1")->workloads.empty());
  EXPECT_TRUE(cp->Desired("n1")->instances.empty());
}

TEST_F(ControlPlaneTest, UnderTheFailPolicyALostNodesJobsFailInsteadOfRunningTwice) {
  ControlOptions o = Options();
  o.lost_node_jobs = LostNodeJobs::kFail;
  auto cp = ControlPlane::Open(store_, clock_, o).value();
  ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 1}));
  const std::uint64_t id = cp->Submit(Job("7g.80gb")).value();
  ASSERT_EQ(cp->Schedule().value(), 1);
  clock_.Advance(std::chrono::seconds(40));
  ASSERT_EQ(cp->ExpireNodes(std::chrono::seconds(30)).value(), std::vector<std::string>{"n1"});
  EXPECT_EQ(cp->Get(id)->phase, JobPhase::kFailed);
  EXPECT_EQ(store_.GetJob(id)->state, "failed");
  ASSERT_TRUE(cp->RegisterNode({"n2", "A100-80GB", 1}));
  EXPECT_EQ(cp->Schedule().value(), 0);  // nothing to run again
  EXPECT_FALSE(cp->Cancel(id));          // it has ended
}

TEST_F(ControlPlaneTest, EventsTellAJobsLifeInOrderAndAreReplayedToLateSubscribers) {
  auto cp = OpenCp();
  std::vector<Event> seen;
  cp->Subscribe(0, [&](const Event& e) {
    seen.push_back(e);
    return true;
  });
  ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 1}));
  const std::uint64_t id = cp->Submit(Job("3g.40gb")).value();
  ASSERT_EQ(cp->Schedule().value(), 1);
  ASSERT_TRUE(cp->Report(Exited("n1", id, 3)));
  std::vector<std::string> types;
  for (const Event& e : seen) types.push_back(e.type);
  EXPECT_EQ(types,
            (std::vector<std::string>{"node-registered", "job-submitted", "job-started", "job-ended"}));
  for (std::size_t i = 1; i < seen.size(); ++i) EXPECT_GT(seen[i].seq, seen[i - 1].seq);
  EXPECT_EQ(seen[1].team, "nlp");
  EXPECT_EQ(seen[0].team, "");  // a cluster event
  const nlohmann::ordered_json ended = ToJson(seen[3]);
  EXPECT_EQ(ended["job"], id);
  EXPECT_EQ(ended["phase"], "failed");
  EXPECT_EQ(ended["exit_code"], 3);
  EXPECT_EQ(ToJson(seen[2])["slices"][0]["profile"], "3g.40gb");

  // A late subscriber gets what it missed past its last seq, then new events; false unsubscribes.
  std::vector<std::uint64_t> late;
  cp->Subscribe(seen[1].seq, [&](const Event& e) {
    late.push_back(e.seq);
    return late.size() < 3;
  });
  EXPECT_EQ(late, (std::vector<std::uint64_t>{seen[2].seq, seen[3].seq}));
  ASSERT_TRUE(cp->Submit(Job("1g.10gb")));
  ASSERT_TRUE(cp->Submit(Job("1g.10gb")));
  EXPECT_EQ(late.size(), 3u);
  EXPECT_EQ(seen.size(), 6u);
}

TEST_F(ControlPlaneTest, CordonKeepsNewWorkOffDrainDestroysIdleSlicesAndBothSurviveARestart) {
  auto cp = OpenCp();
  ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 2}));
  const std::uint64_t a = cp->Submit(Job("3g.40gb")).value();
  ASSERT_EQ(cp->Schedule().value(), 1);
  ASSERT_TRUE(cp->Report(Exited("n1", a, 0)));  // its slice stays, warm and idle
  ASSERT_EQ(cp->NodeViewOf("n1")->gpus[0].instances.size(), 1u);
  EXPECT_FALSE(cp->NodeViewOf("n1")->gpus[0].instances[0].job);

  // Cordon GPU 0: the next job lands on GPU 1 although GPU 0 has a warm slice that fits.
  const NodeView cordoned = cp->SetNodeMode("n1", 0, NodeAction::kCordon).value();
  EXPECT_EQ(cordoned.gpus[0].mode, "cordoned");
  EXPECT_EQ(cordoned.gpus[1].mode, "dynamic");
  const std::uint64_t b = cp->Submit(Job("3g.40gb")).value();
  ASSERT_EQ(cp->Schedule().value(), 1);
  EXPECT_EQ(cp->Get(b)->slices[0].gpu, 1);

  // Drain the whole node: the idle slice on GPU 0 goes at once, the running job stays.
  const std::uint64_t before = cp->Desired("n1")->generation;
  const NodeView drained = cp->SetNodeMode("n1", std::nullopt, NodeAction::kDrain).value();
  EXPECT_EQ(drained.gpus[0].mode, "draining");
  EXPECT_TRUE(drained.gpus[0].instances.empty());
  EXPECT_EQ(drained.gpus[1].instances.size(), 1u);
  EXPECT_GT(cp->Desired("n1")->generation, before);
  EXPECT_EQ(cp->Get(b)->phase, JobPhase::kRunning);
  const std::uint64_t c = cp->Submit(Job("1g.10gb")).value();
  EXPECT_EQ(cp->Schedule().value(), 0);
  EXPECT_EQ(cp->Get(c)->phase, JobPhase::kPending);

  // After a restart the node is still draining; uncordon lets the pending job in.
  cp.reset();
  cp = OpenCp();
  EXPECT_EQ(cp->NodeViewOf("n1")->gpus[1].mode, "draining");
  EXPECT_EQ(cp->Schedule().value(), 0);
  ASSERT_TRUE(cp->SetNodeMode("n1", std::nullopt, NodeAction::kUncordon));
  EXPECT_EQ(cp->Schedule().value(), 1);
  EXPECT_EQ(cp->NodeViewOf("n1")->gpus[0].mode, "dynamic");

  EXPECT_EQ(cp->SetNodeMode("n1", 2, NodeAction::kCordon).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(cp->SetNodeMode("n9", std::nullopt, NodeAction::kCordon).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(ParseNodeAction("evict").error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ControlPlaneTest, TeamsShowQuotaAndUsageInMilliGpu) {
  auto cp = OpenCp();
  ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 1}));
  ASSERT_TRUE(cp->Submit(Job("3g.40gb")));
  ASSERT_TRUE(cp->Submit(Job("7g.80gb")));
  ASSERT_EQ(cp->Schedule().value(), 1);
  const std::vector<TeamView> teams = cp->Teams();
  ASSERT_EQ(teams.size(), 1u);
  EXPECT_EQ(teams[0].name, "nlp");
  EXPECT_EQ(teams[0].running, 1);
  EXPECT_EQ(teams[0].pending, 1);
  ASSERT_EQ(teams[0].classes.size(), 1u);
  EXPECT_EQ(teams[0].classes[0].gpu_class, "A100-80GB");
  EXPECT_EQ(teams[0].classes[0].nominal, 2000);
  EXPECT_EQ(teams[0].classes[0].usage, 500);  // a 3g.40gb: max(3/7, 4/8) of an A100-80GB
  EXPECT_EQ(ToJson(teams[0])["classes"][0]["usage_mgpu"], teams[0].classes[0].usage);
}

TEST_F(ControlPlaneTest, TeamsChangeAtRuntimeDurablyAndTheStoredDefinitionWinsAfterARestart) {
  auto cp = OpenCp();
  ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 1}));
  api::JobSubmit job = Job("3g.40gb");
  job.team = "vision";
  EXPECT_EQ(cp->Submit(job).error().code, ErrorCode::kNotFound);  // no such team yet

  api::TeamRequest cohort;
  cohort.kind = "cohort";
  ASSERT_TRUE(cp->SetTeam("research", cohort));
  api::TeamRequest vision;
  vision.parent_given = true;
  vision.parent = "research";
  vision.quotas["a100-80gb"] = {1000, 0, std::nullopt};  // an alias of the catalog's A100-80GB
  const TeamView v = cp->SetTeam("vision", vision).value();
  EXPECT_EQ(v.parent, "research");
  ASSERT_EQ(v.classes.size(), 1u);
  EXPECT_EQ(v.classes[0].gpu_class, "A100-80GB");
  EXPECT_EQ(v.classes[0].nominal, 1000);
  const std::uint64_t id = cp->Submit(job).value();
  ASSERT_EQ(cp->Schedule().value(), 1);
  EXPECT_EQ(cp->Get(id)->phase, JobPhase::kRunning);

  // nlp (from the options) is cut to 0; the stored definition survives a restart.
  api::TeamRequest cut;
  cut.quotas["A100-80GB"] = {0, std::nullopt, std::nullopt};
  ASSERT_TRUE(cp->SetTeam("nlp", cut));
  cp.reset();
  cp = OpenCp();
  const std::vector<TeamView> teams = cp->Teams();
  ASSERT_EQ(teams.size(), 3u);
  EXPECT_EQ(teams[0].name, "nlp");
  EXPECT_EQ(teams[0].classes[0].nominal, 0);
  EXPECT_EQ(teams[2].name, "vision");
  EXPECT_EQ(teams[2].classes[0].usage, 500);  // its running job, restored
  EXPECT_EQ(cp->Get(id)->phase, JobPhase::kRunning);

  // Refusals change nothing.
  api::TeamRequest bad;
  bad.kind = "cohort";
  EXPECT_EQ(cp->SetTeam("vision", bad).error().code, ErrorCode::kInvalidArgument);
  bad = {};
  bad.quotas["Z9000"] = {1, std::nullopt, std::nullopt};
  EXPECT_EQ(cp->SetTeam("vision", bad).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(cp->SetTeam("../x", {}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(cp->Teams()[2].classes[0].nominal, 1000);
}

TEST_F(ControlPlaneTest, AnEmptyGpuSwitchesToWholeModeDurablyAndTakesWholeGpuJobs) {
  auto cp = OpenCp();
  ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 2}));
  const std::uint64_t sliced = cp->Submit(Job("3g.40gb")).value();
  ASSERT_EQ(cp->Schedule().value(), 1);
  ASSERT_EQ(cp->Get(sliced)->slices[0].gpu, 0);
  EXPECT_EQ(cp->SetGpuMode("n1", 0, "whole").error().code, ErrorCode::kFailedPrecondition);  // runs a job
  const NodeView v = cp->SetGpuMode("n1", 1, "whole").value();
  EXPECT_EQ(v.gpus[1].mode, "whole");
  EXPECT_EQ(v.gpus[1].base_mode, "whole");
  EXPECT_EQ(cp->SetGpuMode("n1", 1, "turbo").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(cp->SetGpuMode("n1", 7, "whole").error().code, ErrorCode::kNotFound);

  cp.reset();  // kept across a restart
  cp = OpenCp();
  EXPECT_EQ(cp->NodeViewOf("n1")->gpus[1].mode, "whole");
  const std::uint64_t whole = cp->Submit(Job("whole")).value();
  ASSERT_EQ(cp->Schedule().value(), 1);
  EXPECT_EQ(cp->Get(whole)->slices[0].gpu, 1);
  EXPECT_EQ(cp->NodeViewOf("n1")->gpus[1].whole_job, whole);
  // Its agent is told to run it on GPU 1 whole, beside the sliced job on GPU 0.
  const api::DesiredNodeState d = cp->Desired("n1").value();
  ASSERT_TRUE(api::ValidateDesiredNodeState(d)) << api::ValidateDesiredNodeState(d).error().message;
  ASSERT_EQ(d.workloads.size(), 2u);
  EXPECT_EQ(d.workloads[1].job_id, std::to_string(whole));
  EXPECT_EQ(d.workloads[1].gpu_indices, std::vector<int>{1});
  EXPECT_TRUE(d.workloads[1].instance_keys.empty());
  for (const api::DesiredInstance& i : d.instances) EXPECT_EQ(i.gpu_index, 0);
  EXPECT_EQ(cp->SetGpuMode("n1", 1, "dynamic").error().code, ErrorCode::kFailedPrecondition);
}

constexpr std::string_view kMigParted = R"(version: v1
mig-configs:
  mixed:
    - devices: [0]
      mig-enabled: true
      mig-devices:
        "3g.40gb": 2
    - devices: [1]
      mig-enabled: false
  all-1g.10gb:
    - devices: all
      mig-enabled: true
      mig-devices:
        "1g.10gb": 7
  split:
    - devices: all
      mig-enabled: true
      mig-devices:
        "1c.3g.40gb": 2
)";

TEST_F(ControlPlaneTest, MigPartedLayoutsArePlannedAppliedKeptAndAsserted) {
  auto cp = OpenCp();
  ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 2}));
  const auto plan = cp->PlanLayout("n1", kMigParted, "mixed").value();
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].change, "static");
  EXPECT_EQ(plan[0].layout, (std::vector<std::string>{"3g.40gb@0", "3g.40gb@4"}));
  EXPECT_EQ(plan[1].change, "whole");
  EXPECT_EQ(cp->NodeViewOf("n1")->gpus[0].mode, "dynamic");  // a plan changes nothing

  ASSERT_TRUE(cp->ApplyLayout("n1", kMigParted, "mixed"));
  NodeView v = cp->NodeViewOf("n1").value();
  EXPECT_EQ(v.gpus[0].base_mode, "static");
  EXPECT_EQ(v.gpus[0].instances.size(), 2u);
  EXPECT_EQ(v.gpus[1].base_mode, "whole");
  EXPECT_EQ(cp->Desired("n1")->instances.size(), 2u);  // the agent creates them

  // Jobs bind to the layout's instances only.
  const std::uint64_t fits = cp->Submit(Job("3g.40gb")).value();
  const std::uint64_t other = cp->Submit(Job("1g.10gb")).value();
  ASSERT_EQ(cp->Schedule().value(), 1);
  EXPECT_EQ(cp->Get(fits)->slices[0].gpu, 0);
  EXPECT_EQ(cp->Get(other)->phase, JobPhase::kPending);
  EXPECT_EQ(cp->ApplyLayout("n1", kMigParted, "all-1g.10gb").error().code, ErrorCode::kFailedPrecondition);

  cp.reset();  // kept across a restart, with the running job where it was
  cp = OpenCp();
  v = cp->NodeViewOf("n1").value();
  EXPECT_EQ(v.gpus[0].base_mode, "static");
  ASSERT_EQ(v.gpus[0].instances.size(), 2u);
  EXPECT_EQ(cp->Get(fits)->phase, JobPhase::kRunning);

  // Assert against what the agent reports.
  EXPECT_EQ(cp->AssertLayout("n1", kMigParted, "mixed").value()[0].actual,
            "no report from the node's agent yet");
  api::ActualNodeState report;
  report.node = "n1";
  for (int start : {0, 4}) report.instances.push_back({0, "3g.40gb", start, "k", "MIG-x", false});
  ASSERT_TRUE(cp->Report(report));
  EXPECT_EQ(cp->AssertLayout("n1", kMigParted, "mixed").value()[0].actual, "ok");
  EXPECT_EQ(cp->AssertLayout("n1", kMigParted, "all-1g.10gb").value()[0].actual, "has 3g.40gb@0, 3g.40gb@4");

  // Export: a mig-parted config per node that mig-parted (and our parser) reads back.
  const std::string exported = cp->ExportLayouts();
  const Result<mig::MigPartedConfig> back = mig::ParseMigPartedConfig(exported);
  ASSERT_TRUE(back) << back.error().message << "\n" << exported;
  EXPECT_TRUE(back->configs.contains("n1"));
  EXPECT_THAT(exported, HasSubstr("\"3g.40gb\": 2"));
  ASSERT_TRUE(cp->RegisterNode({"n2", "A100-80GB", 1}));  // MIG on, no instances yet
  ASSERT_TRUE(mig::ParseMigPartedConfig(cp->ExportLayouts())) << cp->ExportLayouts();
  EXPECT_THAT(cp->ExportLayouts(), HasSubstr("mig-devices: {}"));

  EXPECT_EQ(cp->PlanLayout("n1", kMigParted, "nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(cp->PlanLayout("n1", kMigParted, "split").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(cp->PlanLayout("n1", "version: v2", "mixed").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(cp->PlanLayout("n9", kMigParted, "mixed").error().code, ErrorCode::kNotFound);
}

// Turning MIG off through a layout switches a GPU the way `gpu set-mode` does: its warm idle
// slices go first, and a cordon stays.
TEST_F(ControlPlaneTest, ALayoutTurnsMigOffOnAGpuWithWarmSlicesAndKeepsItsCordon) {
  auto cp = OpenCp();
  ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 2}));
  const std::uint64_t a = cp->Submit(Job("3g.40gb")).value();
  ASSERT_EQ(cp->Schedule().value(), 1);
  ASSERT_TRUE(cp->SetNodeMode("n1", 0, NodeAction::kCordon));
  const std::uint64_t b = cp->Submit(Job("3g.40gb")).value();
  ASSERT_EQ(cp->Schedule().value(), 1);
  ASSERT_EQ(cp->Get(b)->slices[0].gpu, 1);
  ASSERT_TRUE(cp->Report(Exited("n1", a, 0)));
  ASSERT_TRUE(cp->Report(Exited("n1", b, 0)));  // GPU 1 keeps b's slice, warm and idle
  ASSERT_EQ(cp->NodeViewOf("n1")->gpus[1].instances.size(), 1u);
  ASSERT_TRUE(cp->SetNodeMode("n1", 1, NodeAction::kCordon));

  const Result<std::vector<ControlPlane::GpuLayoutPlan>> applied = cp->ApplyLayout("n1", kMigParted, "mixed");
  ASSERT_TRUE(applied) << applied.error().message;
  const NodeView v = cp->NodeViewOf("n1").value();
  EXPECT_EQ(v.gpus[0].base_mode, "static");
  EXPECT_EQ(v.gpus[0].mode, "cordoned");
  EXPECT_EQ(v.gpus[1].base_mode, "whole");
  EXPECT_EQ(v.gpus[1].mode, "cordoned");
  EXPECT_TRUE(v.gpus[1].instances.empty());
}

TEST(ControlPlaneSqliteTest, SurvivesAReopenOfTheDatabase) {
  const std::string dir = ::testing::TempDir() + "/cp-sqlite-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  FakeClock clock;
  std::uint64_t id = 0;
  {
    auto store = store::SqliteStore::Open({.data_dir = dir}).value();
    auto cp = ControlPlane::Open(*store, clock, Options()).value();
    ASSERT_TRUE(cp->RegisterNode({"n1", "A100-80GB", 1}));
    id = cp->Submit(Job("2g.20gb")).value();
    ASSERT_EQ(cp->Schedule().value(), 1);
    store->Close();
  }
  auto store = store::SqliteStore::Open({.data_dir = dir}).value();
  auto cp = ControlPlane::Open(*store, clock, Options()).value();
  EXPECT_EQ(cp->Get(id)->phase, JobPhase::kRunning);
  EXPECT_EQ(cp->Desired("n1")->workloads.size(), 1u);
  store->Close();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gpuslice::server
