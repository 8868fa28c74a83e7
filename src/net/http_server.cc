// HttpServer implementation: the one server translation unit that includes Boost.
//
// Each connection is a Session<Stream> (Stream = plain socket or TLS stream) running as a
// coroutine on its own strand. Everything a session touches — its socket, timers and state — is
// touched only on that strand; other threads reach it through asio::post (the wake-ups of
// ResponseWriter/SseStream and the stop hook).
//
// Timeouts: a watchdog timer cancels (not closes) the socket when an operation runs too long, so
// a 408 can still be written after a slow request. A generation counter makes a watchdog that
// fired just as its operation finished harmless.
#include "net/http_server.h"

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "net/listen_address.h"

namespace gpuslice::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;
using ErrorCodeB = boost::system::error_code;

namespace {
constexpr auto kUse = asio::as_tuple(asio::use_awaitable);
constexpr auto kCloseTimeout = std::chrono::milliseconds(500);
constexpr std::size_t kMaxDrainBytes = 1 << 20;
}  // namespace

struct HttpServer::Impl {
  ServerOptions options;
  Router router;
  std::optional<asio::ssl::context> tls;

  // Guarded by mu: the live sessions' stop hooks, and whether Stop() began.
  std::mutex mu;
  std::condition_variable idle_cv;
  std::unordered_map<std::uint64_t, std::function<void()>> stop_hooks;
  std::uint64_t next_id = 0;
  bool stopping = false;
  std::atomic<bool> draining{false};  // Stop() began; read without mu to add Connection: close

  std::mutex stop_mu;  // serializes Stop()
  bool stopped = false;

  // Declared after everything sessions reference, so the io_context (and with it any
  // still-suspended session) is destroyed first.
  asio::io_context ioc;
  asio::strand<asio::io_context::executor_type> accept_strand{asio::make_strand(ioc)};
  tcp::acceptor acceptor{accept_strand};
  int port = 0;
  std::vector<std::thread> threads;

  // Returns 0 when the server is stopping (the session must close at once).
  std::uint64_t Register(std::function<void()> hook) {
    std::lock_guard lock(mu);
    if (stopping) return 0;
    const std::uint64_t id = ++next_id;
    stop_hooks.emplace(id, std::move(hook));
    return id;
  }
  void Unregister(std::uint64_t id) {
    std::lock_guard lock(mu);
    stop_hooks.erase(id);
    if (stop_hooks.empty()) idle_cv.notify_all();
  }
};

namespace {

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Session(HttpServer::Impl& core, Stream stream)
      : core_(core),
        stream_(std::move(stream)),
        watchdog_(Socket().get_executor()),
        wake_(std::make_shared<asio::steady_timer>(Socket().get_executor())) {}

  static asio::awaitable<void> Run(std::shared_ptr<Session> self);

 private:
  enum class State { kReading, kHandling, kWriting, kParked, kStreaming };
  enum class Next { kContinue, kClose, kCloseDrain };

  tcp::socket& Socket() { return beast::get_lowest_layer(stream_); }
  void Arm(std::chrono::milliseconds timeout);
  void Disarm();
  std::function<void()> MakeWake();
  void OnStop();

  asio::awaitable<ErrorCodeB> ReadRequest(http::request_parser<http::string_body>& parser);
  asio::awaitable<Next> ServeOne();
  asio::awaitable<Next> HandleRequest(http::request<http::string_body>& msg);
  asio::awaitable<bool> Write(Response response, bool keep_alive);
  asio::awaitable<bool> WriteRaw(const std::string& bytes);
  asio::awaitable<Response> Park(const std::shared_ptr<ResponseWriter>& writer);
  asio::awaitable<void> StreamSse(const std::shared_ptr<SseStream>& stream);
  static asio::awaitable<void> WatchClient(std::shared_ptr<Session> self);
  asio::awaitable<void> Close(Next how);

  HttpServer::Impl& core_;
  Stream stream_;
  beast::flat_buffer buffer_;
  asio::steady_timer watchdog_;
  std::uint64_t watchdog_gen_ = 0;
  bool timed_out_ = false;
  std::shared_ptr<asio::steady_timer> wake_;  // cancelled to wake a parked or streaming session
  State state_ = State::kReading;
  bool stopping_ = false;
  bool client_gone_ = false;
  bool watching_ = false;  // WatchClient holds the read side: Close must not read
  std::shared_ptr<ResponseWriter> parked_;
  std::shared_ptr<SseStream> sse_;
  std::string peer_;
};

