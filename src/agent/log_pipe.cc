#include "agent/log_pipe.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace gpuslice::agent {
namespace {

constexpr int kPipeBytes = 1 << 20;

tl::unexpected<Error> Errno(std::string_view what, const std::string& path) {
  return Fail(ErrorCode::kUnavailable, "{} {}: {}", what, path, std::strerror(errno));
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) Reset(o.Release());
  return *this;
}

int UniqueFd::Release() {
  return std::exchange(fd_, -1);
}

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<RotatingLog> RotatingLog::Open(std::string path, LogRotation rotation) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!fd.valid()) return Errno("cannot open log", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Errno("cannot stat log", path);
  return RotatingLog(std::move(path), rotation, std::move(fd), st.st_size);
}

Result<void> RotatingLog::Rotate() {
  // Shift <path>.<k-1> -> <path>.<k> from the oldest down; the oldest falls off.
  for (int k = rotation_.keep; k >= 1; --k) {
    const std::string from = k == 1 ? path_ : path_ + "." + std::to_string(k - 1);
    const std::string to = path_ + "." + std::to_string(k);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) return Errno("cannot rotate log", from);
  }
  if (rotation_.keep <= 0 && ::unlink(path_.c_str()) != 0 && errno != ENOENT) {
    return Errno("cannot truncate log", path_);
  }
  UniqueFd fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0640));
  if (!fd.valid()) return Errno("cannot open log", path_);
  fd_ = std::move(fd);
  size_ = 0;
  return {};
}

// Writes `data` in pieces that fit the current file, rotating when it is full. A piece ends at
// its last newline where it has one, so lines stay whole unless one is longer than a file.
Result<void> RotatingLog::Append(std::string_view data) {
  const std::int64_t max = std::max<std::int64_t>(rotation_.max_bytes, 1);
  while (!data.empty()) {
    if (size_ >= max) {
      if (auto r = Rotate(); !r) return r;
    }
    std::size_t take = std::min(data.size(), static_cast<std::size_t>(max - size_));
    if (take < data.size()) {
      const std::size_t nl = data.substr(0, take).rfind('\n');
      if (nl != std::string_view::npos) {
        take = nl + 1;
      } else if (size_ > 0) {  // the line fits better in a fresh file
        if (auto r = Rotate(); !r) return r;
        continue;
      }
    }
    if (auto r = WriteAll(data.substr(0, take)); !r) return r;
    data.remove_prefix(take);
  }
  return {};
}

Result<void> RotatingLog::WriteAll(std::string_view data) {
  while (!data.empty()) {
    const ssize_t w = ::write(fd_.get(), data.data(), data.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write log", path_);
    }
    data.remove_prefix(static_cast<std::size_t>(w));
    size_ += w;
  }
  return {};
}

Result<LogPipe> LogPipe::Create(std::string path, ChildLogEnds* child_ends) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("cannot remove stale pipe", path);
  if (::mkfifo(path.c_str(), 0600) != 0) return Errno("cannot make pipe", path);
  // The read end first: opening a FIFO for writing without a reader would block or fail.
  UniqueFd read_end(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!read_end.valid()) return Errno("cannot open pipe", path);
  UniqueFd write_end(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  UniqueFd keeper(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!write_end.valid() || !keeper.valid()) return Errno("cannot open pipe", path);
  (void)::fcntl(read_end.get(), F_SETPIPE_SZ, kPipeBytes);  // best effort: the default is 64 KiB
  child_ends->write_end = std::move(write_end);
  child_ends->keeper = std::move(keeper);
  return LogPipe(std::move(path), std::move(read_end));
}

Result<LogPipe> LogPipe::Reopen(std::string path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Fail(ErrorCode::kNotFound, "pipe {} is gone", path);
    return Errno("cannot open pipe", path);
  }
  return LogPipe(std::move(path), std::move(fd));
}

Result<bool> LogPipe::Pump(RotatingLog& log, std::size_t budget) {
  char buf[16384];
  while (budget > 0 && fd_.valid()) {
    const ssize_t n = ::read(fd_.get(), buf, std::min(sizeof buf, budget));
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      return Errno("cannot read pipe", path_);
    }
    if (auto r = log.Append(std::string_view(buf, static_cast<std::size_t>(n))); !r) return Fail(r.error());
    budget -= static_cast<std::size_t>(n);
  }
  return false;
}

void LogPipe::Remove() {
  fd_.Reset();
  if (!path_.empty()) ::unlink(path_.c_str());
}

}  // namespace gpuslice::agent
