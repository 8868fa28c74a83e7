#include "net/listen_address.h"

#include <charconv>

namespace gpuslice::net {
namespace {

Result<int> ParsePort(std::string_view text, std::string_view whole) {
  int port = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || port < 0 || port > 65535) {
    return Fail(ErrorCode::kInvalidArgument, "'{}': port must be a number in 0..65535", whole);
  }
  return port;
}

// Splits "host:port" / "[v6]:port"; port_required decides whether a missing port is an error.
Result<HostPort> SplitHostPort(std::string_view text, bool port_required, int default_port) {
  HostPort out;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return Fail(ErrorCode::kInvalidArgument, "'{}': unclosed '['", text);
    out.host = std::string(text.substr(1, close - 1));
    rest = text.substr(close + 1);
  } else {
    const std::size_t colon = text.rfind(':');
    out.host = std::string(text.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
  }
  if (rest.empty()) {
    if (port_required) return Fail(ErrorCode::kInvalidArgument, "'{}': expected host:port", text);
    out.port = default_port;
  } else {
    if (rest.front() != ':') return Fail(ErrorCode::kInvalidArgument, "'{}': expected host:port", text);
    auto port = ParsePort(rest.substr(1), text);
    if (!port) return Fail(port.error());
    out.port = *port;
  }
  if (out.host == "localhost") out.host = "127.0.0.1";
  return out;
}

}  // namespace

Result<HostPort> ParseListenAddress(std::string_view text) {
  auto out = SplitHostPort(text, true, 0);
  if (out && (out->host.empty() || out->host == "*")) out->host = "0.0.0.0";
  return out;
}

Result<BaseUrl> ParseBaseUrl(std::string_view url) {
  BaseUrl out;
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    out.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, "URL '{}': scheme must be http or https", url);
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, "URL '{}': expected scheme://host[:port] without a path", url);
  }
  auto hp = SplitHostPort(rest, false, out.tls ? 443 : 80);
  if (!hp) return Fail(hp.error().WithContext("URL"));
  if (hp->host.empty()) return Fail(ErrorCode::kInvalidArgument, "URL '{}' has no host", url);
  out.host = std::move(hp->host);
  out.port = hp->port;
  return out;
}

}  // namespace gpuslice::net