template <class Stream>
void Session<Stream>::Arm(std::chrono::milliseconds timeout) {
  timed_out_ = false;
  watchdog_.expires_after(timeout);
  watchdog_.async_wait([self = this->shared_from_this(), gen = ++watchdog_gen_](ErrorCodeB ec) {
    if (ec || gen != self->watchdog_gen_) return;
    self->timed_out_ = true;
    ErrorCodeB ignored;
    self->Socket().cancel(ignored);
  });
}

template <class Stream>
void Session<Stream>::Disarm() {
  ++watchdog_gen_;
  watchdog_.cancel();
}

template <class Stream>
std::function<void()> Session<Stream>::MakeWake() {
  // Only enqueues: the writer/stream calls this under its own lock.
  return [ex = wake_->get_executor(), weak = std::weak_ptr<asio::steady_timer>(wake_)] {
    asio::post(ex, [weak] {
      if (auto timer = weak.lock()) timer->cancel();
    });
  };
}

template <class Stream>
void Session<Stream>::OnStop() {
  stopping_ = true;
  ErrorCodeB ignored;
  switch (state_) {
    case State::kReading: Socket().cancel(ignored); break;
    case State::kParked:
      if (parked_) parked_->Complete(Response::Error(503, "unavailable", "server is shutting down"));
      break;
    case State::kStreaming:
      if (sse_) sse_->Close();
      wake_->cancel();
      break;
    default: break;  // handling/writing: the loop sees stopping_ when the step ends
  }
}

template <class Stream>
asio::awaitable<void> Session<Stream>::Run(std::shared_ptr<Session> self) {
  Session& s = *self;
  const std::uint64_t id =
      s.core_.Register([weak = std::weak_ptr<Session>(self), ex = s.watchdog_.get_executor()] {
        asio::post(ex, [weak] {
          if (auto session = weak.lock()) session->OnStop();
        });
      });
  if (id == 0) co_return;
  struct Unregister {
    HttpServer::Impl& core;
    std::uint64_t id;
    ~Unregister() { core.Unregister(id); }
  } unregister{s.core_, id};

  ErrorCodeB ec;
  const tcp::endpoint remote = s.Socket().remote_endpoint(ec);
  if (!ec) s.peer_ = remote.address().to_string() + ":" + std::to_string(remote.port());

  if constexpr (kTls) {
    s.Arm(s.core_.options.request_timeout);
    auto [hs_ec] = co_await s.stream_.async_handshake(asio::ssl::stream_base::server, kUse);
    s.Disarm();
    if (hs_ec) co_return;  // not TLS, bad certificate chain at the client, or too slow
  }
  Next next = Next::kContinue;
  while (next == Next::kContinue && !s.stopping_) next = co_await s.ServeOne();
  co_await s.Close(next);
}

template <class Stream>
asio::awaitable<ErrorCodeB> Session<Stream>::ReadRequest(http::request_parser<http::string_body>& parser) {
  // Header first, so a client waiting on "Expect: 100-continue" (curl does for bodies over
  // 1 KiB) is told to go on; one deadline covers the whole request.
  Arm(core_.options.request_timeout);
  auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, kUse);
  if (!ec && !parser.is_done()) {
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [wec, wn] = co_await asio::async_write(stream_, asio::buffer(kContinue), kUse);
      ec = wec;
    }
    if (!ec) {
      auto [bec, bn] = co_await http::async_read(stream_, buffer_, parser, kUse);
      ec = bec;
    }
  }
  Disarm();
  co_return ec;
}

