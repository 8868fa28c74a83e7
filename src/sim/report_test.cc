#include "sim/report.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <regex>
#include <sstream>

#include "sim/report_svg.h"

namespace gpuslice::sim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::size_t Count(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

// Checks that tags nest properly (a stack of open elements; HTML's void elements and <!DOCTYPE>
// aside) and returns the first problem, or "" when there is none. Text is escaped, so every '<'
// in the page starts a tag.
std::string NestingProblem(const std::string& html) {
  static const std::regex kTag(R"(<(/?)([A-Za-z][A-Za-z0-9]*)[^<>]*?(/?)>|<!DOCTYPE html>|<)");
  std::vector<std::string> open;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), kTag); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    if (m.str(0) == "<") return "stray '<' at " + std::to_string(m.position(0));
    if (m.str(2).empty() || m.str(3) == "/" || m.str(2) == "meta") continue;
    if (m.str(1).empty()) {
      open.push_back(m.str(2));
    } else if (open.empty() || open.back() != m.str(2)) {
      return "</" + m.str(2) + "> closes <" + (open.empty() ? "nothing" : open.back()) + ">";
    } else {
      open.pop_back();
    }
  }
  return open.empty() ? "" : "<" + open.back() + "> never closed";
}

TEST(NestingProblemTest, CatchesBrokenMarkup) {  // the checker the HTML tests rely on
  EXPECT_EQ(NestingProblem("<svg><g><line/></g></svg>"), "");
  EXPECT_NE(NestingProblem("<svg><g></svg>"), "");
  EXPECT_NE(NestingProblem("<svg>"), "");
  EXPECT_NE(NestingProblem("<p>a < b</p>"), "");
}

PolicyResult MakePolicy(std::string name, double alloc) {
  PolicyResult p;
  p.policy = std::move(name);
  p.allocation_ratio = alloc;
  p.jobs_submitted = 1200;
  p.jobs_placed = 1100;
  p.wait_s = {12, 340, 5400};
  p.instances_created = 77;
  p.instances_destroyed = 70;
  p.upper_bound = 0.93;
  for (int h = 0; h <= 48; ++h) p.allocation.push_back({double(h), alloc * (0.8 + 0.2 * std::sin(h / 5.0))});
  for (int i = 0; i < 500; ++i) p.waits_s.push_back(i % 10 == 0 ? 0 : std::pow(1.02, i));
  for (const char* team : {"nlp", "vision", "speech"}) {
    for (int h = 0; h <= 48; ++h) p.team_usage_mgpu[team].push_back({double(h), 1000.0 * (h % 7) + team[0]});
  }
  return p;
}

SimReport MakeReport() {
  SimReport r;
  r.mode = "replay";
  r.x_label = "hours";
  r.cluster = "examples/clusters/a100x16.yaml";
  r.workload = "mix:jobs=1200,hours=48";
  r.seed = 42;
  r.wall_seconds = 3.25;
  r.policies = {MakePolicy("whole-gpu", 0.52), MakePolicy("first-fit", 0.71), MakePolicy("gpuslice", 0.873)};
  return r;
}

// ---- Percentiles ------------------------------------------------------------------------------

TEST(PercentilesTest, NearestRankOnKnownInputs) {
  // Rank ceil(p/100 · n): for n=4, p50 is rank 2, p90 and p99 rank 4.
  WaitPercentiles w = Percentiles({4, 1, 3, 2});
  EXPECT_EQ(w.p50, 2);
  EXPECT_EQ(w.p90, 4);
  EXPECT_EQ(w.p99, 4);
  std::vector<double> hundred(100);
  std::iota(hundred.begin(), hundred.end(), 1.0);
  std::shuffle(hundred.begin(), hundred.end(), std::mt19937(7));
  w = Percentiles(hundred);
  EXPECT_EQ(w.p50, 50);
  EXPECT_EQ(w.p90, 90);
  EXPECT_EQ(w.p99, 99);
  w = Percentiles({10, 20, 30, 40, 50, 60, 70, 80, 90, 100});  // p99: rank ceil(9.9) = 10
  EXPECT_EQ(w.p50, 50);
  EXPECT_EQ(w.p90, 90);
  EXPECT_EQ(w.p99, 100);
}

