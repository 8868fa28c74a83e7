#include "net/http_types.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace gpuslice::net {
namespace {

char Lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsControl(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

Result<QueryParams> ParseQuery(std::string_view query) {
  QueryParams out;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;  // "a=1&&b=2"
    const std::size_t eq = pair.find('=');
    auto key = PercentDecode(pair.substr(0, eq), true);
    if (!key) return Fail(key.error().WithContext("query key"));
    std::string value;
    if (eq != std::string_view::npos) {
      auto decoded = PercentDecode(pair.substr(eq + 1), true);
      if (!decoded) return Fail(decoded.error().WithContext("query value"));
      value = std::move(*decoded);
    }
    out.emplace_back(std::move(*key), std::move(value));
  }
  return out;
}

}  // namespace

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](char x, char y) { return Lower(x) < Lower(y); });
}

std::optional<std::string> FindHeader(const HeaderMap& headers, std::string_view name) {
  auto it = headers.find(name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Request::Query(std::string_view key) const {
  for (const auto& [k, v] : query) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::string Request::Param(std::string_view name) const {
  auto it = params.find(std::string(name));
  return it == params.end() ? std::string() : it->second;
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers["Content-Type"] = "application/json";
  r.body = std::move(body);
  return r;
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers["Content-Type"] = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

Response Response::Error(int status, std::string_view code, std::string_view message) {
  return Json(status, JsonErrorBody(code, message));
}

std::string JsonErrorBody(std::string_view code, std::string_view message) {
  nlohmann::json j;
  j["error"]["code"] = std::string(code);
  j["error"]["message"] = std::string(message);
  // Replace invalid UTF-8 rather than throw: messages may quote untrusted input.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) {
        return Fail(ErrorCode::kInvalidArgument, "truncated %-escape at offset {}", i);
      }
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return Fail(ErrorCode::kInvalidArgument, "bad %-escape at offset {}", i);
      const char decoded = static_cast<char>(hi * 16 + lo);
      if (decoded == '\0') return Fail(ErrorCode::kInvalidArgument, "%00 is not allowed");
      out.push_back(decoded);
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

Result<ParsedTarget> ParseTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return Fail(ErrorCode::kInvalidArgument, "request target must start with '/'");
  }
  if (target.size() > kMaxTargetBytes) {
    return Fail(ErrorCode::kInvalidArgument, "request target is {} bytes; the limit is {}", target.size(),
                kMaxTargetBytes);
  }
  for (unsigned char c : target) {
    if (IsControl(c) || c == ' ')
      return Fail(ErrorCode::kInvalidArgument, "control character in request target");
  }
  target = target.substr(0, target.find('#'));
  const std::size_t q = target.find('?');
  ParsedTarget out;
  out.raw_path = std::string(target.substr(0, q));
  auto path = PercentDecode(out.raw_path, false);
  if (!path) return Fail(path.error().WithContext("request path"));
  for (unsigned char c : *path) {
    if (IsControl(c)) return Fail(ErrorCode::kInvalidArgument, "control character in decoded request path");
  }
  out.path = std::move(*path);
  if (q != std::string_view::npos) {
    auto query = ParseQuery(target.substr(q + 1));
    if (!query) return Fail(query.error());
    out.query = std::move(*query);
  }
  return out;
}

}  // namespace gpuslice::net
