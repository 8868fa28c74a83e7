// Test helpers shared by the store tests: a temp dir and the harnesses the contract suite is
// typed over. Test-only.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/memory_store.h"
#include "store/sqlite_store.h"

namespace gpuslice::store {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gpuslice-store-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct MemoryHarness {
  std::unique_ptr<StateStore> Open() { return std::make_unique<MemoryStore>(); }
};

struct SqliteHarness {
  TempDir dir;
  std::unique_ptr<StateStore> Open() {
    SqliteOptions o;
    o.data_dir = dir.path();
    auto s = SqliteStore::Open(o);
    if (!s) return nullptr;
    return std::move(*s);
  }
};

inline JobRecord Job(uint64_t id, std::string team = "ml", std::string state = "pending") {
  return JobRecord{id, std::move(team), std::move(state), fmt::format(R"({{"id":{}}})", id),
                   static_cast<int64_t>(1000 + id)};
}

}  // namespace gpuslice::store
