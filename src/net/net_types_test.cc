// Unit tests of the Boost-free parts of net: target parsing, routing, SSE format and parsing,
// listen addresses and URLs. No sockets.
#include <gtest/gtest.h>

#include "net/deferred.h"
#include "net/http_types.h"
#include "net/listen_address.h"
#include "net/router.h"

namespace gpuslice::net {
namespace {

TEST(NetParseTarget, SplitsPathAndDecodesQuery) {
  auto t = ParseTarget("/v1/jobs?state=running&team=a%20b&x=1+2&flag&&empty=");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->raw_path, "/v1/jobs");
  EXPECT_EQ(t->path, "/v1/jobs");
  ASSERT_EQ(t->query.size(), 5u);
  EXPECT_EQ(t->query[0], (std::pair<std::string, std::string>{"state", "running"}));
  EXPECT_EQ(t->query[1].second, "a b");
  EXPECT_EQ(t->query[2].second, "1 2");
  EXPECT_EQ(t->query[3], (std::pair<std::string, std::string>{"flag", ""}));
  EXPECT_EQ(t->query[4], (std::pair<std::string, std::string>{"empty", ""}));
}

TEST(NetParseTarget, DecodesPathButKeepsRawForRouting) {
  auto t = ParseTarget("/files/a%2Fb/%E2%9C%93#frag");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->raw_path, "/files/a%2Fb/%E2%9C%93");
  EXPECT_EQ(t->path, "/files/a/b/\xE2\x9C\x93");
  EXPECT_TRUE(t->query.empty());
}

TEST(NetParseTarget, RejectsOddInputs) {
  for (std::string_view bad : {"", "v1/jobs", "http://host/x", "/%", "/%4", "/%zz", "/a%00b", "/?k=%",
                               "/?%GG=1", "/a\x01", "/a b", "/%0a"}) {
    auto t = ParseTarget(bad);
    EXPECT_FALSE(t) << "accepted '" << bad << "'";
    if (!t) {
      EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument);
    }
  }
}

TEST(NetParseTarget, HandlesEdgeShapes) {
  EXPECT_TRUE(ParseTarget("/"));
  EXPECT_TRUE(ParseTarget("/?"));
  EXPECT_TRUE(ParseTarget("/?&=&=="));
  auto t = ParseTarget("/?a=b=c");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->query[0].second, "b=c");
  const std::string at_limit = "/" + std::string(kMaxTargetBytes - 1, 'a');
  EXPECT_TRUE(ParseTarget(at_limit));
  const std::string too_long = "/" + std::string(kMaxTargetBytes, 'a');
  auto long_result = ParseTarget(too_long);
  ASSERT_FALSE(long_result);
  EXPECT_NE(long_result.error().message.find("limit"), std::string::npos);
  // Many escapes and separators in one long target stay linear and correct.
  std::string many = "/x?";
  for (int i = 0; i < 800; ++i) many += "k%41=%42&";
  auto m = ParseTarget(many);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->query.size(), 800u);
  EXPECT_EQ(m->query[799], (std::pair<std::string, std::string>{"kA", "B"}));
}

TEST(NetPercentCoding, RoundTripsEveryByteButNul) {
  std::string all;
  for (int c = 1; c < 256; ++c) all.push_back(static_cast<char>(c));
  auto back = PercentDecode(PercentEncode(all), false);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, all);
  EXPECT_EQ(PercentEncode("a b/c~"), "a%20b%2Fc~");
}

TEST(NetHeaderMap, LookupIsCaseInsensitive) {
  HeaderMap h;
  h["Content-Type"] = "application/json";
  EXPECT_EQ(FindHeader(h, "content-type"), "application/json");
  EXPECT_EQ(FindHeader(h, "CONTENT-TYPE"), "application/json");
  EXPECT_FALSE(FindHeader(h, "content-length"));
}

TEST(NetResponse, ErrorBodyIsJson) {
  Response r = Response::Error(404, "not-found", "no \"job\" 7\n");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.body, R"({"error":{"code":"not-found","message":"no \"job\" 7\n"}})");
  // Invalid UTF-8 in a message is replaced, not thrown.
  EXPECT_NO_THROW(JsonErrorBody("x", "\xff\xfe"));
}

Response Dispatch(const Router& router, std::string method, std::string target) {
  Request req;
  req.method = std::move(method);
  req.target = target;
  auto parsed = ParseTarget(target);
  EXPECT_TRUE(parsed);
  req.path = parsed->path;
  req.query = parsed->query;
  Reply reply = router.Dispatch(req, parsed->raw_path);
  EXPECT_NE(reply.response(), nullptr);
  return reply.response() ? *reply.response() : Response{};
}

Router TestRouter() {
  Router router;
  auto text = [](std::string body) {
    return [body](Request& req) -> Reply {
      std::string out = body;
      for (const auto& [k, v] : req.params) out += " " + k + "=" + v;
      return Response::Text(200, out);
    };
  };
  EXPECT_TRUE(router.Add("GET", "/v1/jobs", text("list")));
  EXPECT_TRUE(router.Add("POST", "/v1/jobs", text("submit")));
  EXPECT_TRUE(router.Add("GET", "/v1/jobs/{id}", text("get")));
  EXPECT_TRUE(router.Add("DELETE", "/v1/jobs/{id}", text("cancel")));
  EXPECT_TRUE(router.Add("GET", "/v1/jobs/stats", text("stats")));
  EXPECT_TRUE(router.Add("GET", "/v1/nodes/{node}/gpus/{gpu}", text("gpu")));
  EXPECT_TRUE(router.Add("GET", "/boom", [](Request&) -> Reply { throw std::runtime_error("kaput"); }));
  return router;
}