template <class Stream>
asio::awaitable<typename Session<Stream>::Next> Session<Stream>::ServeOne() {
  const ServerOptions& opt = core_.options;
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(opt.max_header_bytes, UINT32_MAX)));
  parser.body_limit(opt.max_body_bytes);
  state_ = State::kReading;
  const ErrorCodeB ec = co_await ReadRequest(parser);
  state_ = State::kHandling;
  if (!ec) {
    const Next next = co_await HandleRequest(parser.get());
    co_return next;
  }

  if (timed_out_) {
    // Bytes of a request arrived but not all of it: tell the client. Nothing arrived: an idle
    // keep-alive connection, closed silently.
    if (parser.got_some() || buffer_.size() > 0) {
      co_await Write(Response::Error(408, "request-timeout",
                                     "request not received within " +
                                         std::to_string(opt.request_timeout.count()) + " ms"),
                     false);
    }
    co_return Next::kClose;
  }
  if (stopping_ || ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
      ec == asio::ssl::error::stream_truncated) {
    co_return Next::kClose;
  }
  if (ec == http::error::body_limit) {
    co_await Write(
        Response::Error(413, "payload-too-large",
                        "request body exceeds the limit of " + std::to_string(opt.max_body_bytes) + " bytes"),
        false);
  } else if (ec == http::error::header_limit) {
    co_await Write(Response::Error(431, "header-too-large",
                                   "request headers exceed the limit of " +
                                       std::to_string(opt.max_header_bytes) + " bytes"),
                   false);
  } else {
    co_await Write(Response::Error(400, "bad-request", "malformed HTTP request: " + ec.message()), false);
  }
  co_return Next::kCloseDrain;
}

template <class Stream>
asio::awaitable<typename Session<Stream>::Next> Session<Stream>::HandleRequest(
    http::request<http::string_body>& msg) {
  const bool keep_alive = msg.keep_alive();
  Request req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  for (const auto& field : msg) {
    auto [it, inserted] = req.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    if (!inserted) it->second += ", " + std::string(field.value());
  }
  req.body = std::move(msg.body());
  req.peer = peer_;

  auto target = ParseTarget(req.target);
  if (!target) {
    const bool ok =
        co_await Write(Response::Error(400, "invalid-argument", target.error().message), keep_alive);
    co_return ok&& keep_alive ? Next::kContinue : Next::kClose;
  }
  req.path = std::move(target->path);
  req.query = std::move(target->query);

  Reply reply = core_.router.Dispatch(req, target->raw_path);
  Response response;
  if (Response* now = reply.response()) {
    response = std::move(*now);
  } else if (auto writer = reply.writer()) {
    response = co_await Park(writer);
  } else if (auto stream = reply.stream()) {
    co_await StreamSse(stream);
    co_return Next::kClose;
  } else {
    response = Response::Error(500, "internal", "handler returned an empty deferred reply");
  }
  const bool keep = keep_alive && !stopping_ && !core_.draining.load();
  const bool ok = co_await Write(std::move(response), keep);
  co_return ok&& keep ? Next::kContinue : Next::kClose;
}

template <class Stream>
asio::awaitable<bool> Session<Stream>::Write(Response response, bool keep_alive) {
  http::response<http::string_body> res;
  res.version(11);
  const int status = (response.status < 100 || response.status > 999) ? 500 : response.status;
  res.result(static_cast<unsigned>(status));
  for (const auto& [name, value] : response.headers) res.set(name, value);
  res.body() = std::move(response.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  state_ = State::kWriting;
  Arm(core_.options.write_timeout);
  auto [ec, n] = co_await http::async_write(stream_, res, kUse);
  Disarm();
  state_ = State::kHandling;
  co_return !ec;
}

template <class Stream>
asio::awaitable<bool> Session<Stream>::WriteRaw(const std::string& bytes) {
  Arm(core_.options.write_timeout);
  auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(bytes), kUse);
  Disarm();
  co_return !ec;
}

template <class Stream>
asio::awaitable<Response> Session<Stream>::Park(const std::shared_ptr<ResponseWriter>& writer) {
  struct Detach {
    Session& s;
    ~Detach() {
      if (s.parked_) s.parked_->Detach();
      s.parked_.reset();
    }
  } detach{*this};
  parked_ = writer;
  state_ = State::kParked;
  writer->Attach(MakeWake());
  // A stop that came while the handler ran (OnStop saw kHandling) must still release this park.
  if (stopping_) writer->Complete(Response::Error(503, "unavailable", "server is shutting down"));
  const auto deadline = std::chrono::steady_clock::now() + writer->timeout();
  std::optional<Response> out;
  while (!(out = writer->TakeIfDone())) {
    wake_->expires_at(deadline);
    auto [ec] = co_await wake_->async_wait(kUse);
    if (!ec) {  // the deadline passed (a wake-up cancels the wait instead)
      writer->CompleteWithTimeout();
      out = writer->TakeIfDone();
      if (!out) out = Response::Error(500, "internal", "deferred response was already consumed");
      break;
    }
  }
  state_ = State::kHandling;
  co_return std::move(*out);
}