TEST(PercentilesTest, EmptySingleAndNonFinite) {
  const WaitPercentiles empty = Percentiles({});
  EXPECT_EQ(empty.p50, 0);
  EXPECT_EQ(empty.p99, 0);
  EXPECT_EQ(Percentiles({7}).p50, 7);
  EXPECT_EQ(Percentiles({7}).p99, 7);
  const WaitPercentiles w = Percentiles({kNaN, 3, kInf, 1, -kInf});
  EXPECT_EQ(w.p50, 1);
  EXPECT_EQ(w.p90, 3);
  EXPECT_EQ(Percentiles({kNaN, kInf}).p90, 0);
}

// ---- JSON -------------------------------------------------------------------------------------

TEST(ReportToJsonTest, HasEveryRequiredFieldAndOmitsSeries) {
  const nlohmann::json j = ReportToJson(MakeReport());
  EXPECT_EQ(j.at("mode"), "replay");
  EXPECT_EQ(j.at("cluster"), "examples/clusters/a100x16.yaml");
  EXPECT_EQ(j.at("workload"), "mix:jobs=1200,hours=48");
  EXPECT_EQ(j.at("seed"), 42u);
  EXPECT_DOUBLE_EQ(j.at("wall_seconds").get<double>(), 3.25);
  ASSERT_EQ(j.at("policies").size(), 3u);
  const nlohmann::json& p = j.at("policies")[2];
  EXPECT_EQ(p.at("policy"), "gpuslice");
  EXPECT_DOUBLE_EQ(p.at("allocation_ratio").get<double>(), 0.873);
  EXPECT_EQ(p.at("jobs_submitted"), 1200);
  EXPECT_EQ(p.at("jobs_placed"), 1100);
  EXPECT_EQ(p.at("wait_s").at("p50"), 12.0);
  EXPECT_EQ(p.at("wait_s").at("p90"), 340.0);
  EXPECT_EQ(p.at("wait_s").at("p99"), 5400.0);
  EXPECT_EQ(p.at("instances_created"), 77);
  EXPECT_EQ(p.at("instances_destroyed"), 70);
  EXPECT_DOUBLE_EQ(p.at("upper_bound").get<double>(), 0.93);
  EXPECT_FALSE(p.contains("allocation"));
  EXPECT_FALSE(p.contains("waits_s"));
  EXPECT_FALSE(p.contains("team_usage_mgpu"));
}

TEST(ReportToJsonTest, IncludesFiniteSeriesWhenAsked) {
  SimReport r = MakeReport();
  r.policies.resize(1);
  r.policies[0].allocation = {{0, 0.5}, {1, kNaN}, {kInf, 0.2}, {2, 0.75}};
  r.policies[0].waits_s = {3, kNaN, 0};
  r.policies[0].team_usage_mgpu = {{"nlp", {{0, 1500}, {1, kInf}}}};
  const nlohmann::json p = ReportToJson(r, JsonSeries::kInclude).at("policies")[0];
  EXPECT_EQ(p.at("allocation"), nlohmann::json::parse("[[0.0,0.5],[2.0,0.75]]"));
  EXPECT_EQ(p.at("waits_s"), nlohmann::json::parse("[3.0,0.0]"));
  EXPECT_EQ(p.at("team_usage_mgpu"), nlohmann::json::parse(R"({"nlp":[[0.0,1500.0]]})"));
}

// ---- HTML -------------------------------------------------------------------------------------

