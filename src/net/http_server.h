// HttpServer: the HTTP/1.1 (optionally TLS) server under gpuslice's API, on Boost.Beast.
//
// Model: N worker threads run one io_context; each connection is a C++20 coroutine
// (asio::awaitable) on its own strand, so a connection's steps never run concurrently and a
// parked long-poll or SSE stream is a suspended coroutine plus a timer — no thread. Handlers run
// synchronously on a worker thread and must not block.
//
// Per connection: keep-alive; each request must arrive whole within request_timeout (408 when
// some bytes came, a silent close when none did — an idle keep-alive connection); headers over
// max_header_bytes get 431, bodies over max_body_bytes 413, malformed requests 400; all with
// JSON error bodies and a closed connection.
//
// Stop(): stop accepting, close idle connections, let in-flight requests finish (parked
// long-polls get 503, SSE streams are closed) until the grace deadline, then abort the rest and
// join the threads. The destructor calls Stop().
//
// Thread-safety: Start/Stop/port are safe from any thread; Stop is idempotent.
// The header includes no Boost (pimpl): layers above net never see Boost.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/error.h"
#include "net/router.h"

namespace gpuslice::net {

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // "host:port"; port 0 picks a free one (see port())
  int threads = 2;
  std::chrono::milliseconds request_timeout{30'000};  // to receive one whole request
  std::chrono::milliseconds write_timeout{30'000};    // to send one response or SSE chunk
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  std::chrono::milliseconds sse_keepalive{15'000};  // ": keep-alive" comment period on idle streams
  // TLS when both are set (PEM files); Start fails with a precise error when they cannot be used.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class HttpServer {
 public:
  // Binds, listens and starts the worker threads. Fails with kInvalidArgument for a bad listen
  // address or TLS files, kUnavailable when the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Start(ServerOptions options, Router router);

  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the chosen one when listening on port 0).
  int port() const;
  bool tls() const;
  // Connections open now (parked and streaming ones included).
  std::size_t ConnectionCountForTest() const;

  void Stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpuslice::net
