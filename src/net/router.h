// Router: maps (method, path pattern) to a handler. Patterns are '/'-separated segments, each
// a literal or a `{name}` capture matching one non-empty segment: "/v1/jobs/{id}/logs".
//
// Dispatch answers 404 when no pattern matches the path and 405 (with an Allow header) when a
// pattern matches but not for this method; both with JSON error bodies. When several patterns
// match, the one with the most literal segments wins ("/v1/jobs/stats" beats "/v1/jobs/{id}").
// A handler that throws gets a 500; exceptions do not cross into the server.
//
// Thread-safety: Add() before the server starts; Dispatch() is const and safe from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/deferred.h"
#include "net/http_types.h"

namespace gpuslice::net {

// What a handler returns: a response now, a response later (long-poll), or an SSE stream.
class Reply {
 public:
  Reply(Response response) : value_(std::move(response)) {}  // NOLINT: implicit on purpose
  static Reply Deferred(std::shared_ptr<ResponseWriter> writer) { return Reply(std::move(writer)); }
  static Reply Stream(std::shared_ptr<SseStream> stream) { return Reply(std::move(stream)); }

  Response* response() { return std::get_if<Response>(&value_); }
  std::shared_ptr<ResponseWriter> writer() const;
  std::shared_ptr<SseStream> stream() const;

 private:
  explicit Reply(std::shared_ptr<ResponseWriter> w) : value_(std::move(w)) {}
  explicit Reply(std::shared_ptr<SseStream> s) : value_(std::move(s)) {}
  std::variant<Response, std::shared_ptr<ResponseWriter>, std::shared_ptr<SseStream>> value_;
};

// Handlers run on a server I/O thread: they must not block (park with a ResponseWriter instead).
using Handler = std::function<Reply(Request&)>;

class Router {
 public:
  // Adds a route. Fails (kInvalidArgument) on a malformed pattern (not starting with '/', an empty
  // or unclosed `{}`), and (kAlreadyExists) when the same method and pattern were added before.
  Result<void> Add(std::string method, std::string_view pattern, Handler handler);

  // Fills request.params from the matched pattern and runs the handler (or answers 404/405/500).
  // `raw_path` is the still-%-encoded path; captures are decoded after splitting.
  Reply Dispatch(Request& request, std::string_view raw_path) const;

 private:
  struct Segment {
    std::string text;
    bool capture = false;
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    int literals = 0;
    Handler handler;
  };
  static bool Match(const Route& route, const std::vector<std::string_view>& parts);

  std::vector<Route> routes_;
};

}  // namespace gpuslice::net
