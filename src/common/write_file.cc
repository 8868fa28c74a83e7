#include "common/write_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace gpuslice {
namespace {

tl::unexpected<Error> Errno(std::string_view what, const std::string& path, int err) {
  return Fail(ErrorCode::kUnavailable, "{} {}: {}", what, path, std::strerror(err));
}

}  // namespace

Result<void> WriteAll(int fd, const std::string& path, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("cannot write", path, n < 0 ? errno : EIO);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> WriteFileAtomically(const std::string& path, std::string_view data, mode_t mode) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Errno("cannot create", tmp, errno);
  Result<void> written = WriteAll(fd, tmp, data);
  if (written && ::fsync(fd) != 0) written = Errno("cannot sync", tmp, errno);
  ::close(fd);
  if (written && ::rename(tmp.c_str(), path.c_str()) != 0) written = Errno("cannot rename onto", path, errno);
  if (!written) {
    ::unlink(tmp.c_str());
    return written;
  }
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    (void)::fsync(dfd);  // durability of the rename; best effort
    ::close(dfd);
  }
  return {};
}

}  // namespace gpuslice