TEST(RenderHtmlTest, OneSvgPerChartAndOneRowPerPolicy) {
  const std::string html = RenderHtml(MakeReport());
  // Allocation, wait CDF, and one per-team chart per policy.
  EXPECT_EQ(Count(html, "<svg"), 2u + 3u);
  EXPECT_EQ(Count(html, "</svg>"), 2u + 3u);
  EXPECT_EQ(NestingProblem(html), "");
  EXPECT_EQ(Count(html, "<td class=\"policy\">"), 3u);
  EXPECT_THAT(html, HasSubstr("87.3 %"));              // gpuslice's allocation
  EXPECT_THAT(html, HasSubstr("93.0 %"));              // upper bound
  EXPECT_THAT(html, HasSubstr("1,100 / 1,200"));       // placed / submitted
  EXPECT_THAT(html, HasSubstr("1.5 h"));               // p99 wait of 5400 s
  EXPECT_THAT(html, HasSubstr("upper bound 93.0 %"));  // the dashed line's legend
  EXPECT_THAT(html, HasSubstr("mix:jobs=1200,hours=48"));
  EXPECT_THAT(html, HasSubstr("<dd>42</dd>"));
  EXPECT_THAT(html, HasSubstr("wait (log scale)"));  // waits 0 … 19,000 s span > 2 decades
  EXPECT_THAT(html, HasSubstr(">vision<"));
}

TEST(RenderHtmlTest, SelfContained) {
  SimReport r = MakeReport();
  r.policies.push_back(MakePolicy("static:examples/mig-parted/config.yaml:all-balanced", 0.6));
  const std::string html = RenderHtml(r);
  for (const char* banned :
       {"http", "<script", "src=", "href", "url(", "@import", "<link", "<img", "<iframe"}) {
    EXPECT_THAT(html, Not(HasSubstr(banned))) << banned;
  }
  EXPECT_THAT(html, Not(HasSubstr("onload")));
  EXPECT_THAT(html, HasSubstr("<style>"));
}

TEST(RenderHtmlTest, EscapesUserStrings) {
  SimReport r = MakeReport();
  r.policies[0].policy = R"(static:<evil>&"x".yaml:all)";
  r.policies[0].team_usage_mgpu["<b>team's</b>"] = {{0, 1000}, {48, 2000}};
  r.cluster = "</dd><script>alert(1)</script>";
  r.x_label = "hours <i>";
  const std::string html = RenderHtml(r);
  EXPECT_THAT(html, HasSubstr("static:&lt;evil&gt;&amp;&quot;x&quot;.yaml:all"));
  EXPECT_THAT(html, HasSubstr("&lt;b&gt;team&#39;s&lt;/b&gt;"));
  EXPECT_THAT(html, HasSubstr("&lt;/dd&gt;&lt;script&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("<evil>")));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<i>")));
  EXPECT_EQ(NestingProblem(html), "");
}

TEST(RenderHtmlTest, EmptyReportRendersNoData) {
  const std::string html = RenderHtml(SimReport{});
  EXPECT_EQ(Count(html, "<svg"), 2u);
  EXPECT_EQ(Count(html, "</svg>"), 2u);
  EXPECT_EQ(Count(html, ">no data<"), 2u);
  EXPECT_THAT(html, HasSubstr("No policies were simulated."));
  EXPECT_EQ(NestingProblem(html), "");
}

