// Test helpers shared by the store tests: the harnesses the contract suite is
// typed over. Test-only.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/temp_dir_testing.h"
#include "store/memory_store.h"
#include "store/sqlite_store.h"

namespace gpuslice::store {

using gpuslice::TempDir;  // common/temp_dir_testing.h

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
