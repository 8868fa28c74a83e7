// Clock: the one seam through which gpuslice reads time (STYLE.md §2).
//
// Wall time (for timestamps people read and that are stored) and monotonic time (for
// durations, timeouts and backoff) are separate calls, as they are separate clocks in the OS.
// RealClock reads the OS; FakeClock is advanced by hand (tests) or by the simulator's event
// loop. Pure layers (mig, sched) never read a clock: they are handed `now`.
//
// Thread-safety: RealClock is safe from any thread. FakeClock is safe from any thread too (its
// state is atomic), but advancing it concurrently with readers gives no ordering guarantees
// beyond "monotonic never goes backwards".
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace gpuslice {

class Clock {
 public:
  using WallTime = std::chrono::system_clock::time_point;
  using MonoTime = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  virtual WallTime WallNow() const = 0;
  virtual MonoTime MonoNow() const = 0;
};

class RealClock final : public Clock {
 public:
  WallTime WallNow() const override { return std::chrono::system_clock::now(); }
  MonoTime MonoNow() const override { return std::chrono::steady_clock::now(); }
};

// Starts at the given wall time (default: 2026-01-01T00:00:00Z) with monotonic time zero, and
// moves only when told. Advance() moves both clocks; SetWall() moves only wall time (it may go
// backwards, as a real wall clock may after an NTP step).
class FakeClock final : public Clock {
 public:
  static constexpr std::int64_t kDefaultStartUnixMs = 1767225600000;  // 2026-01-01T00:00:00Z

  explicit FakeClock(std::int64_t start_unix_ms = kDefaultStartUnixMs)
      : wall_ns_(start_unix_ms * 1'000'000) {}

  WallTime WallNow() const override {
    return WallTime(std::chrono::duration_cast<WallTime::duration>(
        std::chrono::nanoseconds(wall_ns_.load(std::memory_order_acquire))));
  }
  MonoTime MonoNow() const override {
    return MonoTime(std::chrono::nanoseconds(mono_ns_.load(std::memory_order_acquire)));
  }

  // Moves both clocks forward by `d` (negative durations are ignored: time does not go back).
  void Advance(std::chrono::nanoseconds d) {
    if (d.count() <= 0) return;
    mono_ns_.fetch_add(d.count(), std::memory_order_acq_rel);
    wall_ns_.fetch_add(d.count(), std::memory_order_acq_rel);
  }
  void SetWall(std::int64_t unix_ms) { wall_ns_.store(unix_ms * 1'000'000, std::memory_order_release); }

 private:
  std::atomic<std::int64_t> wall_ns_;  // nanoseconds since the Unix epoch
  std::atomic<std::int64_t> mono_ns_{0};
};

}  // namespace gpuslice
