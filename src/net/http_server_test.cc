// HttpServer + HttpClient over real loopback sockets: routing, limits, timeouts, keep-alive,
// concurrency, TLS and graceful stop. Long-polls and SSE are in http_stream_test.cc.
#include "net/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "net/http_client.h"
#include "net/net_testing.h"

namespace gpuslice::net {
namespace {

using namespace std::chrono_literals;
using testing::RawConnect;
using testing::ReadUntilClose;
using testing::SendAll;

Router EchoRouter() {
  Router router;
  EXPECT_TRUE(router.Add("GET", "/v1/jobs/{id}", [](Request& req) -> Reply {
    std::string body = "id=" + req.Param("id") + " state=" + req.Query("state").value_or("-") +
                       " hdr=" + req.Header("x-test").value_or("-");
    return Response::Text(200, body);
  }));
  EXPECT_TRUE(router.Add("POST", "/v1/echo", [](Request& req) -> Reply {
    Response r = Response::Json(201, req.body);
    r.headers["X-Peer"] = req.peer;
    return r;
  }));
  EXPECT_TRUE(
      router.Add("GET", "/peer", [](Request& req) -> Reply { return Response::Text(200, req.peer); }));
  EXPECT_TRUE(router.Add("GET", "/tick", [](Request&) -> Reply {
    auto stream = SseStream::Create();
    for (int i = 0; i < 3; ++i) stream->Send("tick", std::to_string(i));
    stream->Close();
    return Reply::Stream(stream);
  }));
  return router;
}

std::unique_ptr<HttpServer> StartServer(Router router, ServerOptions options = {}) {
  auto server = HttpServer::Start(std::move(options), std::move(router));
  EXPECT_TRUE(server) << server.error().message;
  return server ? std::move(*server) : nullptr;
}

std::unique_ptr<HttpClient> Client(int port, ClientOptions options = {}) {
  auto client = HttpClient::Create("http://127.0.0.1:" + std::to_string(port), options);
  EXPECT_TRUE(client) << client.error().message;
  return std::move(*client);
}

TEST(HttpServer, RoutesParamsQueryAndHeaders) {
  auto server = StartServer(EchoRouter());
  ASSERT_GT(server->port(), 0);
  auto client = Client(server->port());
  ClientRequest req;
  req.target = "/v1/jobs/j%2042?state=running";
  req.headers["X-Test"] = "yes";
  auto r = client->Do(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "id=j 42 state=running hdr=yes");
  auto post = client->Post("/v1/echo", R"({"a":1})");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 201);
  EXPECT_EQ(post->body, R"({"a":1})");
  EXPECT_EQ(post->Header("content-type"), "application/json");
}

TEST(HttpServer, UnknownPathIs404AndWrongMethodIs405) {
  auto server = StartServer(EchoRouter());
  auto client = Client(server->port());
  auto missing = client->Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find(R"("code":"not-found")"), std::string::npos);
  auto wrong = client->Post("/v1/jobs/7", "");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(wrong->Header("allow"), "GET");
  auto bad_target = client->Get("/v1/jobs/%zz");
  ASSERT_TRUE(bad_target);
  EXPECT_EQ(bad_target->status, 400);
}

TEST(HttpServer, BodyOverLimitIs413WithJson) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  auto server = StartServer(EchoRouter(), options);
  auto client = Client(server->port());
  auto ok = client->Post("/v1/echo", std::string(1024, 'x'));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 201);
  auto big = client->Post("/v1/echo", std::string(64 * 1024, 'x'));
  ASSERT_TRUE(big) << big.error().message;
  EXPECT_EQ(big->status, 413);
  EXPECT_NE(big->body.find(R"("code":"payload-too-large")"), std::string::npos);
  // The client reconnects transparently after the server closed that connection.
  auto after = client->Get("/v1/jobs/1");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

TEST(HttpServer, HeadersOverLimitAre431) {
  ServerOptions options;
  options.max_header_bytes = 512;
  auto server = StartServer(EchoRouter(), options);
  auto client = Client(server->port());
  ClientRequest req;
  req.target = "/v1/jobs/1";
  req.headers["X-Big"] = std::string(2048, 'h');
  auto r = client->Do(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 431);
}

TEST(HttpServer, MalformedRequestIs400) {
  auto server = StartServer(EchoRouter());
  const int fd = RawConnect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "GARBAGE\x01 / HTTP/1.1\r\n\r\n"));
  const std::string reply = ReadUntilClose(fd);
  ::close(fd);
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_NE(reply.find(R"("code":"bad-request")"), std::string::npos);
}

