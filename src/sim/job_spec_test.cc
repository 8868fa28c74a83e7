#include "sim/job_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpuslice::sim {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kCsv =
    "name,team,priority,preemptible,kind,submit_s,duration_s,profile,memory,compute,count,same_node,gpu_"
    "model\n"
    "nb-1,nlp,0,false,notebook,0,14400,,10GiB,1,1,false,\n"
    "train-7,vision,10,true,batch,30.5,600,3g.40gb,,,2,true,A100-80GB\r\n"
    "svc-2,nlp,5,false,service,60,,,20GiB,2,1,false,\n";

TEST(JobSpecCsvTest, ParsesTheDocumentedExample) {
  const Result<std::vector<JobSpec>> jobs = ParseJobsCsv(kCsv);
  ASSERT_TRUE(jobs) << jobs.error().message;
  ASSERT_EQ(jobs->size(), 3u);
  const JobSpec& nb = (*jobs)[0];
  EXPECT_EQ(nb.kind, JobKind::kNotebook);
  EXPECT_EQ(nb.memory, MiB(10240));
  EXPECT_EQ(nb.duration_ms, 14400 * 1000);
  const JobSpec& train = (*jobs)[1];
  EXPECT_EQ(train.submit_ms, 30500);
  EXPECT_EQ(train.profile, "3g.40gb");
  EXPECT_EQ(train.count, 2);
  EXPECT_TRUE(train.same_node);
  EXPECT_TRUE(train.preemptible);
  EXPECT_EQ(train.gpu_model, "A100-80GB");
  EXPECT_FALSE((*jobs)[2].duration_ms.has_value());  // a service runs to the end
}

TEST(JobSpecCsvTest, MinimalColumnsInAnyOrder) {
  const Result<std::vector<JobSpec>> jobs =
      ParseJobsCsv("submit_s,kind,team,name,profile\n5,batch,t,j1,whole\n");
  ASSERT_TRUE(jobs) << jobs.error().message;
  EXPECT_EQ((*jobs)[0].profile, kWholeGpu);
  EXPECT_EQ((*jobs)[0].submit_ms, 5000);
}

TEST(JobSpecCsvTest, ErrorsNameLineAndField) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::string h = "name,team,kind,submit_s,profile,memory,count\n";
  const std::vector<Case> cases = {
      {"", "no header line"},
      {"name,team,kind,colour\n", "unknown column 'colour'"},
      {"name,team,kind\n", "lacks the required column 'submit_s'"},
      {h + "a,t,batch,1,whole\n", "line 2: 5 fields, the header has 7"},
      {h + "a,t,cron,1,whole,,1\n", "line 2: kind: 'cron' is not a job kind"},
      {h + "a,t,batch,-1,whole,,1\n", "line 2: submit_s"},
      {h + "a,t,batch,1.2345,whole,,1\n", "line 2: submit_s"},
      {h + "a,t,batch,1,whole,10GiB,1\n", "gives both a profile and a size"},
      {h + "a,t,batch,1,,,1\n", "requests nothing"},
      {h + "a,t,batch,1,whole,,0\n", "count 0 must be 1 to 64"},
      {h + "a,t,batch,1,,10 parsecs,1\n", "memory"},
      {h + "a b,t,batch,1,whole,,1\n", "odd characters"},
  };
  for (const Case& c : cases) {
    const Result<std::vector<JobSpec>> r = ParseJobsCsv(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_THAT(r.error().message, HasSubstr(c.message)) << c.text;
  }
}

TEST(JobSpecJsonlTest, RoundTripsThroughBothFormats) {
  const std::vector<JobSpec> jobs = ParseJobsCsv(kCsv).value();
  const Result<std::vector<JobSpec>> from_jsonl = ParseJobsJsonl(FormatJobsJsonl(jobs));
  ASSERT_TRUE(from_jsonl) << from_jsonl.error().message;
  EXPECT_EQ(*from_jsonl, jobs);
  const Result<std::vector<JobSpec>> from_csv = ParseJobsCsv(FormatJobsCsv(jobs));
  ASSERT_TRUE(from_csv) << from_csv.error().message;
  EXPECT_EQ(*from_csv, jobs);
}

TEST(JobSpecJsonlTest, Errors) {
  EXPECT_THAT(ParseJobsJsonl("{\"name\":\"a\"").error().message, HasSubstr("line 1: not a JSON object"));
  EXPECT_THAT(ParseJobsJsonl("\n[1]\n").error().message, HasSubstr("line 2: not a JSON object"));
  EXPECT_THAT(ParseJobsJsonl(R"({"name":"a","team":"t","kind":"batch","submit_s":1,"profile":"whole","x":1})")
                  .error()
                  .message,
              HasSubstr("unknown field 'x'"));
  EXPECT_THAT(ParseJobsJsonl(R"({"name":"a","team":"t","kind":"batch","profile":"whole"})").error().message,
              HasSubstr("'kind' and 'submit_s' are required"));
  EXPECT_THAT(ParseJobsJsonl(R"({"name":"a","team":"t","kind":"batch","submit_s":[1],"profile":"whole"})")
                  .error()
                  .message,
              HasSubstr("wrong type"));
  EXPECT_TRUE(ParseJobsJsonl(R"({"name":"a","team":"t","kind":"batch","submit_s":1.5,"profile":"whole"})"));
}

}  // namespace
}  // namespace gpuslice::sim
