#include "net/router.h"

#include <exception>
#include <set>

namespace gpuslice::net {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    const std::size_t slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

}  // namespace

std::shared_ptr<ResponseWriter> Reply::writer() const {
  auto* w = std::get_if<std::shared_ptr<ResponseWriter>>(&value_);
  return w ? *w : nullptr;
}

std::shared_ptr<SseStream> Reply::stream() const {
  auto* s = std::get_if<std::shared_ptr<SseStream>>(&value_);
  return s ? *s : nullptr;
}

Result<void> Router::Add(std::string method, std::string_view pattern, Handler handler) {
  if (pattern.empty() || pattern.front() != '/') {
    return Fail(ErrorCode::kInvalidArgument, "route pattern '{}' must start with '/'", pattern);
  }
  Route route{std::move(method), std::string(pattern), {}, 0, std::move(handler)};
  for (std::string_view part : SplitPath(pattern)) {
    const bool open = !part.empty() && part.front() == '{';
    const bool close = !part.empty() && part.back() == '}';
    if (open != close || (open && part.size() < 3)) {
      return Fail(ErrorCode::kInvalidArgument, "route pattern '{}' has a malformed {{param}} segment",
                  pattern);
    }
    if (open) {
      route.segments.push_back({std::string(part.substr(1, part.size() - 2)), true});
    } else {
      route.segments.push_back({std::string(part), false});
      ++route.literals;
    }
  }
  for (const Route& r : routes_) {
    if (r.method == route.method && r.pattern == route.pattern) {
      return Fail(ErrorCode::kAlreadyExists, "route {} {} is already registered", route.method, pattern);
    }
  }
  routes_.push_back(std::move(route));
  return {};
}

bool Router::Match(const Route& route, const std::vector<std::string_view>& parts) {
  if (route.segments.size() != parts.size()) return false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Segment& seg = route.segments[i];
    if (seg.capture ? parts[i].empty() : seg.text != parts[i]) return false;
  }
  return true;
}

Reply Router::Dispatch(Request& request, std::string_view raw_path) const {
  const std::vector<std::string_view> parts = SplitPath(raw_path);
  const Route* best = nullptr;
  std::set<std::string> allowed;
  for (const Route& route : routes_) {
    if (!Match(route, parts)) continue;
    allowed.insert(route.method);
    if (route.method == request.method && (!best || route.literals > best->literals)) best = &route;
  }
  if (!best) {
    if (allowed.empty()) return Response::Error(404, "not-found", "no route for path " + request.path);
    std::string allow;
    for (const std::string& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
    Response r = Response::Error(
        405, "method-not-allowed",
        "method " + request.method + " is not allowed for " + request.path + " (allowed: " + allow + ")");
    r.headers["Allow"] = allow;
    return r;
  }
  request.params.clear();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (!best->segments[i].capture) continue;
    auto decoded = PercentDecode(parts[i], false);
    if (!decoded) return Response::Error(400, "invalid-argument", decoded.error().message);
    request.params[best->segments[i].text] = std::move(*decoded);
  }
  try {
    return best->handler(request);
  } catch (const std::exception& e) {
    return Response::Error(500, "internal", std::string("handler failed: ") + e.what());
  } catch (...) {
    return Response::Error(500, "internal", "handler failed with an unknown exception");
  }
}

}  // namespace gpuslice::net