TEST(HttpServer, SlowClientGets408AndIdleConnectionIsClosedSilently) {
  ServerOptions options;
  options.request_timeout = 200ms;
  auto server = StartServer(EchoRouter(), options);
  const int slow = RawConnect(server->port());
  ASSERT_GE(slow, 0);
  ASSERT_TRUE(SendAll(slow, "GET /v1/jobs/1 HTTP/1.1\r\nHost: x\r\n"));  // never finishes
  const std::string reply = ReadUntilClose(slow);
  ::close(slow);
  EXPECT_EQ(reply.rfind("HTTP/1.1 408", 0), 0u) << reply;
  EXPECT_NE(reply.find("request-timeout"), std::string::npos);

  const int idle = RawConnect(server->port());
  ASSERT_GE(idle, 0);
  EXPECT_EQ(ReadUntilClose(idle), "");  // closed with no reply
  ::close(idle);
}

TEST(HttpServer, ExpectContinueGets100BeforeTheBody) {
  auto server = StartServer(EchoRouter());
  const int fd = RawConnect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd,
                      "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
                      "Connection: close\r\n\r\n"));
  EXPECT_NE(testing::ReadUntil(fd, "\r\n\r\n").find("HTTP/1.1 100 Continue"), std::string::npos);
  ASSERT_TRUE(SendAll(fd, "hello"));
  const std::string reply = ReadUntilClose(fd);
  ::close(fd);
  EXPECT_EQ(reply.rfind("HTTP/1.1 201", 0), 0u) << reply;
  EXPECT_NE(reply.find("hello"), std::string::npos);
}

TEST(HttpClient, RetriesOnceWhenTheServerClosedAnIdleConnection) {
  ServerOptions options;
  options.request_timeout = 100ms;  // also the idle keep-alive limit
  auto server = StartServer(EchoRouter(), options);
  auto client = Client(server->port());
  auto first = client->Get("/peer");
  ASSERT_TRUE(first);
  std::this_thread::sleep_for(300ms);  // the server closes the idle connection meanwhile
  auto second = client->Get("/peer");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->status, 200);
  EXPECT_NE(first->body, second->body);  // a new connection, so a new client port
}

TEST(HttpServer, KeepAliveServesManyRequestsOnOneConnection) {
  auto server = StartServer(EchoRouter());
  auto client = Client(server->port());
  std::set<std::string> peers;
  for (int i = 0; i < 20; ++i) {
    auto r = client->Get("/peer");
    ASSERT_TRUE(r) << r.error().message;
    peers.insert(r->body);
  }
  EXPECT_EQ(peers.size(), 1u) << "each request should reuse the same client port";
  // Raw pipelining: two requests in one write, two replies on one connection.
  const int fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd,
                      "GET /v1/jobs/a HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/jobs/b HTTP/1.1\r\nHost: x\r\n"
                      "Connection: close\r\n\r\n"));
  const std::string both = ReadUntilClose(fd);
  ::close(fd);
  EXPECT_NE(both.find("id=a"), std::string::npos);
  EXPECT_NE(both.find("id=b"), std::string::npos);
}

TEST(HttpServer, ConcurrentClients) {
  ServerOptions options;
  options.threads = 4;
  auto server = StartServer(EchoRouter(), options);
  constexpr int kThreads = 50;
  constexpr int kRequests = 20;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto client = HttpClient::Create("127.0.0.1:" + std::to_string(server->port()));
      if (!client) return;
      for (int i = 0; i < kRequests; ++i) {
        const std::string id = std::to_string(t) + "-" + std::to_string(i);
        auto r = (*client)->Get("/v1/jobs/" + id);
        if (r && r->status == 200 && r->body.starts_with("id=" + id + " ")) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kRequests);
}