TEST(RenderHtmlTest, SurvivesEmptyNonFiniteSinglePointAndZeroWaits) {
  SimReport r = MakeReport();
  r.wall_seconds = kNaN;
  PolicyResult& empty = r.policies[0];
  empty.allocation.clear();
  empty.waits_s.clear();
  empty.team_usage_mgpu.clear();
  empty.allocation_ratio = kNaN;
  PolicyResult& odd = r.policies[1];
  odd.allocation = {{kNaN, 0.5}, {3, kInf}, {5, 0.4}};  // one finite point
  odd.waits_s = {0, 0, 0, kNaN};                        // all zero
  odd.upper_bound = kInf;
  odd.team_usage_mgpu = {{"nlp", {{1, kNaN}}}, {"vision", {{2, 500}}}};
  r.policies[2].waits_s = {0, 0};
  const std::string html = RenderHtml(r);
  EXPECT_EQ(Count(html, "<svg"), 5u);
  EXPECT_EQ(Count(html, "</svg>"), 5u);
  EXPECT_EQ(NestingProblem(html), "");
  EXPECT_THAT(html, HasSubstr("<circle"));  // the single allocation point
  EXPECT_FALSE(std::regex_search(html, std::regex(R"(\b-?(nan|inf)\b)", std::regex::icase)));
  EXPECT_THAT(html, Not(HasSubstr("log scale")));  // all waits zero: linear axis
}

TEST(RenderHtmlTest, ManyPoliciesAndTeamsStayDistinguishable) {
  SimReport r = MakeReport();
  for (int i = 0; i < 9; ++i) r.policies.push_back(MakePolicy(fmt::format("p{}", i), 0.1 * i));
  for (int t = 0; t < 12; ++t) r.policies[0].team_usage_mgpu[fmt::format("team{}", t)] = {{0, 100.0 * t}};
  const std::string html = RenderHtml(r);
  EXPECT_EQ(Count(html, "<svg"), 2u + 12u);
  EXPECT_THAT(html, HasSubstr("stroke-dasharray=\"8 4\""));  // the 8th policy onwards is dashed
  EXPECT_THAT(html, HasSubstr("other teams (8)"));           // 15 teams, 7 in colour
  EXPECT_EQ(NestingProblem(html), "");
}

// ---- Chart building blocks -------------------------------------------------------------------

TEST(DownsampleTest, KeepsEndsAndExtremesWithinTheLimit) {
  std::vector<SeriesPoint> points;
  points.reserve(100000);
  for (int i = 0; i < 100000; ++i) points.push_back({double(i), std::sin(i / 300.0)});
  points[31337].y = 5;   // a spike
  points[77777].y = -5;  // a dip
  points[500].y = kNaN;  // skipped
  const std::vector<SeriesPoint> d = Downsample(points);
  EXPECT_LE(d.size(), kMaxPointsPerLine);
  EXPECT_GE(d.size(), kMaxPointsPerLine - 2);
  EXPECT_EQ(d.front().x, 0);
  EXPECT_EQ(d.back().x, 99999);
  EXPECT_TRUE(std::is_sorted(d.begin(), d.end(), [](auto& a, auto& b) { return a.x < b.x; }));
  EXPECT_TRUE(std::any_of(d.begin(), d.end(), [](auto& p) { return p.y == 5; }));
  EXPECT_TRUE(std::any_of(d.begin(), d.end(), [](auto& p) { return p.y == -5; }));
  EXPECT_TRUE(std::all_of(d.begin(), d.end(), [](auto& p) { return std::isfinite(p.y); }));
}

TEST(DownsampleTest, ShortSeriesUnchangedButFinite) {
  EXPECT_TRUE(Downsample({}).empty());
  const std::vector<SeriesPoint> d = Downsample({{0, 1}, {1, kNaN}, {2, 3}});
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[1].y, 3);
  EXPECT_EQ(Downsample({{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}}, 2).size(), 2u);
}