template <class Stream>
asio::awaitable<void> Session<Stream>::StreamSse(const std::shared_ptr<SseStream>& stream) {
  struct Finish {
    Session& s;
    ~Finish() {
      if (s.sse_) s.sse_->Finish(s.client_gone_);
      s.sse_.reset();
    }
  } finish{*this};
  sse_ = stream;
  state_ = State::kStreaming;
  static const std::string kHead =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Connection: close\r\nX-Accel-Buffering: no\r\n\r\n";
  const bool head_ok = co_await WriteRaw(kHead);
  if (!head_ok) {
    client_gone_ = true;
    co_return;
  }
  stream->Attach(MakeWake());
  watching_ = true;
  asio::co_spawn(watchdog_.get_executor(), WatchClient(this->shared_from_this()), asio::detached);
  while (true) {
    std::string out;
    const bool closed = stream->Drain(out);
    // (co_await kept out of && and ?: — gcc 12 mishandles coroutine temporaries there)
    if (!out.empty()) {
      const bool written = co_await WriteRaw(out);
      if (!written) {
        client_gone_ = true;
        break;
      }
      // Events queued during the write were announced while nobody waited: drain again
      // before sleeping, or they would sit until the next keep-alive.
      if (!closed && !client_gone_ && !stopping_) continue;
    }
    if (closed || client_gone_ || stopping_) break;
    wake_->expires_after(core_.options.sse_keepalive);
    auto [ec] = co_await wake_->async_wait(kUse);
    if (!ec && !client_gone_) {
      const bool written = co_await WriteRaw(": keep-alive\n\n");
      if (!written) {
        client_gone_ = true;
        break;
      }
    }
  }
}

template <class Stream>
asio::awaitable<void> Session<Stream>::WatchClient(std::shared_ptr<Session> self) {
  // An SSE client sends nothing after its request; a completed read means it went away.
  char scratch[512];
  while (true) {
    auto [ec, n] = co_await self->stream_.async_read_some(asio::buffer(scratch), kUse);
    if (ec) break;
  }
  if (self->state_ == State::kStreaming) self->client_gone_ = true;
  self->watching_ = false;
  self->wake_->cancel();
}

template <class Stream>
asio::awaitable<void> Session<Stream>::Close(Next how) {
  ErrorCodeB ignored;
  if constexpr (kTls) {
    if (watching_) {
      // async_shutdown reads too, and a TLS stream allows one reader: stop WatchClient first.
      Socket().cancel(ignored);
      while (watching_) {
        wake_->expires_after(kCloseTimeout);
        auto [ec] = co_await wake_->async_wait(kUse);
        if (!ec) break;
      }
    }
    // Without close_notify a client cannot tell an SSE stream's end from a cut connection.
    if (!watching_ && how != Next::kCloseDrain) {
      Arm(kCloseTimeout);
      co_await stream_.async_shutdown(kUse);
      Disarm();
    }
  } else {
    Socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (how == Next::kCloseDrain) {
      // Read what the client is still sending so closing does not reset the connection before
      // it has read our error response.
      Arm(kCloseTimeout);
      std::size_t drained = 0;
      char scratch[4096];
      while (drained < kMaxDrainBytes) {
        auto [ec, n] = co_await Socket().async_read_some(asio::buffer(scratch), kUse);
        if (ec) break;
        drained += n;
      }
      Disarm();
    }
  }
  Socket().close(ignored);
}

