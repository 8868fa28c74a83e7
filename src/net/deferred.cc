#include "net/deferred.h"

#include <utility>

namespace gpuslice::net {

// ---- ResponseWriter ----

ResponseWriter::ResponseWriter(std::chrono::milliseconds timeout, Response on_timeout)
    : timeout_(timeout), on_timeout_(std::move(on_timeout)) {}

std::shared_ptr<ResponseWriter> ResponseWriter::Create(std::chrono::milliseconds timeout,
                                                       Response on_timeout) {
  return std::make_shared<ResponseWriter>(timeout, std::move(on_timeout));
}

bool ResponseWriter::Complete(Response response) {
  std::lock_guard lock(mu_);
  if (done_) return false;
  done_ = true;
  response_ = std::move(response);
  // Waking under the lock is what lets Detach() promise no later wake: wake only enqueues work.
  if (wake_) wake_();
  return true;
}

bool ResponseWriter::CompleteWithTimeout() {
  std::lock_guard lock(mu_);
  if (done_) return false;
  done_ = true;
  response_ = on_timeout_;
  return true;
}

bool ResponseWriter::Done() const {
  std::lock_guard lock(mu_);
  return done_;
}

void ResponseWriter::Attach(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  wake_ = std::move(wake);
}

void ResponseWriter::Detach() {
  std::lock_guard lock(mu_);
  wake_ = nullptr;
}

std::optional<Response> ResponseWriter::TakeIfDone() {
  std::lock_guard lock(mu_);
  if (!done_ || !response_) return std::nullopt;
  std::optional<Response> out = std::move(response_);
  response_.reset();
  return out;
}

// ---- SseStream ----

std::shared_ptr<SseStream> SseStream::Create() {
  return std::make_shared<SseStream>();
}

std::string FormatSseEvent(std::string_view event, std::string_view data, std::string_view id) {
  std::string out;
  out.reserve(event.size() + data.size() + id.size() + 24);
  if (!id.empty()) {
    out += "id: ";
    for (char c : id) {
      if (c != '\n' && c != '\r' && c != '\0') out.push_back(c);
    }
    out += '\n';
  }
  if (!event.empty()) {
    out += "event: ";
    for (char c : event) {
      if (c != '\n' && c != '\r') out.push_back(c);
    }
    out += '\n';
  }
  // Every line of data, including an empty last one, gets its own "data:" field.
  std::size_t start = 0;
  while (true) {
    const std::size_t nl = data.find('\n', start);
    std::string_view line =
        data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out += "data: ";
    out += line;
    out += '\n';
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  out += '\n';
  return out;
}

bool SseStream::Enqueue(std::string frame) {
  std::lock_guard lock(mu_);
  if (closed_) return false;
  queued_ += frame;
  if (wake_) wake_();
  return true;
}

bool SseStream::Send(std::string_view event, std::string_view data, std::string_view id) {
  return Enqueue(FormatSseEvent(event, data, id));
}

bool SseStream::SendComment(std::string_view text) {
  std::string frame = ": ";
  for (char c : text) {
    if (c != '\n' && c != '\r') frame.push_back(c);
  }
  frame += "\n\n";
  return Enqueue(std::move(frame));
}

void SseStream::Close() {
  std::lock_guard lock(mu_);
  if (closed_) return;
  closed_ = true;
  if (wake_) wake_();
}

bool SseStream::Closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

bool SseStream::ClientGone() const {
  std::lock_guard lock(mu_);
  return client_gone_;
}

void SseStream::OnClose(std::function<void()> callback) {
  {
    std::lock_guard lock(mu_);
    if (!finished_) {
      on_close_ = std::move(callback);
      return;
    }
  }
  if (callback) callback();
}

void SseStream::Attach(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  wake_ = std::move(wake);
}

void SseStream::Detach() {
  std::lock_guard lock(mu_);
  wake_ = nullptr;
}

bool SseStream::Drain(std::string& out) {
  std::lock_guard lock(mu_);
  out.swap(queued_);
  queued_.clear();
  return closed_;
}

void SseStream::Finish(bool client_gone) {
  std::function<void()> callback;
  {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    closed_ = true;
    client_gone_ = client_gone_ || client_gone;
    queued_.clear();
    wake_ = nullptr;
    callback = std::move(on_close_);
  }
  if (callback) callback();
}

// ---- SseParser ----

void SseParser::Line(std::string_view line, std::vector<SseEvent>& out) {
  if (line.empty()) {
    if (has_data_) {
      if (current_.event.empty()) current_.event = "message";
      out.push_back(std::move(current_));
    }
    current_ = SseEvent{};
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment / keep-alive
  const std::size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "event") {
    current_.event = std::string(value);
  } else if (field == "data") {
    if (has_data_) current_.data += '\n';
    current_.data += value;
    has_data_ = true;
  } else if (field == "id") {
    current_.id = std::string(value);
  }
}

Result<std::vector<SseEvent>> SseParser::Feed(std::string_view bytes) {
  std::vector<SseEvent> out;
  for (char c : bytes) {
    if (c == '\n' && last_was_cr_) {  // the LF of a CRLF already ended the line
      last_was_cr_ = false;
      continue;
    }
    last_was_cr_ = (c == '\r');
    if (c == '\n' || c == '\r') {
      Line(line_, out);
      line_.clear();
      continue;
    }
    if (line_.size() >= kMaxLineBytes) {
      return Fail(ErrorCode::kResourceExhausted, "SSE line longer than {} bytes", kMaxLineBytes);
    }
    line_.push_back(c);
  }
  return out;
}

}  // namespace gpuslice::net