TEST(RenderLineChartTest, DrawsAtMostTheLimitPerLine) {
  LineChart chart;
  chart.x.label = "hours";
  chart.y.label = "ratio";
  ChartLine line;
  for (int i = 0; i < 100000; ++i) line.points.push_back({i / 3600.0, (i % 977) / 977.0});
  chart.lines.push_back(line);
  const std::string svg = RenderLineChart(chart);
  const std::smatch m = [&] {
    std::smatch match;
    std::regex_search(svg, match, std::regex(R"(points="([^"]*)\")"));
    return match;
  }();
  ASSERT_FALSE(m.empty());
  const std::string points = m.str(1);
  EXPECT_LE(Count(points, ","), kMaxPointsPerLine);
  EXPECT_GE(Count(points, ","), 100u);
}

TEST(FormatTest, NumbersForPeople) {
  EXPECT_EQ(FormatPercent(0.873), "87.3 %");
  EXPECT_EQ(FormatPercent(1), "100.0 %");
  EXPECT_EQ(FormatPercent(kNaN), "\xE2\x80\x93");
  EXPECT_EQ(FormatDuration(0), "0 s");
  EXPECT_EQ(FormatDuration(0.25), "250 ms");
  EXPECT_EQ(FormatDuration(42), "42 s");
  EXPECT_EQ(FormatDuration(90), "1.5 min");
  EXPECT_EQ(FormatDuration(600), "10 min");
  EXPECT_EQ(FormatDuration(4320), "1.2 h");
  EXPECT_EQ(FormatDuration(200000), "2.3 d");
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1234567), "1,234,567");
  EXPECT_EQ(FormatCount(-1000), "-1,000");
}

TEST(EscapeXmlTest, EntitiesInvalidUtf8AndControlCharacters) {
  EXPECT_EQ(EscapeXml(R"(<a href="x">'&'</a>)"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(EscapeXml("µs ok"), "µs ok");
  EXPECT_EQ(EscapeXml("a\xFF"
                      "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(EscapeXml("a\x01"
                      "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(EscapeXml("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // truncated sequence
  EXPECT_EQ(Ellipsize("short", 10), "short");
  EXPECT_EQ(Ellipsize("abcdefgh", 8), "abcdefgh");
  EXPECT_EQ(Ellipsize("abcdefgh", 5), "ab\xE2\x80\xA6gh");
  EXPECT_EQ(Ellipsize("abcdefgh", 4), "ab\xE2\x80\xA6h");
  EXPECT_EQ(Ellipsize("µµµµµµ", 3), "µ\xE2\x80\xA6µ");
}

// ---- Writing ----------------------------------------------------------------------------------

class WriteReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           fmt::format("gpuslice-report-test-{}-{}", ::getpid(), std::random_device{}());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_F(WriteReportTest, WritesJsonWithSeriesAndHtml) {
  const std::filesystem::path out = dir_ / "nested" / "out";
  const Result<void> r = WriteReport(MakeReport(), out.string());
  ASSERT_TRUE(r) << r.error().message;
  const nlohmann::json j = nlohmann::json::parse(ReadAll(out / "report.json"));
  EXPECT_EQ(j.at("policies").size(), 3u);
  EXPECT_EQ(j.at("policies")[0].at("waits_s").size(), 500u);
  EXPECT_TRUE(j.at("policies")[0].contains("team_usage_mgpu"));
  const std::string html = ReadAll(out / "report.html");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html, RenderHtml(MakeReport()));
  // Writing again overwrites.
  EXPECT_TRUE(WriteReport(MakeReport(), out.string()));
}

TEST_F(WriteReportTest, NonUtf8NamesDoNotThrow) {
  SimReport report = MakeReport();
  report.workload = "trace-\xFF.csv";
  const Result<void> r = WriteReport(report, dir_.string());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_THAT(ReadAll(dir_ / "report.json"), HasSubstr("trace-\xEF\xBF\xBD.csv"));
}

TEST_F(WriteReportTest, UnwritablePathIsAnErrorNamingIt) {
  std::filesystem::create_directories(dir_);
  const std::filesystem::path file = dir_ / "plain-file";
  std::ofstream(file) << "x";
  const std::string target = (file / "report").string();
  const Result<void> r = WriteReport(MakeReport(), target);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr(target));
  // A directory path that is a regular file.
  const Result<void> r2 = WriteReport(MakeReport(), file.string());
  ASSERT_FALSE(r2);
  EXPECT_THAT(r2.error().message, HasSubstr(file.string()));
}

}  // namespace
}  // namespace gpuslice::sim