asio::awaitable<void> AcceptLoop(HttpServer::Impl& core) {
  while (true) {
    tcp::socket socket(asio::make_strand(core.ioc));
    auto [ec] = co_await core.acceptor.async_accept(socket, kUse);
    if (ec) {
      if (!core.acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
      // Out of file descriptors and the like: back off instead of spinning.
      asio::steady_timer pause(core.accept_strand, std::chrono::milliseconds(50));
      co_await pause.async_wait(kUse);
      continue;
    }
    ErrorCodeB ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto ex = socket.get_executor();
    if (core.tls) {
      auto s = std::make_shared<Session<TlsStream>>(core, TlsStream(std::move(socket), *core.tls));
      asio::co_spawn(ex, Session<TlsStream>::Run(s), asio::detached);
    } else {
      auto s = std::make_shared<Session<tcp::socket>>(core, std::move(socket));
      asio::co_spawn(ex, Session<tcp::socket>::Run(s), asio::detached);
    }
  }
}

Result<void> LoadTls(HttpServer::Impl& core) {
  const ServerOptions& opt = core.options;
  if (opt.tls_cert_file.empty() && opt.tls_key_file.empty()) return {};
  if (opt.tls_cert_file.empty() || opt.tls_key_file.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "TLS needs both a certificate file and a key file");
  }
  for (const std::string& file : {opt.tls_cert_file, opt.tls_key_file}) {
    if (!std::ifstream(file)) return Fail(ErrorCode::kInvalidArgument, "TLS file '{}' cannot be read", file);
  }
  core.tls.emplace(asio::ssl::context::tls_server);
  core.tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
  ErrorCodeB ec;
  core.tls->use_certificate_chain_file(opt.tls_cert_file, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidArgument, "TLS certificate '{}' is not a usable PEM certificate: {}",
                opt.tls_cert_file, ec.message());
  }
  core.tls->use_private_key_file(opt.tls_key_file, asio::ssl::context::pem, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidArgument, "TLS key '{}' is not a usable PEM private key: {}",
                opt.tls_key_file, ec.message());
  }
  if (SSL_CTX_check_private_key(core.tls->native_handle()) != 1) {
    return Fail(ErrorCode::kInvalidArgument, "TLS key '{}' does not match certificate '{}'", opt.tls_key_file,
                opt.tls_cert_file);
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(ServerOptions options, Router router) {
  if (options.threads < 1) return Fail(ErrorCode::kInvalidArgument, "server needs at least 1 thread");
  auto listen = ParseListenAddress(options.listen);
  if (!listen) return Fail(listen.error());
  ErrorCodeB ec;
  const auto address = asio::ip::make_address(listen->host, ec);
  if (ec) return Fail(ErrorCode::kInvalidArgument, "listen address '{}': bad IP address", options.listen);

  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->router = std::move(router);
  if (auto tls = LoadTls(*impl); !tls) return Fail(tls.error());

  const tcp::endpoint endpoint(address, listen->port);
  auto& acceptor = impl->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "cannot listen on {}: {}", impl->options.listen, ec.message());
  impl->port = acceptor.local_endpoint().port();

  asio::co_spawn(impl->accept_strand, AcceptLoop(*impl), asio::detached);
  for (int i = 0; i < impl->options.threads; ++i) {
    impl->threads.emplace_back([io = &impl->ioc] { io->run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  Stop(std::chrono::seconds(1));
}

int HttpServer::port() const {
  return impl_->port;
}
bool HttpServer::tls() const {
  return impl_->tls.has_value();
}

std::size_t HttpServer::ConnectionCountForTest() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stop_hooks.size();
}

void HttpServer::Stop(std::chrono::milliseconds grace) {
  std::lock_guard stop_lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    impl_->draining = true;
    for (auto& [id, hook] : impl_->stop_hooks) hooks.push_back(hook);
  }
  asio::post(impl_->accept_strand, [impl = impl_.get()] {
    ErrorCodeB ignored;
    impl->acceptor.close(ignored);
  });
  for (auto& hook : hooks) hook();
  {
    std::unique_lock lock(impl_->mu);
    impl_->idle_cv.wait_until(lock, deadline, [&] { return impl_->stop_hooks.empty(); });
  }
  // Whatever is left past the deadline is aborted: its coroutine is destroyed with the context.
  impl_->ioc.stop();
  for (std::thread& t : impl_->threads) t.join();
  impl_->threads.clear();
}

}  // namespace gpuslice::net
