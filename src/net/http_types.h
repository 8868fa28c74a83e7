// Plain HTTP value types shared by HttpServer, HttpClient and their users: Request, Response,
// a case-insensitive HeaderMap, and the request-target parser (path + percent-decoded query).
//
// None of these types mention Boost: the layers above net (server, cli, agent) see only these.
// ParseTarget handles untrusted input and never asserts; it answers malformed targets with a
// kInvalidArgument error that the server turns into a 400.
//
// Thread-safety: plain values; safe to copy between threads.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace gpuslice::net {

// ASCII case-insensitive ordering for header names ("Content-Type" == "content-type").
struct CaseInsensitiveLess {
  bool operator()(std::string_view a, std::string_view b) const;
  using is_transparent = void;
};

// Header names map to values; a repeated header keeps the values joined by ", " (RFC 9110 §5.3).
using HeaderMap = std::map<std::string, std::string, CaseInsensitiveLess>;

// Returns the header's value, or nullopt when absent.
std::optional<std::string> FindHeader(const HeaderMap& headers, std::string_view name);

using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // "GET", "POST", ... exactly as sent
  std::string target;  // raw request-target, "/v1/jobs/7?state=running"
  std::string path;    // percent-decoded path part, "/v1/jobs/7"
  QueryParams query;   // decoded key/value pairs in order of appearance ('+' means space)
  std::map<std::string, std::string> params;  // router {param} captures, percent-decoded
  HeaderMap headers;
  std::string body;
  std::string peer;  // "127.0.0.1:51234"

  // First value of a query parameter, or nullopt.
  std::optional<std::string> Query(std::string_view key) const;
  // A path parameter captured by the router ("" when the route has no such segment).
  std::string Param(std::string_view name) const;
  std::optional<std::string> Header(std::string_view name) const { return FindHeader(headers, name); }
};

struct Response {
  int status = 200;
  HeaderMap headers;
  std::string body;

  std::optional<std::string> Header(std::string_view name) const { return FindHeader(headers, name); }

  static Response Json(int status, std::string body);
  static Response Text(int status, std::string body);
  // {"error": {"code": "<code>", "message": "<message>"}} with Content-Type application/json.
  static Response Error(int status, std::string_view code, std::string_view message);
};

// The parts of an origin-form request-target ("/a/b?x=1").
struct ParsedTarget {
  std::string raw_path;  // still percent-encoded; the router splits this on '/'
  std::string path;      // percent-decoded
  QueryParams query;
};

// Splits and decodes a request-target. Fails (kInvalidArgument) when the target does not start
// with '/', is longer than kMaxTargetBytes, or holds a bad %-escape, a decoded NUL, or a control
// character. A fragment ('#...') is ignored.
inline constexpr std::size_t kMaxTargetBytes = 8192;
Result<ParsedTarget> ParseTarget(std::string_view target);

// Decodes %XX escapes; with plus_is_space also '+' -> ' ' (query strings). Fails on a truncated
// or non-hex escape and on a decoded NUL.
Result<std::string> PercentDecode(std::string_view text, bool plus_is_space);

// Encodes everything but RFC 3986 unreserved characters; used by clients to build targets.
std::string PercentEncode(std::string_view text);

// JSON error body {"error": {"code": ..., "message": ...}}.
std::string JsonErrorBody(std::string_view code, std::string_view message);

}  // namespace gpuslice::net
