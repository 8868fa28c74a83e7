#include "common/read_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

namespace gpuslice {

Result<std::string> ReadFile(const std::string& path, std::size_t max_bytes) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Fail(ErrorCode::kInvalidArgument, "cannot read {}: it is a directory", path);
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    const int e = errno;
    return Fail(e == ENOENT   ? ErrorCode::kNotFound
                : e == EACCES ? ErrorCode::kPermissionDenied
                              : ErrorCode::kInvalidArgument,
                "cannot read {}: {}", path, std::strerror(e));
  }
  std::string text;
  char buf[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) {
    if (text.size() + n > max_bytes) {
      return Fail(ErrorCode::kInvalidArgument, "cannot read {}: it is larger than {} bytes", path, max_bytes);
    }
    text.append(buf, n);
  }
  if (std::ferror(f.get())) return Fail(ErrorCode::kInvalidArgument, "cannot read {}: read error", path);
  return text;
}

Result<std::string> ReadAt(int fd, const std::string& path, std::uint64_t offset, std::size_t length) {
  std::string out(length, '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(ErrorCode::kUnavailable, "{}: {}", path, std::strerror(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

}  // namespace gpuslice
