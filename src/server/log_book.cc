#include "server/log_book.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/read_file.h"
#include "common/write_file.h"

namespace gpuslice::server {

Result<std::unique_ptr<LogBook>> LogBook::Open(std::string dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "log directory {}: {}", dir, ec.message());
  return std::unique_ptr<LogBook>(new LogBook(std::move(dir)));
}

std::string LogBook::PathOf(std::uint64_t job) const {
  return fmt::format("{}/{}.log", dir_, job);
}

std::string LogBook::RunPathOf(std::uint64_t job) const {
  return fmt::format("{}/{}.run", dir_, job);
}

std::uint64_t LogBook::SizeLocked(std::uint64_t job) const {
  if (const auto it = sizes_.find(job); it != sizes_.end()) return it->second;
  struct stat st {};
  const std::uint64_t size =
      ::stat(PathOf(job).c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : std::uint64_t{0};
  sizes_[job] = size;
  return size;
}

std::uint64_t LogBook::RunBaseLocked(std::uint64_t job) const {
  if (const auto it = run_bases_.find(job); it != run_bases_.end()) return it->second;
  std::uint64_t base = 0;
  if (FILE* f = std::fopen(RunPathOf(job).c_str(), "re")) {
    if (std::fscanf(f, "%" SCNu64, &base) != 1) base = 0;
    std::fclose(f);
  }
  base = std::min(base, SizeLocked(job));
  run_bases_[job] = base;
  return base;
}

Result<void> LogBook::BeginRun(std::uint64_t job) {
  std::lock_guard lock(mu_);
  const std::uint64_t base = SizeLocked(job);
  if (base == RunBaseLocked(job)) return {};  // the run so far has no output: it starts here anyway
  if (Result<void> w = WriteFileAtomically(RunPathOf(job), fmt::format("{}\n", base), 0640); !w) return w;
  run_bases_[job] = base;
  return {};
}

std::uint64_t LogBook::RunSize(std::uint64_t job) const {
  std::lock_guard lock(mu_);
  return SizeLocked(job) - RunBaseLocked(job);
}

std::uint64_t LogBook::Size(std::uint64_t job) const {
  std::lock_guard lock(mu_);
  return SizeLocked(job);
}

Result<std::uint64_t> LogBook::Append(std::uint64_t job, std::uint64_t offset, std::string_view data) {
  std::lock_guard lock(mu_);
  const std::uint64_t base = RunBaseLocked(job);
  const std::uint64_t size = SizeLocked(job);
  const std::uint64_t run = size - base;
  if (offset > run) {
    return Fail(ErrorCode::kFailedPrecondition,
                "job {}: chunk at offset {} leaves a gap; the run has {} bytes", job, offset, run);
  }
  const std::uint64_t have = run - offset;  // bytes of this chunk the book has already
  if (have >= data.size()) return run;
  data.remove_prefix(static_cast<std::size_t>(have));
  const std::string path = PathOf(job);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return Fail(ErrorCode::kUnavailable, "{}: {}", path, std::strerror(errno));
  if (Result<void> w = WriteAll(fd, path, data); !w) {
    ::close(fd);
    sizes_.erase(job);  // a partial write: the file's size is the truth
    return Fail(w.error());
  }
  ::close(fd);
  sizes_[job] = size + data.size();
  return run + data.size();
}

Result<LogBook::Chunk> LogBook::Read(std::uint64_t job, std::uint64_t offset, std::size_t max) const {
  std::lock_guard lock(mu_);
  Chunk out;
  out.size = SizeLocked(job);
  out.next = std::min(offset, out.size);
  if (offset >= out.size || max == 0) return out;
  const std::string path = PathOf(job);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(ErrorCode::kUnavailable, "{}: {}", path, std::strerror(errno));
  Result<std::string> data =
      ReadAt(fd, path, offset, static_cast<std::size_t>(std::min<std::uint64_t>(max, out.size - offset)));
  ::close(fd);
  if (!data) return Fail(data.error());
  out.data = std::move(*data);
  out.next = offset + out.data.size();
  return out;
}

}  // namespace gpuslice::server
