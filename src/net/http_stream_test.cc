// Long-polls (ResponseWriter) and Server-Sent Events (SseStream) over real loopback sockets.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "net/http_client.h"
#include "net/http_server.h"
#include "net/net_testing.h"

namespace gpuslice::net {
namespace {

using namespace std::chrono_literals;
using testing::RawConnect;
using testing::ReadUntil;
using testing::ReadUntilClose;
using testing::SendAll;

// Holds parked long-polls and open streams, as a server's event hub would.
struct Hub {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<ResponseWriter>> waiters;
  std::vector<std::shared_ptr<SseStream>> streams;

  template <class T>
  void Add(std::vector<std::shared_ptr<T>>& list, std::shared_ptr<T> item) {
    std::lock_guard lock(mu);
    list.push_back(std::move(item));
    cv.notify_all();
  }
  bool WaitFor(std::size_t waiter_count, std::size_t stream_count, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout,
                       [&] { return waiters.size() >= waiter_count && streams.size() >= stream_count; });
  }
};

Router HubRouter(Hub& hub) {
  Router router;
  EXPECT_TRUE(router.Add("GET", "/wait", [&hub](Request& req) -> Reply {
    const auto timeout = std::chrono::milliseconds(std::stoi(req.Query("timeout_ms").value_or("10000")));
    auto writer = ResponseWriter::Create(timeout, Response::Text(204, ""));
    hub.Add(hub.waiters, writer);
    return Reply::Deferred(writer);
  }));
  EXPECT_TRUE(router.Add("GET", "/events", [&hub](Request&) -> Reply {
    auto stream = SseStream::Create();
    hub.Add(hub.streams, stream);
    return Reply::Stream(stream);
  }));
  EXPECT_TRUE(router.Add("GET", "/ping", [](Request&) -> Reply { return Response::Text(200, "pong"); }));
  return router;
}

std::unique_ptr<HttpServer> StartServer(Router router, ServerOptions options = {}) {
  auto server = HttpServer::Start(std::move(options), std::move(router));
  EXPECT_TRUE(server) << server.error().message;
  return std::move(*server);
}

std::string Url(const HttpServer& server) {
  return "http://127.0.0.1:" + std::to_string(server.port());
}

TEST(NetLongPoll, ParkedThenCompletedFromAnotherThread) {
  Hub hub;
  auto server = StartServer(HubRouter(hub));
  Result<Response> result;
  std::thread caller([&] { result = (*HttpClient::Create(Url(*server)))->Get("/wait"); });
  ASSERT_TRUE(hub.WaitFor(1, 0));
  // The parked request holds no thread: the server still answers others.
  auto other = (*HttpClient::Create(Url(*server)))->Get("/ping");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->body, "pong");
  std::thread completer([&] { EXPECT_TRUE(hub.waiters[0]->Complete(Response::Text(200, "changed"))); });
  completer.join();
  caller.join();
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body, "changed");
  EXPECT_FALSE(hub.waiters[0]->Complete(Response::Text(200, "again")));
}

TEST(NetLongPoll, ParkedThenTimesOutWithChosenResponse) {
  Hub hub;
  auto server = StartServer(HubRouter(hub));
  auto client = *HttpClient::Create(Url(*server));
  const auto start = std::chrono::steady_clock::now();
  auto r = client->Get("/wait?timeout_ms=150");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 204);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  EXPECT_FALSE(hub.waiters[0]->Complete(Response::Text(200, "too late")));
  // The connection stays usable after a timed-out park.
  auto again = client->Get("/ping");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body, "pong");
}

TEST(NetLongPoll, CompletedBeforeTheServerParksIt) {
  Router router;
  ASSERT_TRUE(router.Add("GET", "/now", [](Request&) -> Reply {
    auto writer = ResponseWriter::Create(10s, Response::Text(504, ""));
    writer->Complete(Response::Text(200, "early"));
    return Reply::Deferred(writer);
  }));
  auto server = StartServer(std::move(router));
  auto r = (*HttpClient::Create(Url(*server)))->Get("/now");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "early");
}

