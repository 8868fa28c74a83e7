// HttpClient implementation: the one client translation unit that includes Boost.
//
// "Synchronous" on top of Asio: each call runs a coroutine on the client's private io_context
// on the caller's thread, which is what gives every step a deadline (beast::tcp_stream closes
// the socket when an expiry passes). Cancel() posts a socket close onto that context.
#include "net/http_client.h"

#include <poll.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>

#include "net/listen_address.h"

namespace gpuslice::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<beast::tcp_stream>;
using ErrorCodeB = boost::system::error_code;

namespace {
constexpr auto kUse = asio::as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;
}  // namespace

struct HttpClient::Impl {
  BaseUrl url;
  ClientOptions options;
  std::string peer;  // "host:port", for messages and the Host header
  std::optional<asio::ssl::context> tls;
  asio::io_context ioc;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<TlsStream> secure;
  beast::flat_buffer buffer;
  bool cancelled = false;  // set on the io_context (the caller's thread)

  // Guarded by mu: which run is in progress, so a late Cancel() cannot hit the next one.
  std::mutex mu;
  std::uint64_t run_gen = 0;
  bool running = false;

  bool Connected() const { return plain != nullptr || secure != nullptr; }
  beast::tcp_stream& Lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  // A kept-alive connection the server has closed (or written to unasked) since the last reply:
  // reading it would only find the end. Checked before reuse, so that a request is not sent
  // into a connection that is already gone.
  bool Stale() {
    pollfd p{.fd = Lowest().socket().native_handle(), .events = POLLIN | POLLRDHUP, .revents = 0};
    return ::poll(&p, 1, 0) != 0;
  }
  void Disconnect() {
    if (Connected()) {
      ErrorCodeB ignored;
      Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
      Lowest().socket().close(ignored);
    }
    secure.reset();
    plain.reset();
    buffer.clear();
  }
  std::string Why(const ErrorCodeB& ec, std::chrono::milliseconds limit) const {
    if (cancelled) return "cancelled";
    if (ec == beast::error::timeout) return "timed out after " + std::to_string(limit.count()) + " ms";
    return ec.message();
  }

  template <class T>
  T RunSync(asio::awaitable<T> work);
  asio::awaitable<Result<void>> Connect();
  asio::awaitable<Result<Response>> Exchange(const ClientRequest& request);
  asio::awaitable<Result<void>> OpenStream(const ClientRequest& request,
                                           const std::function<bool(const SseEvent&)>& on_event);
};

