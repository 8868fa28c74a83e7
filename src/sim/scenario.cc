// Scenario runner: parses the line format of scenario.h and drives a Scheduler built exactly as
// the simulator builds the gpuslice policy.
#include "sim/scenario.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "common/read_file.h"
#include "common/units.h"
#include "sim/cluster_spec.h"
#include "sim/simulator.h"

namespace gpuslice::sim {
namespace {

constexpr std::size_t kMaxScenarioBytes = 1 << 20;

std::vector<std::string> Words(std::string_view line) {
  std::vector<std::string> out;
  std::istringstream in{std::string(line)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string DirOf(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

Result<std::int64_t> Number(std::string_view text, std::string_view what) {
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < 0 || v > 1'000'000'000'000) {
    return Fail(ErrorCode::kInvalidArgument, "{} '{}' is not a number from 0 to 10^12", what, text);
  }
  return v;
}

Result<bool> OnOff(std::string_view text) {
  if (text == "on") return true;
  if (text == "off") return false;
  return Fail(ErrorCode::kInvalidArgument, "'{}' is neither on nor off", text);
}

// One scenario being run.
class Runner {
 public:
  explicit Runner(std::string path) : path_(std::move(path)) {}

  Result<ScenarioResult> Run(std::string_view text) {
    std::vector<std::string> lines;
    for (std::size_t at = 0; at <= text.size();) {
      const std::size_t nl = std::min(text.find('\n', at), text.size());
      lines.emplace_back(text.substr(at, nl - at));
      at = nl + 1;
    }
    for (std::size_t i = 0; i < lines.size(); ++i) {
      line_ = static_cast<int>(i) + 1;
      std::string l = lines[i].substr(0, lines[i].find('#'));
      std::vector<std::string> w = Words(l);
      if (w.empty()) continue;
      Result<void> r = {};
      if (w[0] == "expect" && w.size() == 2 && w[1] == "decisions") {
        std::vector<std::string> want;  // the indented lines that follow
        while (i + 1 < lines.size() && !lines[i + 1].empty() &&
               (lines[i + 1][0] == ' ' || lines[i + 1][0] == '\t')) {
          ++i;
          const std::string d = lines[i].substr(0, lines[i].find('#'));
          const std::vector<std::string> dw = Words(d);
          std::string joined;
          for (const std::string& x : dw) joined += (joined.empty() ? "" : " ") + x;
          if (!joined.empty()) want.push_back(joined);
        }
        r = ExpectDecisions(want);
      } else {
        r = Step(w);
      }
      if (!r) return Fail(Error{r.error().code, fmt::format("{}:{}: {}", path_, line_, r.error().message)});
    }
    if (!s_) return Fail(ErrorCode::kInvalidArgument, "{}: no `cluster` line", path_);
    return result_;
  }

 private:
  Result<void> Step(const std::vector<std::string>& w) {
    const std::string& verb = w[0];
    if (verb == "cluster") return LoadCluster(w);
    if (verb == "option") return SetOption(w);
    if (!s_) return Fail(ErrorCode::kInvalidArgument, "`{}` before the `cluster` line", verb);
    if (verb == "at") return SetTime(w);
    if (verb == "submit") return Submit(w);
    if (verb == "finish" || verb == "cancel") {
      if (w.size() != 2) return Fail(ErrorCode::kInvalidArgument, "usage: {} JOB", verb);
      Result<JobId> id = JobNamed(w[1]);
      if (!id) return Fail(id.error());
      return verb == "finish" ? s_->Finish(*id, now_ms_) : s_->Cancel(*id, now_ms_);
    }
    if (verb == "cordon" || verb == "drain" || verb == "uncordon" || verb == "whole" || verb == "dynamic") {
      return ChangeGpu(w);
    }
    if (verb == "remove") {
      if (w.size() != 2) return Fail(ErrorCode::kInvalidArgument, "usage: remove NODE");
      Result<NodeId> n = NodeNamed(w[1]);
      if (!n) return Fail(n.error());
      Result<std::vector<JobId>> r = s_->RemoveNode(*n, now_ms_);
      if (!r) return Fail(r.error());
      return {};
    }
    if (verb == "schedule") {
      last_.clear();
      for (const sched::Decision& d : s_->Schedule(now_ms_)) last_.push_back(Describe(d));
      ++result_.passes;
      return {};
    }
    if (verb == "expect" && w.size() >= 2) return Expect(w);
    return Fail(ErrorCode::kInvalidArgument, "unknown line '{}'", verb);
  }

  Result<void> LoadCluster(const std::vector<std::string>& w) {
    if (w.size() != 2) return Fail(ErrorCode::kInvalidArgument, "usage: cluster FILE");
    if (s_) return Fail(ErrorCode::kInvalidArgument, "a second `cluster` line");
    const std::string file = w[1][0] == '/' ? w[1] : DirOf(path_) + "/" + w[1];
    Result<ClusterSpec> spec = ReadClusterSpecFile(file);
    if (!spec) return Fail(spec.error());
    Result<PolicySpec> policy = ParsePolicy("gpuslice");
    if (!policy) return Fail(policy.error());
    options_.base_dir = DirOf(file);
    Result<std::unique_ptr<sched::Scheduler>> s = BuildScheduler(*policy, *spec, options_);
    if (!s) return Fail(s.error());
    s_ = std::move(*s);
    return {};
  }

  Result<void> SetOption(const std::vector<std::string>& w) {
    if (s_) return Fail(ErrorCode::kInvalidArgument, "options go before the `cluster` line");
    if (w.size() != 3) return Fail(ErrorCode::kInvalidArgument, "usage: option NAME VALUE");
    sched::SchedulerOptions& o = options_.scheduler;
    const std::string& name = w[1];
    if (name == "preemption" || name == "demand_warm") {
      Result<bool> b = OnOff(w[2]);
      if (!b) return Fail(b.error());
      (name == "preemption" ? o.preemption : o.demand_warm) = *b;
      return {};
    }
    Result<std::int64_t> n = Number(w[2], name);
    if (!n) return Fail(n.error());
    if (name == "warm_idle_s") {
      o.warm_idle_ms = *n * 1000;
    } else if (name == "reserve_after_s") {
      o.reserve_after_ms = *n * 1000;
    } else if (name == "max_reservations") {
      o.max_reservations = static_cast<int>(std::min<std::int64_t>(*n, 1 << 20));
    } else {
      return Fail(ErrorCode::kInvalidArgument, "unknown option '{}'", name);
    }
    return {};
  }

  Result<void> SetTime(const std::vector<std::string>& w) {
    if (w.size() != 2) return Fail(ErrorCode::kInvalidArgument, "usage: at SECONDS");
    Result<std::int64_t> t = Number(w[1], "time");
    if (!t) return Fail(t.error());
    if (*t * 1000 < now_ms_) return Fail(ErrorCode::kInvalidArgument, "time goes back to {} s", *t);
    now_ms_ = *t * 1000;
    return {};
  }

  Result<void> Submit(const std::vector<std::string>& w) {
    if (w.size() < 3)
      return Fail(ErrorCode::kInvalidArgument, "usage: submit NAME team=T profile=P|memory=M …");
    if (ids_.contains(w[1])) return Fail(ErrorCode::kAlreadyExists, "a job named '{}' exists", w[1]);
    sched::Job j;
    j.name = w[1];
    j.submit_ms = now_ms_;
    for (std::size_t i = 2; i < w.size(); ++i) {
      const std::size_t eq = w[i].find('=');
      const std::string key = w[i].substr(0, eq);
      const std::string value = eq == std::string::npos ? "" : w[i].substr(eq + 1);
      if (Result<void> r = SetField(j, key, value, eq != std::string::npos); !r) return r;
    }
    if (!j.team.valid()) return Fail(ErrorCode::kInvalidArgument, "job {}: no team=", j.name);
    Result<JobId> id = s_->Submit(std::move(j));
    if (!id) return Fail(id.error());
    ids_[w[1]] = *id;
    names_[id->value()] = w[1];
    return {};
  }

  Result<void> SetField(sched::Job& j, const std::string& key, const std::string& value, bool has_value) {
    if (key == "preemptible" || key == "same_node") {
      if (has_value) return Fail(ErrorCode::kInvalidArgument, "{} takes no value", key);
      (key == "preemptible" ? j.preemptible : j.same_node) = true;
      return {};
    }
    if (!has_value || value.empty())
      return Fail(ErrorCode::kInvalidArgument, "{} needs a value ({}=…)", key, key);
    if (key == "team") {
      Result<sched::QuotaNodeId> t = s_->quota().Find(value);
      if (!t) return Fail(t.error());
      j.team = *t;
    } else if (key == "profile") {
      j.request.profile = value;
    } else if (key == "gpu") {
      j.request.gpu_model = value;
    } else if (key == "memory") {
      Result<MiB> m = ParseMemory(value);
      if (!m) return Fail(m.error());
      j.request.size.memory = *m;
    } else if (key == "kind") {
      Result<sched::JobKind> k = sched::ParseJobKind(value);
      if (!k) return Fail(k.error());
      j.kind = *k;
    } else {
      Result<std::int64_t> n = Number(value, key);
      if (!n) return Fail(n.error());
      if (key == "compute") {
        j.request.size.compute_slices = static_cast<int>(std::min<std::int64_t>(*n, 1000));
      } else if (key == "priority") {
        j.priority = static_cast<int>(std::min<std::int64_t>(*n, 1'000'000));
      } else if (key == "count") {
        j.count = static_cast<int>(std::min<std::int64_t>(*n, 1000));
      } else if (key == "duration") {
        j.expected_duration_ms = *n * 1000;
      } else {
        return Fail(ErrorCode::kInvalidArgument, "unknown job field '{}'", key);
      }
    }
    return {};
  }

  Result<void> ChangeGpu(const std::vector<std::string>& w) {
    if (w.size() != 2) return Fail(ErrorCode::kInvalidArgument, "usage: {} NODE/GPU", w[0]);
    Result<sched::GpuRef> g = GpuNamed(w[1]);
    if (!g) return Fail(g.error());
    const sched::Gpu& gpu = s_->gpu(*g);
    sched::GpuMode mode = gpu.base_mode;
    if (w[0] == "cordon") mode = sched::GpuMode::kCordoned;
    if (w[0] == "drain") mode = sched::GpuMode::kDraining;
    if (w[0] == "whole") mode = sched::GpuMode::kWhole;
    if (w[0] == "dynamic") mode = sched::GpuMode::kDynamic;
    Result<std::vector<sched::Decision>> r = s_->SetGpuMode(*g, mode, now_ms_);
    if (!r) return Fail(r.error());
    last_.clear();
    for (const sched::Decision& d : *r) last_.push_back(Describe(d));
    return {};
  }

  Result<void> Expect(const std::vector<std::string>& w) {
    const std::string& what = w[1];
    if (what == "decisions") {
      if (w.size() != 3 || w[2] != "none")
        return Fail(ErrorCode::kInvalidArgument, "usage: expect decisions [none]");
      return ExpectDecisions({});
    }
    if (what == "running") {
      std::set<std::string> want(w.begin() + 2, w.end()), seen;
      s_->ForEachJob([&](const sched::Job& j) {
        if (j.state == sched::JobState::kRunning) seen.insert(names_[j.id.value()]);
      });
      ++result_.checks;
      if (want == seen) return {};
      return Fail(ErrorCode::kFailedPrecondition, "running: expected [{}], got [{}]", fmt::join(want, " "),
                  fmt::join(seen, " "));
    }
    if (what == "pending" && w.size() >= 4) {
      Result<JobId> id = JobNamed(w[2]);
      if (!id) return Fail(id.error());
      const sched::Pending p = s_->Why(*id);
      std::string text;
      for (std::size_t i = 4; i < w.size(); ++i) text += (text.empty() ? "" : " ") + w[i];
      ++result_.checks;
      if (s_->FindJob(*id)->state == sched::JobState::kPending && sched::PendingKindName(p.kind) == w[3] &&
          p.message.find(text) != std::string::npos) {
        return {};
      }
      return Fail(ErrorCode::kFailedPrecondition, "{}: expected pending {} '{}', got {} {}: {}", w[2], w[3],
                  text, sched::JobStateName(s_->FindJob(*id)->state), sched::PendingKindName(p.kind),
                  p.message);
    }
    if (what == "usage" && w.size() == 5) {
      Result<sched::QuotaNodeId> t = s_->quota().Find(w[2]);
      if (!t) return Fail(t.error());
      Result<sched::ClassId> c = s_->quota().FindClass(w[3]);
      if (!c) return Fail(c.error());
      Result<std::int64_t> want = Number(w[4], "usage");
      if (!want) return Fail(want.error());
      const std::int64_t got = s_->quota().Usage(*t, *c).value().value();
      ++result_.checks;
      if (got == *want) return {};
      return Fail(ErrorCode::kFailedPrecondition, "usage of {} on {}: expected {} mGPU, got {}", w[2], w[3],
                  *want, got);
    }
    return Fail(ErrorCode::kInvalidArgument, "unknown expectation '{}'", fmt::join(w, " "));
  }

  Result<void> ExpectDecisions(const std::vector<std::string>& want) {
    ++result_.checks;
    if (want == last_) return {};
    return Fail(ErrorCode::kFailedPrecondition, "decisions:\n  expected:\n    {}\n  got:\n    {}",
                want.empty() ? "(none)" : fmt::format("{}", fmt::join(want, "\n    ")),
                last_.empty() ? "(none)" : fmt::format("{}", fmt::join(last_, "\n    ")));
  }

  std::string Where(sched::GpuRef ref) const {
    const sched::Gpu& g = s_->gpu(ref);
    return fmt::format("{}/{}", s_->node(g.node).name, g.index);
  }

  std::string Name(JobId id) const {
    const auto it = names_.find(id.value());
    return it == names_.end() ? fmt::format("#{}", id.value()) : it->second;
  }

  std::string Describe(const sched::Decision& d) const {
    const sched::Gpu& g = s_->gpu(d.gpu);
    using K = sched::Decision::Kind;
    switch (d.kind) {
      case K::kCreateInstance:
        return fmt::format("create {} on {}", g.geometry->Describe(d.placement), Where(d.gpu));
      case K::kDestroyInstance:
        return fmt::format("destroy {} on {}", g.geometry->Describe(d.placement), Where(d.gpu));
      case K::kPreempt: return fmt::format("preempt {} for {}", Name(d.job), Name(d.by));
      case K::kUnbind: return fmt::format("unbind {}", Name(d.job));
      case K::kBind: {
        if (!d.instance.valid()) return fmt::format("bind {} on {}", Name(d.job), Where(d.gpu));
        for (const sched::Instance& inst : g.instances) {
          if (inst.id == d.instance) {
            return fmt::format("bind {} on {} {}", Name(d.job), Where(d.gpu),
                               g.geometry->Describe(inst.placement));
          }
        }
        return fmt::format("bind {} on {}", Name(d.job), Where(d.gpu));
      }
    }
    return "?";
  }

  Result<JobId> JobNamed(const std::string& name) const {
    const auto it = ids_.find(name);
    if (it == ids_.end()) return Fail(ErrorCode::kNotFound, "no job named '{}'", name);
    return it->second;
  }

  Result<NodeId> NodeNamed(const std::string& name) const {
    for (std::size_t i = 1; i <= s_->num_nodes(); ++i) {
      if (s_->node(NodeId(i)).name == name) return NodeId(i);
    }
    return Fail(ErrorCode::kNotFound, "no node named '{}'", name);
  }

  Result<sched::GpuRef> GpuNamed(const std::string& spec) const {
    const std::size_t slash = spec.rfind('/');
    if (slash == std::string::npos) return Fail(ErrorCode::kInvalidArgument, "'{}' is not NODE/GPU", spec);
    Result<NodeId> n = NodeNamed(spec.substr(0, slash));
    if (!n) return Fail(n.error());
    Result<std::int64_t> index = Number(spec.substr(slash + 1), "GPU index");
    if (!index) return Fail(index.error());
    const sched::Node& node = s_->node(*n);
    if (*index >= static_cast<std::int64_t>(node.gpus.size())) {
      return Fail(ErrorCode::kNotFound, "node {} has {} GPUs", node.name, node.gpus.size());
    }
    return node.gpus[static_cast<std::size_t>(*index)];
  }

  std::string path_;
  int line_ = 0;
  SimOptions options_;
  std::unique_ptr<sched::Scheduler> s_;
  std::int64_t now_ms_ = 0;
  std::map<std::string, JobId> ids_;
  std::map<std::uint64_t, std::string> names_;
  std::vector<std::string> last_;
  ScenarioResult result_;
};

}  // namespace

Result<ScenarioResult> RunScenario(std::string_view text, const std::string& path) {
  return Runner(path).Run(text);
}

Result<ScenarioResult> RunScenarioFile(const std::string& path) {
  Result<std::string> text = ReadFile(path, kMaxScenarioBytes);
  if (!text) return Fail(text.error());
  return RunScenario(*text, path);
}

}  // namespace gpuslice::sim
