#include "agent/log_tail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/read_file.h"

namespace gpuslice::agent {
namespace {

// Reads up to `max` bytes of `path` from `offset` when its inode is `inode` (0: any). Sets
// `*inode_out` to the file's inode; a missing file is no bytes and inode 0.
Result<std::string> ReadIfSame(const std::string& path, std::uint64_t inode, std::uint64_t offset,
                               std::size_t max, std::uint64_t* inode_out) {
  *inode_out = 0;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::string();
    return Fail(ErrorCode::kUnavailable, "{}: {}", path, std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Fail(ErrorCode::kUnavailable, "{}: {}", path, std::strerror(err));
  }
  *inode_out = static_cast<std::uint64_t>(st.st_ino);
  std::string out;
  const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
  if ((inode != 0 && *inode_out != inode) || offset >= size) {
    ::close(fd);
    return out;
  }
  Result<std::string> data = gpuslice::ReadAt(
      fd, path, offset, static_cast<std::size_t>(std::min<std::uint64_t>(max, size - offset)));
  ::close(fd);
  return data;
}

}  // namespace

Result<std::string> LogTail::ReadNew(std::size_t max) {
  std::uint64_t inode = 0;
  Result<std::string> data = ReadIfSame(path_, inode_, position_, max, &inode);
  if (!data) return data;
  if (inode_ == 0 || inode == inode_) {  // the same file (or the first one we see)
    if (inode_ == 0 && inode != 0) inode_ = inode;
    position_ += data->size();
    return data;
  }
  // <path> is another file now: ours was rotated. Finish it under its new name first.
  std::uint64_t old_inode = 0;
  Result<std::string> rest = ReadIfSame(path_ + ".1", inode_, position_, max, &old_inode);
  if (!rest) return rest;
  if (old_inode == inode_ && !rest->empty()) {
    position_ += rest->size();
    return rest;
  }
  if (old_inode != inode_) ++dropped_;  // rotated away twice: what was in between is out of reach
  inode_ = inode;
  position_ = 0;
  return ReadNew(max);
}

void LogTail::Seek(std::uint64_t position) {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    inode_ = 0;
    position_ = 0;
    return;
  }
  inode_ = static_cast<std::uint64_t>(st.st_ino);
  position_ = std::min<std::uint64_t>(position, static_cast<std::uint64_t>(st.st_size));
}

}  // namespace gpuslice::agent