TEST(NetRouter, MatchesLiteralsAndCaptures) {
  Router router = TestRouter();
  EXPECT_EQ(Dispatch(router, "GET", "/v1/jobs").body, "list");
  EXPECT_EQ(Dispatch(router, "POST", "/v1/jobs").body, "submit");
  EXPECT_EQ(Dispatch(router, "GET", "/v1/jobs/42").body, "get id=42");
  EXPECT_EQ(Dispatch(router, "GET", "/v1/jobs/stats").body, "stats");  // literal beats capture
  EXPECT_EQ(Dispatch(router, "GET", "/v1/jobs/a%2Fb").body, "get id=a/b");
  EXPECT_EQ(Dispatch(router, "GET", "/v1/nodes/n1/gpus/3?x=1").body, "gpu gpu=3 node=n1");
}

TEST(NetRouter, Answers404And405WithJson) {
  Router router = TestRouter();
  Response missing = Dispatch(router, "GET", "/v1/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("\"not-found\""), std::string::npos);
  EXPECT_EQ(Dispatch(router, "GET", "/v1/jobs/").status, 404);  // empty capture does not match
  Response wrong = Dispatch(router, "PUT", "/v1/jobs/7");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.Header("Allow"), "DELETE, GET");
  EXPECT_NE(wrong.body.find("method-not-allowed"), std::string::npos);
  Response boom = Dispatch(router, "GET", "/boom");
  EXPECT_EQ(boom.status, 500);
  EXPECT_NE(boom.body.find("kaput"), std::string::npos);
}

TEST(NetRouter, RejectsBadPatterns) {
  Router router;
  auto h = [](Request&) -> Reply { return Response{}; };
  EXPECT_FALSE(router.Add("GET", "jobs", h));
  EXPECT_FALSE(router.Add("GET", "/jobs/{id", h));
  EXPECT_FALSE(router.Add("GET", "/jobs/{}", h));
  EXPECT_TRUE(router.Add("GET", "/jobs/{id}", h));
  auto dup = router.Add("GET", "/jobs/{id}", h);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
}

TEST(NetSse, FormatsMultiLineData) {
  EXPECT_EQ(FormatSseEvent("job", "a\nb"), "event: job\ndata: a\ndata: b\n\n");
  EXPECT_EQ(FormatSseEvent("", ""), "data: \n\n");
  EXPECT_EQ(FormatSseEvent("x\ny", "1"), "event: xy\ndata: 1\n\n");
  EXPECT_EQ(FormatSseEvent("job", "{}", "4\n2"), "id: 42\nevent: job\ndata: {}\n\n");
}

TEST(NetSse, ParserHandlesSplitsCommentsAndLineEndings) {
  SseParser parser;
  const std::string wire =
      ": hello\n\nevent: job\r\ndata: a\r\ndata: b\r\n\r\ndata:plain\rid: 9\r\r" + FormatSseEvent("x", "y");
  std::vector<SseEvent> events;
  for (char c : wire) {  // one byte at a time: every split point
    auto got = parser.Feed(std::string_view(&c, 1));
    ASSERT_TRUE(got);
    events.insert(events.end(), got->begin(), got->end());
  }
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event, "job");
  EXPECT_EQ(events[0].data, "a\nb");
  EXPECT_EQ(events[1].event, "message");
  EXPECT_EQ(events[1].data, "plain");
  EXPECT_EQ(events[1].id, "9");
  EXPECT_EQ(events[2].event, "x");
  EXPECT_EQ(events[2].data, "y");
}

TEST(NetSse, StreamQueuesUntilClosedAndRunsOnCloseOnce) {
  auto stream = SseStream::Create();
  int closed = 0;
  stream->OnClose([&] { ++closed; });
  EXPECT_TRUE(stream->Send("a", "1"));
  std::string out;
  EXPECT_FALSE(stream->Drain(out));
  EXPECT_EQ(out, "event: a\ndata: 1\n\n");
  stream->Close();
  EXPECT_FALSE(stream->Send("b", "2"));
  stream->Finish(true);
  stream->Finish(false);
  EXPECT_EQ(closed, 1);
  EXPECT_TRUE(stream->ClientGone());
  stream->OnClose([&] { ++closed; });  // after the end: runs at once
  EXPECT_EQ(closed, 2);
}

TEST(NetResponseWriter, FirstCompletionWins) {
  auto w = ResponseWriter::Create(std::chrono::milliseconds(10), Response::Text(204, ""));
  EXPECT_FALSE(w->Done());
  EXPECT_TRUE(w->Complete(Response::Text(200, "first")));
  EXPECT_FALSE(w->Complete(Response::Text(200, "second")));
  EXPECT_FALSE(w->CompleteWithTimeout());
  auto r = w->TakeIfDone();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "first");
}

TEST(ListenAddress, ParsesHostPortForms) {
  auto a = ParseListenAddress("127.0.0.1:0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 0);
  auto v6 = ParseListenAddress("[::1]:8080");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 8080);
  EXPECT_EQ(ParseListenAddress(":9")->host, "0.0.0.0");
  for (std::string_view bad : {"127.0.0.1", "1.2.3.4:", "h:65536", "h:-1", "h:8x", "[::1:80"}) {
    EXPECT_FALSE(ParseListenAddress(bad)) << bad;
  }
}

TEST(BaseUrl, ParsesSchemesAndDefaults) {
  auto u = ParseBaseUrl("https://example.org/");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 443);
  auto plain = ParseBaseUrl("127.0.0.1:7070");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->tls);
  EXPECT_EQ(plain->port, 7070);
  EXPECT_FALSE(ParseBaseUrl("ftp://x"));
  EXPECT_FALSE(ParseBaseUrl("http://x/v1"));
  EXPECT_FALSE(ParseBaseUrl("http://"));
}

}  // namespace
}  // namespace gpuslice::net
