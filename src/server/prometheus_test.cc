// The Prometheus text format as scrapers parse it: families, escaped labels, cumulative buckets.
#include "server/prometheus.h"

#include <gtest/gtest.h>

namespace gpuslice::server {
namespace {

TEST(Prometheus, FamiliesSamplesAndEscapedLabels) {
  MetricsText m;
  m.Family("gpuslice_jobs", "gauge", "Jobs by phase.");
  m.Sample("gpuslice_jobs", {{"phase", "pending"}}, 3);
  m.Sample("gpuslice_x", {{"a", "q\"b\\c\nd"}, {"b", "1"}}, 0.25);
  m.Sample("gpuslice_y", {}, 7);
  EXPECT_EQ(m.text(),
            "# HELP gpuslice_jobs Jobs by phase.\n# TYPE gpuslice_jobs gauge\n"
            "gpuslice_jobs{phase=\"pending\"} 3\n"
            "gpuslice_x{a=\"q\\\"b\\\\c\\nd\",b=\"1\"} 0.25\n"
            "gpuslice_y 7\n");
}

TEST(Prometheus, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Histogram h({0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 5.0, 50.0}) h.Observe(v);
  MetricsText m;
  h.Render(m, "w", {{"team", "nlp"}});
  EXPECT_EQ(m.text(),
            "w_bucket{team=\"nlp\",le=\"0.1\"} 2\n"
            "w_bucket{team=\"nlp\",le=\"1\"} 3\n"
            "w_bucket{team=\"nlp\",le=\"10\"} 4\n"
            "w_bucket{team=\"nlp\",le=\"+Inf\"} 5\n"
            "w_sum{team=\"nlp\"} 55.65\n"
            "w_count{team=\"nlp\"} 5\n");
}

}  // namespace
}  // namespace gpuslice::server