namespace {

http::request<http::string_body> BuildRequest(const HttpClient::Impl& impl, const ClientRequest& r) {
  http::request<http::string_body> req;
  req.method_string(r.method);
  req.target(r.target);
  req.version(11);
  req.set(http::field::host, impl.peer);
  req.set(http::field::user_agent, "gpuslice");
  for (const auto& [name, value] : r.headers) req.set(name, value);
  req.body() = r.body;
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

template <class S>
asio::awaitable<Result<Response>> SendAndRead(HttpClient::Impl& impl, S& s, const ClientRequest& r,
                                              bool& sent, bool& got_any, bool& timed_out) {
  const auto limit = impl.options.request_timeout;
  beast::get_lowest_layer(s).expires_after(limit);
  auto req = BuildRequest(impl, r);
  auto [wec, wn] = co_await http::async_write(s, req, kUse);
  timed_out = wec == beast::error::timeout;
  if (wec)
    co_return Fail(ErrorCode::kUnavailable, "send {} {} to {}: {}", r.method, r.target, impl.peer,
                   impl.Why(wec, limit));
  http::response_parser<http::string_body> parser;
  parser.body_limit(impl.options.max_response_bytes);
  if (r.method == "HEAD") parser.skip(true);
  sent = true;
  auto [rec, rn] = co_await http::async_read(s, impl.buffer, parser, kUse);
  beast::get_lowest_layer(s).expires_never();
  got_any = parser.got_some() || impl.buffer.size() > 0;
  timed_out = rec == beast::error::timeout;
  if (rec) {
    co_return Fail(ErrorCode::kUnavailable, "read reply to {} {} from {}: {}", r.method, r.target, impl.peer,
                   impl.Why(rec, limit));
  }
  auto& msg = parser.get();
  Response out;
  out.status = static_cast<int>(msg.result_int());
  for (const auto& field : msg) {
    auto [it, inserted] = out.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    if (!inserted) it->second += ", " + std::string(field.value());
  }
  out.body = std::move(msg.body());
  if (!msg.keep_alive()) impl.Disconnect();
  co_return out;
}

// Reads the body of a streaming response chunk by chunk into `sink`; false from sink stops.
template <class S>
asio::awaitable<Result<void>> ReadBodyChunks(HttpClient::Impl& impl, S& s,
                                             http::response_parser<http::buffer_body>& parser,
                                             const std::function<Result<bool>(std::string_view)>& sink) {
  const auto idle = impl.options.stream_idle_timeout;
  char chunk[8192];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    if (idle.count() > 0) {
      beast::get_lowest_layer(s).expires_after(idle);
    } else {
      beast::get_lowest_layer(s).expires_never();
    }
    // read_some, not read: return as soon as some body bytes arrived (events are small).
    auto [ec, n] = co_await http::async_read_some(s, impl.buffer, parser, kUse);
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = sizeof chunk - parser.get().body().size;
    if (got > 0) {
      auto more = sink(std::string_view(chunk, got));
      if (!more) co_return Fail(more.error());
      if (!*more) co_return Result<void>{};
    }
    if (ec) co_return Fail(ErrorCode::kUnavailable, "stream from {}: {}", impl.peer, impl.Why(ec, idle));
  }
  co_return Result<void>{};
}

template <class S>
asio::awaitable<Result<void>> StreamOn(HttpClient::Impl& impl, S& s, const ClientRequest& r,
                                       const std::function<bool(const SseEvent&)>& on_event) {
  const auto limit = impl.options.request_timeout;
  beast::get_lowest_layer(s).expires_after(limit);
  auto req = BuildRequest(impl, r);
  auto [wec, wn] = co_await http::async_write(s, req, kUse);
  if (wec)
    co_return Fail(ErrorCode::kUnavailable, "send GET {} to {}: {}", r.target, impl.peer,
                   impl.Why(wec, limit));
  http::response_parser<http::buffer_body> parser;
  parser.body_limit((std::numeric_limits<std::uint64_t>::max)());
  auto [hec, hn] = co_await http::async_read_header(s, impl.buffer, parser, kUse);
  if (hec) {
    co_return Fail(ErrorCode::kUnavailable, "read stream header of {} from {}: {}", r.target, impl.peer,
                   impl.Why(hec, limit));
  }
  const int status = static_cast<int>(parser.get().result_int());
  if (status != 200) {
    std::string body;
    const std::function<Result<bool>(std::string_view)> keep = [&](std::string_view bytes) -> Result<bool> {
      body.append(bytes.substr(0, 64 * 1024 - std::min<std::size_t>(body.size(), 64 * 1024)));
      return true;
    };
    co_await ReadBodyChunks(impl, s, parser, keep);
    co_return Fail(ErrorCode::kFailedPrecondition, "stream {} from {}: HTTP {}: {}", r.target, impl.peer,
                   status, body);
  }
  SseParser sse;
  const std::function<Result<bool>(std::string_view)> deliver = [&](std::string_view bytes) -> Result<bool> {
    auto events = sse.Feed(bytes);
    if (!events) return Fail(events.error());
    for (const SseEvent& event : *events) {
      if (!on_event(event)) return false;
    }
    return true;
  };
  Result<void> out = co_await ReadBodyChunks(impl, s, parser, deliver);
  co_return out;
}

}  // namespace

template <class T>
T HttpClient::Impl::RunSync(asio::awaitable<T> work) {
  {
    std::lock_guard lock(mu);
    ++run_gen;
    running = true;
  }
  cancelled = false;
  ioc.restart();
  std::optional<T> out;
  asio::co_spawn(ioc, std::move(work), [&out](std::exception_ptr error, T value) {
    if (error) {
      out.emplace(Fail(ErrorCode::kInternal, "HTTP client failed with an exception"));
    } else {
      out.emplace(std::move(value));
    }
  });
  ioc.run();
  {
    std::lock_guard lock(mu);
    running = false;
  }
  return std::move(*out);
}

asio::awaitable<Result<void>> HttpClient::Impl::Connect() {
  Disconnect();
  const auto limit = options.connect_timeout;
  const auto deadline = Clock::now() + limit;
  tcp::resolver resolver(ioc);
  auto [rec, endpoints] = co_await resolver.async_resolve(url.host, std::to_string(url.port), kUse);
  if (rec) co_return Fail(ErrorCode::kUnavailable, "resolve {}: {}", url.host, rec.message());
  auto stream = std::make_unique<beast::tcp_stream>(ioc);
  stream->expires_at(deadline);
  auto [cec, ep] = co_await stream->async_connect(endpoints, kUse);
  if (cec) co_return Fail(ErrorCode::kUnavailable, "connect to {}: {}", peer, Why(cec, limit));
  ErrorCodeB ignored;
  stream->socket().set_option(tcp::no_delay(true), ignored);
  if (!tls) {
    stream->expires_never();
    plain = std::move(stream);
    co_return Result<void>{};
  }
  auto s = std::make_unique<TlsStream>(std::move(*stream), *tls);
  ErrorCodeB is_ip;
  asio::ip::make_address(url.host, is_ip);
  if (is_ip) SSL_set_tlsext_host_name(s->native_handle(), url.host.c_str());  // SNI for names only
  if (!options.insecure_skip_verify) s->set_verify_callback(asio::ssl::host_name_verification(url.host));
  auto [hec] = co_await s->async_handshake(asio::ssl::stream_base::client, kUse);
  if (hec) co_return Fail(ErrorCode::kUnavailable, "TLS handshake with {}: {}", peer, Why(hec, limit));
  beast::get_lowest_layer(*s).expires_never();
  secure = std::move(s);
  co_return Result<void>{};
}

