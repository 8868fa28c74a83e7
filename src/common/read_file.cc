#include "common/read_file.h"

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

}  // namespace gpuslice
