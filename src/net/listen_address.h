// Parsing of "host:port" listen addresses and "http(s)://host:port" base URLs (no Boost).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"

namespace gpuslice::net {

struct HostPort {
  std::string host;  // without IPv6 brackets: "::1"
  int port = 0;
};

// "127.0.0.1:8080", "[::1]:0", ":8080" (all interfaces), "localhost:80" (-> 127.0.0.1).
// Fails (kInvalidArgument) without a port or with a port outside 0..65535.
Result<HostPort> ParseListenAddress(std::string_view text);

struct BaseUrl {
  bool tls = false;
  std::string host;
  int port = 0;
};

// "http://host:port", "https://host" (port 443), "host:port" (http). A trailing '/' is allowed;
// any other path is an error, as are unknown schemes.
Result<BaseUrl> ParseBaseUrl(std::string_view url);

}  // namespace gpuslice::net
