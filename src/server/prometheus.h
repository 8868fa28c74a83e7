// Prometheus text exposition (format 0.0.4) for /metrics: families of gauges and histograms.
//
// Thread-safety: Histogram's Observe and Render may be called from any thread (one mutex);
// MetricsText is a plain value built by one thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace gpuslice::server {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Builds the text: each family's HELP and TYPE once, then its samples.
class MetricsText {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, const Labels& labels, double value);
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

// A cumulative histogram with fixed upper bounds (seconds, say); +Inf is implicit.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds)
      : bounds_(std::move(upper_bounds)), counts_(bounds_.size()) {}
  void Observe(double value);
  // Adds `name`_bucket{le=…}, `name`_sum and `name`_count samples (the family must be declared).
  void Render(MetricsText& out, std::string_view name, const Labels& labels = {}) const;

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative; guarded by mu_
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

// Label values escaped as the format wants (backslash, double quote, newline).
std::string EscapeLabelValue(std::string_view value);

}  // namespace gpuslice::server