TEST(NetLongPoll, ThousandParkedDoNotUseThousandThreads) {
  constexpr int kParked = 1000;
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < 2 * kParked + 100) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 2 * kParked + 100);
    setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < 2 * kParked + 100) GTEST_SKIP() << "file descriptor limit too low";
  }
  Hub hub;
  ServerOptions options;
  options.threads = 2;
  auto server = StartServer(HubRouter(hub), options);
  const int threads_before = testing::ThreadCount();
  std::vector<int> fds;
  for (int i = 0; i < kParked; ++i) {
    const int fd = RawConnect(server->port());
    ASSERT_GE(fd, 0) << "connection " << i;
    ASSERT_TRUE(SendAll(fd, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
    fds.push_back(fd);
  }
  ASSERT_TRUE(hub.WaitFor(kParked, 0));
  EXPECT_EQ(server->ConnectionCountForTest(), static_cast<std::size_t>(kParked));
  EXPECT_LE(testing::ThreadCount(), threads_before + 2) << "parked requests must not hold threads";
  {
    std::lock_guard lock(hub.mu);
    for (int i = 0; i < kParked; ++i) hub.waiters[i]->Complete(Response::Text(200, "w" + std::to_string(i)));
  }
  int answered = 0;
  for (int fd : fds) {
    const std::string reply = ReadUntil(fd, "\r\n\r\nw");
    if (reply.rfind("HTTP/1.1 200", 0) == 0) ++answered;
    ::close(fd);
  }
  EXPECT_EQ(answered, kParked);
}

TEST(NetSse, ClientReceivesEventsInOrder) {
  Hub hub;
  auto server = StartServer(HubRouter(hub));
  std::vector<SseEvent> got;
  Result<void> status;
  std::thread reader([&] {
    auto client = *HttpClient::Create(Url(*server));
    status = client->Stream("/events", [&](const SseEvent& e) {
      got.push_back(e);
      return true;
    });
  });
  ASSERT_TRUE(hub.WaitFor(0, 1));
  auto stream = hub.streams[0];
  std::thread producer([&] {
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(stream->Send("tick", "n=" + std::to_string(i) + "\nline2"));
    stream->Close();
  });
  producer.join();
  reader.join();
  ASSERT_TRUE(status) << status.error().message;
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(got[i].event, "tick");
    EXPECT_EQ(got[i].data, "n=" + std::to_string(i) + "\nline2");
  }
}

TEST(NetSse, ServerDetectsClientDisconnect) {
  Hub hub;
  auto server = StartServer(HubRouter(hub));
  const int fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(hub.WaitFor(0, 1));
  auto stream = hub.streams[0];
  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;
  stream->OnClose([&] {
    std::lock_guard lock(mu);
    closed = true;
    cv.notify_all();
  });
  ASSERT_TRUE(stream->Send("hello", "1"));
  EXPECT_NE(ReadUntil(fd, "data: 1\n\n").find("text/event-stream"), std::string::npos);
  ::close(fd);
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return closed; }));
  EXPECT_TRUE(stream->ClientGone());
  EXPECT_FALSE(stream->Send("after", "2"));
}

TEST(NetSse, KeepAliveCommentsOnIdleStream) {
  Hub hub;
  ServerOptions options;
  options.sse_keepalive = 50ms;
  auto server = StartServer(HubRouter(hub), options);
  const int fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(ReadUntil(fd, ": keep-alive\n\n", 3s).find(": keep-alive"), std::string::npos);
  ::close(fd);
}

TEST(NetSse, ClientStreamIsCancellable) {
  Hub hub;
  auto server = StartServer(HubRouter(hub));
  auto client = *HttpClient::Create(Url(*server));
  Result<void> status;
  std::atomic<int> events{0};
  std::thread reader([&] {
    status = client->Stream("/events", [&](const SseEvent&) {
      ++events;
      return true;
    });
  });
  ASSERT_TRUE(hub.WaitFor(0, 1));
  hub.streams[0]->Send("one", "1");
  while (events.load() == 0) std::this_thread::sleep_for(1ms);
  client->Cancel();
  reader.join();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(status.error().message.find("cancelled"), std::string::npos) << status.error().message;
}

TEST(NetSse, CallbackReturningFalseEndsStreamAndNon200IsAnError) {
  Hub hub;
  auto server = StartServer(HubRouter(hub));
  auto client = *HttpClient::Create(Url(*server));
  std::thread producer([&] {
    ASSERT_TRUE(hub.WaitFor(0, 1));
    for (int i = 0; i < 5; ++i) hub.streams[0]->Send("e", std::to_string(i));
  });
  int seen = 0;
  auto status = client->Stream("/events", [&](const SseEvent&) { return ++seen < 2; });
  producer.join();
  EXPECT_TRUE(status);
  EXPECT_EQ(seen, 2);
  auto missing = client->Stream("/nope", [](const SseEvent&) { return true; });
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("HTTP 404"), std::string::npos) << missing.error().message;
}

TEST(HttpServer, StopReleasesParkedPollsAndStreams) {
  Hub hub;
  auto server = StartServer(HubRouter(hub));
  const int poll_fd = RawConnect(server->port());
  const int sse_fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(poll_fd, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(SendAll(sse_fd, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(hub.WaitFor(1, 1));
  const auto start = std::chrono::steady_clock::now();
  server->Stop(5s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(ReadUntilClose(poll_fd).rfind("HTTP/1.1 503", 0), 0u);
  EXPECT_NE(ReadUntilClose(sse_fd).find("text/event-stream"), std::string::npos);
  EXPECT_TRUE(hub.streams[0]->Closed());
  EXPECT_FALSE(hub.waiters[0]->Complete(Response::Text(200, "late")));  // harmless after stop
  ::close(poll_fd);
  ::close(sse_fd);
}

}  // namespace
}  // namespace gpuslice::net
