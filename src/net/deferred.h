// Responses that outlive the handler call: long-polls (ResponseWriter) and Server-Sent Events
// (SseStream), plus the SSE wire format both ends use.
//
// A handler creates one of these, keeps a shared_ptr wherever the later event will find it (a
// waiter list, an event hub) and returns it in a Reply. While parked, the connection costs a few
// hundred bytes and no thread: the server waits on a timer and is woken by Complete()/Send().
//
// Ownership: shared between the handler's owner and the server connection. Either side may drop
// its reference first; calls on an object whose connection is gone are harmless no-ops.
// Thread-safety: every public method may be called from any thread.
// The Attach/Detach/Take* methods are the server's side of the handshake; handlers do not call them.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_types.h"

namespace gpuslice::net {

// A response that another thread completes later, or that times out with a chosen response.
class ResponseWriter {
 public:
  // After `timeout` the server sends `on_timeout` (e.g. 200 with "no change", or 504).
  static std::shared_ptr<ResponseWriter> Create(std::chrono::milliseconds timeout, Response on_timeout);

  // Delivers the response. Returns false (and does nothing) when a response was already chosen:
  // completed before, timed out, or the server is shutting down.
  bool Complete(Response response);
  bool Done() const;

  // Server side. Attach registers the wake-up the server needs (called under this object's lock,
  // so it must only enqueue work). Detach guarantees wake is never called again.
  void Attach(std::function<void()> wake);
  void Detach();
  std::optional<Response> TakeIfDone();
  std::chrono::milliseconds timeout() const { return timeout_; }
  // Completes with the timeout response; false if already done.
  bool CompleteWithTimeout();

  ResponseWriter(std::chrono::milliseconds timeout, Response on_timeout);

 private:
  const std::chrono::milliseconds timeout_;

  // Guarded by mu_.
  mutable std::mutex mu_;
  Response on_timeout_;
  std::optional<Response> response_;
  bool done_ = false;
  std::function<void()> wake_;
};

// One Server-Sent Events stream (text/event-stream) to one client.
class SseStream {
 public:
  static std::shared_ptr<SseStream> Create();

  // Queues one event. Multi-line data becomes several "data:" lines; CR/LF in `event` and `id`
  // are dropped; an empty `id` sends no "id:" field (a client resumes with Last-Event-ID).
  // Returns false when the stream is closed (by Close(), by the server, or the client left).
  bool Send(std::string_view event, std::string_view data, std::string_view id = {});
  // Queues a comment line (": text"), which clients ignore; useful as an application heartbeat.
  bool SendComment(std::string_view text);
  // Ends the stream after the queued events are written. Idempotent.
  void Close();
  bool Closed() const;
  // True once the server saw the client disconnect.
  bool ClientGone() const;
  // Called once, on a server thread, when the stream ends for any reason; if it already ended,
  // runs at once on the caller's thread.
  void OnClose(std::function<void()> callback);

  // Server side.
  void Attach(std::function<void()> wake);
  void Detach();
  // Moves queued bytes into `out`; returns true when the stream is closed (no more will come).
  bool Drain(std::string& out);
  // Marks the stream finished and runs the OnClose callback (once).
  void Finish(bool client_gone);

 private:
  bool Enqueue(std::string frame);

  // Guarded by mu_.
  mutable std::mutex mu_;
  std::string queued_;
  bool closed_ = false;
  bool client_gone_ = false;
  bool finished_ = false;
  std::function<void()> wake_;
  std::function<void()> on_close_;
};

// Formats one SSE event frame ("id: n\nevent: x\ndata: y\n\n"; no id line for an empty id).
std::string FormatSseEvent(std::string_view event, std::string_view data, std::string_view id = {});

struct SseEvent {
  std::string event;  // "message" when the frame named none
  std::string data;   // "data:" lines joined by '\n'
  std::string id;
};

// Incremental text/event-stream parser (the client side). Feed bytes as they arrive; complete
// events are returned in order. Lines end in LF, CRLF or CR; comments and unknown fields are
// skipped. A line longer than kMaxLineBytes is an error (kResourceExhausted).
class SseParser {
 public:
  static constexpr std::size_t kMaxLineBytes = 1 << 20;
  Result<std::vector<SseEvent>> Feed(std::string_view bytes);

 private:
  void Line(std::string_view line, std::vector<SseEvent>& out);

  std::string line_;
  bool last_was_cr_ = false;
  SseEvent current_;
  bool has_data_ = false;
};

}  // namespace gpuslice::net