TEST(HttpClient, ConnectionRefusedIsUnavailable) {
  int port = 0;
  {
    auto server = StartServer(EchoRouter());
    port = server->port();
  }  // stopped: nothing listens there now
  ClientOptions options;
  options.connect_timeout = 1s;
  auto client = Client(port, options);
  auto r = client->Get("/v1/jobs/1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("connect to 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(HttpClient::Create("ftp://x"));
}

TEST(HttpClient, TotalTimeoutIsUnavailable) {
  Router router;
  ASSERT_TRUE(router.Add("GET", "/slow", [](Request&) -> Reply {
    return Reply::Deferred(ResponseWriter::Create(2s, Response::Text(200, "late")));
  }));
  auto server = StartServer(std::move(router));
  ClientOptions options;
  options.request_timeout = 200ms;
  auto client = Client(server->port(), options);
  const auto start = std::chrono::steady_clock::now();
  auto r = client->Get("/slow");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(r.error().message.find("timed out after 200 ms"), std::string::npos) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
}

TEST(HttpServer, StartFailsClearlyOnBadListenAndTlsFiles) {
  ServerOptions bad_listen;
  bad_listen.listen = "not-an-ip:80";
  auto a = HttpServer::Start(bad_listen, Router{});
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, ErrorCode::kInvalidArgument);

  ServerOptions missing;
  missing.tls_cert_file = "/nonexistent/cert.pem";
  missing.tls_key_file = "/nonexistent/key.pem";
  auto b = HttpServer::Start(missing, Router{});
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("/nonexistent/cert.pem"), std::string::npos) << b.error().message;

  const auto dir = testing::TempDir("badtls");
  std::ofstream(dir / "junk.pem") << "not a certificate\n";
  ServerOptions junk;
  junk.tls_cert_file = (dir / "junk.pem").string();
  junk.tls_key_file = (dir / "junk.pem").string();
  auto c = HttpServer::Start(junk, Router{});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("not a usable PEM certificate"), std::string::npos) << c.error().message;
  std::filesystem::remove_all(dir);
}

TEST(HttpServer, TlsRoundTripWithSelfSignedCert) {
  if (!testing::HaveOpenssl()) GTEST_SKIP() << "openssl CLI not found";
  const auto dir = testing::TempDir("tls");
  ASSERT_TRUE(testing::MakeSelfSignedCert(dir));
  ServerOptions options;
  options.tls_cert_file = (dir / "cert.pem").string();
  options.tls_key_file = (dir / "key.pem").string();
  auto server = StartServer(EchoRouter(), options);
  ASSERT_TRUE(server->tls());
  const std::string url = "https://127.0.0.1:" + std::to_string(server->port());

  ClientOptions verified;
  verified.ca_file = options.tls_cert_file;
  auto client = HttpClient::Create(url, verified);
  ASSERT_TRUE(client);
  for (int i = 0; i < 3; ++i) {  // keep-alive over TLS too
    auto r = (*client)->Post("/v1/echo", "secret-" + std::to_string(i));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->body, "secret-" + std::to_string(i));
  }

  ClientOptions insecure;
  insecure.insecure_skip_verify = true;
  auto loose = HttpClient::Create(url, insecure);
  ASSERT_TRUE(loose);
  auto r = (*loose)->Get("/v1/jobs/t");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);

  // Without the CA the certificate is not trusted.
  auto strict = HttpClient::Create(url, ClientOptions{});
  ASSERT_TRUE(strict);
  auto refused = (*strict)->Get("/v1/jobs/t");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(refused.error().message.find("TLS handshake"), std::string::npos) << refused.error().message;

  // A stream over TLS: the server reads (to spot a disconnect) while it writes events.
  std::vector<std::string> got;
  auto streamed = (*client)->Stream("/tick", [&](const SseEvent& e) {
    got.push_back(e.data);
    return true;
  });
  ASSERT_TRUE(streamed) << streamed.error().message;
  EXPECT_EQ(got, (std::vector<std::string>{"0", "1", "2"}));

  // Plain HTTP to the TLS port fails cleanly instead of hanging.
  ClientOptions quick;
  quick.request_timeout = 2s;
  auto plain = Client(server->port(), quick);
  EXPECT_FALSE(plain->Get("/v1/jobs/t"));
  std::filesystem::remove_all(dir);
}

TEST(HttpServer, GracefulStopFinishesInFlightRequests) {
  std::atomic<bool> entered{false};
  Router router;
  ASSERT_TRUE(router.Add("GET", "/work", [&](Request&) -> Reply {
    entered = true;
    std::this_thread::sleep_for(300ms);  // a slow (blocking) handler already running at Stop
    return Response::Text(200, "done");
  }));
  auto server = StartServer(std::move(router));
  Result<Response> result;
  std::thread caller([&] {
    auto client = HttpClient::Create("127.0.0.1:" + std::to_string(server->port()));
    result = (*client)->Get("/work");
  });
  while (!entered) std::this_thread::sleep_for(1ms);
  const int idle = RawConnect(server->port());  // an idle keep-alive connection: closed by Stop
  server->Stop(5s);
  caller.join();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->body, "done");
  EXPECT_EQ(result->Header("connection"), "close");
  EXPECT_EQ(ReadUntilClose(idle, 2s), "");
  ::close(idle);
  EXPECT_EQ(server->ConnectionCountForTest(), 0u);
  const int late = RawConnect(server->port());  // no longer accepting
  EXPECT_LT(late, 0);
  if (late >= 0) ::close(late);
}

}  // namespace
}  // namespace gpuslice::net
