// HttpClient: a synchronous HTTP/1.1 client for the CLI and the agent, on Boost.Beast.
//
// One client holds at most one connection and reuses it across requests (keep-alive); one the
// server has closed meanwhile is replaced before use. When a reused connection turns out to be
// closed by the server before any reply byte arrived, the request is retried once on a fresh
// connection if that cannot do it twice: a GET/HEAD/PUT/DELETE/OPTIONS, or any request the
// server cannot have received whole (never a POST whose reply was lost or timed out). Each request has a
// connect timeout and a total timeout. HTTP error statuses are not errors: Do() returns the Response whatever
// its status. Transport problems are Errors with kUnavailable and a message naming the step and the peer
// ("connect to 127.0.0.1:7070: Connection refused").
//
// Stream() reads a text/event-stream response and calls back once per event until the server
// closes, the callback returns false, or Cancel() is called.
//
// Thread-safety: one request at a time (use one client per thread); Cancel() may be called from
// any thread and aborts the request or stream in progress (a no-op when none is).
// The header includes no Boost (pimpl).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"
#include "net/deferred.h"
#include "net/http_types.h"

namespace gpuslice::net {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5'000};   // resolve + connect + TLS handshake
  std::chrono::milliseconds request_timeout{30'000};  // write request + read whole response
  // Stream(): longest silence between bytes before giving up (0 = wait forever). Servers send
  // keep-alive comments, so a few of their periods is a good value.
  std::chrono::milliseconds stream_idle_timeout{0};
  std::string ca_file;                // PEM CA bundle for https; empty = system default paths
  bool insecure_skip_verify = false;  // tests only: accept any certificate
  std::size_t max_response_bytes = 64 * 1024 * 1024;
};

struct ClientRequest {
  std::string method = "GET";
  std::string target = "/";  // path + query, already encoded (see PercentEncode)
  HeaderMap headers;
  std::string body;
};

class HttpClient {
 public:
  // `base_url`: "http://host:port", "https://host:port" or "host:port". Fails with
  // kInvalidArgument for a bad URL or an unreadable CA file. Does not connect yet.
  static Result<std::unique_ptr<HttpClient>> Create(std::string_view base_url, ClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Result<Response> Do(const ClientRequest& request);
  Result<Response> Get(std::string target);
  Result<Response> Post(std::string target, std::string body, std::string content_type = "application/json");

  // Opens a GET stream. Returns the final status: ok after the server ended the stream or the
  // callback returned false; kUnavailable with "cancelled" after Cancel(); a non-200 reply
  // is kFailedPrecondition carrying the status and body. The connection is not reused after.
  Result<void> Stream(std::string target, const std::function<bool(const SseEvent&)>& on_event,
                      HeaderMap headers = {});

  void Cancel();

  struct Impl;

 private:
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpuslice::net