asio::awaitable<Result<Response>> HttpClient::Impl::Exchange(const ClientRequest& request) {
  if (Connected() && Stale()) Disconnect();
  bool reused = Connected();
  for (int attempt = 0;; ++attempt) {
    if (!Connected()) {
      reused = false;
      auto connected = co_await Connect();
      if (!connected) co_return Fail(connected.error());
    }
    bool sent = false, got_any = false, timed_out = false;
    // (no co_await inside ?: — gcc 12 miscompiles temporaries there)
    Result<Response> out;
    if (secure) {
      out = co_await SendAndRead(*this, *secure, request, sent, got_any, timed_out);
    } else {
      out = co_await SendAndRead(*this, *plain, request, sent, got_any, timed_out);
    }
    if (out) co_return out;
    Disconnect();
    // The server may still close an idle keep-alive connection just as we reuse it; retry that once —
    // but a request the server may have acted on (it was sent whole, and the reply timed out or
    // the server died before answering) is retried only when doing it twice is harmless.
    const bool idempotent = request.method == "GET" || request.method == "HEAD" || request.method == "PUT" ||
                            request.method == "DELETE" || request.method == "OPTIONS";
    const bool maybe_acted = sent && !idempotent;  // a timeout ends it anyway (below)
    if (!reused || got_any || timed_out || maybe_acted || attempt > 0 || cancelled) co_return out;
  }
}

asio::awaitable<Result<void>> HttpClient::Impl::OpenStream(
    const ClientRequest& request, const std::function<bool(const SseEvent&)>& on_event) {
  Disconnect();  // a stream gets its own connection and consumes it
  auto connected = co_await Connect();
  if (!connected) co_return Fail(connected.error());
  Result<void> out;
  if (secure) {
    out = co_await StreamOn(*this, *secure, request, on_event);
  } else {
    out = co_await StreamOn(*this, *plain, request, on_event);
  }
  Disconnect();
  co_return out;
}

Result<std::unique_ptr<HttpClient>> HttpClient::Create(std::string_view base_url, ClientOptions options) {
  auto url = ParseBaseUrl(base_url);
  if (!url) return Fail(url.error());
  auto impl = std::make_unique<Impl>();
  impl->url = *url;
  impl->options = std::move(options);
  impl->peer = url->host + ":" + std::to_string(url->port);
  if (url->tls) {
    impl->tls.emplace(asio::ssl::context::tls_client);
    ErrorCodeB ec;
    if (impl->options.insecure_skip_verify) {
      impl->tls->set_verify_mode(asio::ssl::verify_none);
    } else {
      impl->tls->set_verify_mode(asio::ssl::verify_peer);
      if (impl->options.ca_file.empty()) {
        impl->tls->set_default_verify_paths(ec);
      } else if (!std::ifstream(impl->options.ca_file)) {
        return Fail(ErrorCode::kInvalidArgument, "CA file '{}' cannot be read", impl->options.ca_file);
      } else {
        impl->tls->load_verify_file(impl->options.ca_file, ec);
      }
      if (ec)
        return Fail(ErrorCode::kInvalidArgument, "CA file '{}': {}", impl->options.ca_file, ec.message());
    }
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() {
  impl_->Disconnect();
}

Result<Response> HttpClient::Do(const ClientRequest& request) {
  return impl_->RunSync(impl_->Exchange(request));
}

Result<Response> HttpClient::Get(std::string target) {
  ClientRequest r;
  r.target = std::move(target);
  return Do(r);
}

Result<Response> HttpClient::Post(std::string target, std::string body, std::string content_type) {
  ClientRequest r;
  r.method = "POST";
  r.target = std::move(target);
  r.body = std::move(body);
  r.headers["Content-Type"] = std::move(content_type);
  return Do(r);
}

Result<void> HttpClient::Stream(std::string target, const std::function<bool(const SseEvent&)>& on_event,
                                HeaderMap headers) {
  ClientRequest r;
  r.target = std::move(target);
  r.headers = std::move(headers);
  r.headers["Accept"] = "text/event-stream";
  return impl_->RunSync(impl_->OpenStream(r, on_event));
}

void HttpClient::Cancel() {
  std::lock_guard lock(impl_->mu);
  if (!impl_->running) return;
  asio::post(impl_->ioc, [impl = impl_.get(), gen = impl_->run_gen] {
    if (gen != impl->run_gen) return;  // read without mu: written only on this thread's run boundaries
    impl->cancelled = true;
    if (impl->Connected()) {
      ErrorCodeB ignored;
      impl->Lowest().socket().close(ignored);
    }
  });
}

}  // namespace gpuslice::net
